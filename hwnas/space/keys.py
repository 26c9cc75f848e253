"""Typed latency-table keys: one per distinct layer configuration a network is made of."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import UsageError

# Layer kinds, named as in the ProxylessNAS / Once-for-All lookup tables.
STEM = "Conv"
MBCONV = "expanded_conv"
HEAD_CONV = "Conv_1"
POOL = "AvgPool2D"
LOGITS = "Logits"
LAYER_OPS = (STEM, MBCONV, HEAD_CONV, POOL, LOGITS)


def mid_channels(in_ch: int, expand: int) -> int:
    """Width of an MBConv's expanded (depthwise) layer, as ProxylessNAS computes it."""
    return int(round(in_ch * expand))


@dataclass(frozen=True, order=True)
class LayerKey:
    """A layer configuration: kind, input/output shape (square maps), and MBConv parameters."""

    op: str
    in_hw: int
    in_ch: int
    out_hw: int
    out_ch: int
    kernel: int = 0
    expand: int = 0
    stride: int = 1
    idskip: bool = False

    def __post_init__(self) -> None:
        if self.op not in LAYER_OPS:
            raise UsageError(f"unknown layer op {self.op!r}; known: {', '.join(LAYER_OPS)}")

    @property
    def mid_ch(self) -> int:
        return mid_channels(self.in_ch, self.expand) if self.op == MBCONV else 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.op == LOGITS:
            return (1, self.in_ch)
        return (1, self.in_ch, self.in_hw, self.in_hw)

    def macs(self) -> int:
        """Multiply-accumulates of one forward pass (batch 1), BatchNorm and activations excluded."""
        o2 = self.out_hw * self.out_hw
        if self.op == STEM:
            return self.kernel * self.kernel * self.in_ch * self.out_ch * o2
        if self.op == MBCONV:
            mid, total = self.mid_ch, 0
            if self.expand != 1:
                total += self.in_ch * mid * self.in_hw * self.in_hw
            total += self.kernel * self.kernel * mid * o2
            total += mid * self.out_ch * o2
            return total
        if self.op == HEAD_CONV:
            return self.in_ch * self.out_ch * o2
        if self.op == LOGITS:
            return self.in_ch * self.out_ch
        return 0  # pooling

    def params(self) -> int:
        """Trainable parameters (conv/linear weights and biases, BatchNorm affine)."""
        if self.op == STEM:
            return self.kernel * self.kernel * self.in_ch * self.out_ch + 2 * self.out_ch
        if self.op == MBCONV:
            mid, total = self.mid_ch, 0
            if self.expand != 1:
                total += self.in_ch * mid + 2 * mid
            total += self.kernel * self.kernel * mid + 2 * mid
            total += mid * self.out_ch + 2 * self.out_ch
            return total
        if self.op == HEAD_CONV:
            return self.in_ch * self.out_ch + 2 * self.out_ch
        if self.op == LOGITS:
            return self.in_ch * self.out_ch + self.out_ch
        return 0

    def activation_elems(self) -> int:
        """Elements read and written by the layer's activations: a memory-traffic feature."""
        i = self.in_ch * self.in_hw * self.in_hw
        o = self.out_ch * self.out_hw * self.out_hw
        if self.op == MBCONV:
            mid = self.mid_ch
            return i + o + mid * (self.in_hw * self.in_hw + 2 * self.out_hw * self.out_hw)
        return i + o

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def info(self) -> dict[str, Any]:
        """The descriptive columns a table row carries beside the key."""
        return {"label": self.label, "mid_ch": self.mid_ch, "macs": self.macs(), "params": self.params()}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> LayerKey:
        kw = {}
        for f in fields(cls):
            v = row[f.name]
            kw[f.name] = str(v) if f.name == "op" else (bool(int(v)) if f.name == "idskip" else int(v))
        return cls(**kw)

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``expanded_conv 56x56x24->56x56x24 k5e3``."""
        s = f"{self.op} {self.in_hw}x{self.in_hw}x{self.in_ch}->{self.out_hw}x{self.out_hw}x{self.out_ch}"
        if self.op == MBCONV:
            s += f" k{self.kernel}e{self.expand} s{self.stride}"
        return s


KEY_COLUMNS = tuple(f.name for f in fields(LayerKey))
