"""Typed latency-table keys: one per distinct layer configuration a network is made of."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

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


# ---- model spaces: a candidate module at one input shape ----------------------------------------------------


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(v)) for v in shape)


def parse_shape(text: str | tuple | list) -> tuple[int, ...]:
    if isinstance(text, (tuple, list)):
        return tuple(int(v) for v in text)
    try:
        return tuple(int(v) for v in str(text).replace(",", "x").split("x") if v.strip())
    except ValueError:
        raise UsageError(f"input shape {text!r} is not like 1x3x32x32") from None


@dataclass(frozen=True, order=True)
class ModuleKey:
    """A candidate module at one input shape: the latency-table key of model spaces."""

    fingerprint: str
    input_shape: str  # e.g. "1x32x26x26" (batch 1)
    op: str = "module"
    label: str = ""
    macs_: int = 0
    params_: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return parse_shape(self.input_shape)

    def macs(self) -> int:
        return self.macs_

    def params(self) -> int:
        return self.params_

    def activation_elems(self) -> int:
        return int(np.prod(self.shape))

    def ident(self) -> tuple[str, str]:
        return self.fingerprint, self.input_shape

    def __hash__(self) -> int:
        return hash(self.ident())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModuleKey) and self.ident() == other.ident()

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "input_shape": self.input_shape}

    def info(self) -> dict[str, Any]:
        return {"op": self.op, "label": self.label, "macs": self.macs_, "params": self.params_}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ModuleKey:
        return cls(str(row["fingerprint"]), str(row["input_shape"]), label=str(row.get("label", "") or ""),
                   macs_=int(row.get("macs", 0) or 0), params_=int(row.get("params", 0) or 0))


MODULE_KEY_COLUMNS = ("fingerprint", "input_shape")
