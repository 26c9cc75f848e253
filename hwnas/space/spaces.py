"""Search spaces as data: the ProxylessNAS MobileNetV2 backbone, its CIFAR-style variant and a tiny test space."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from ..errors import UnknownNameError, UsageError
from .keys import HEAD_CONV, LOGITS, MBCONV, POOL, STEM, LayerKey
from .spec import ArchError, ArchSpec, BlockSpec


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10% (MobileNetV2 rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def conv_out(hw: int, stride: int) -> int:
    """Output size of a 'same'-padded convolution with odd kernel."""
    return (hw - 1) // stride + 1


@dataclass(frozen=True)
class StageSpec:
    width: int
    depth: int
    stride: int


@dataclass(frozen=True)
class BlockPosition:
    """Where a searchable block sits and which choices are allowed there."""

    index: int
    stage: int
    in_ch: int
    out_ch: int
    in_hw: int
    out_hw: int
    stride: int
    choices: tuple[BlockSpec, ...]

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_ch == self.out_ch

    def key(self, block: BlockSpec) -> LayerKey | None:
        """The table key of ``block`` at this position (``None`` for ``zero``, which costs nothing)."""
        if block.is_zero:
            return None
        return LayerKey(MBCONV, self.in_hw, self.in_ch, self.out_hw, self.out_ch, block.kernel, block.expand,
                        self.stride, self.residual)


@dataclass(frozen=True)
class SearchSpace:
    """A MobileNetV2-style backbone with searchable MBConv blocks.

    Channel counts given here are before the width multiplier; the scaled values are what positions and
    keys report.
    """

    name: str
    resolution: int
    stages: tuple[StageSpec, ...]
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (3, 6)
    allow_zero: bool = True
    num_classes: int = 1000
    in_channels: int = 3
    stem_channels: int = 32
    stem_stride: int = 2
    first_channels: int = 16
    head_channels: int = 1280
    width_mult: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    kind: ClassVar[str] = "mbconv"

    # ---- derived structure -------------------------------------------------------------------------------
    @property
    def candidates(self) -> tuple[BlockSpec, ...]:
        return tuple(BlockSpec(k, e) for k in self.kernels for e in self.expands)

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(s.depth for s in self.stages)

    @property
    def num_blocks(self) -> int:
        return sum(self.depths)

    def _ch(self, c: int) -> int:
        return make_divisible(c * self.width_mult)

    @property
    def stem_out(self) -> int:
        return self._ch(self.stem_channels)

    @property
    def first_out(self) -> int:
        return self._ch(self.first_channels)

    @property
    def head_out(self) -> int:
        return make_divisible(self.head_channels * max(1.0, self.width_mult))

    @property
    def stem_hw(self) -> int:
        return conv_out(self.resolution, self.stem_stride)

    def positions(self) -> tuple[BlockPosition, ...]:
        return self._positions

    @cached_property
    def _positions(self) -> tuple[BlockPosition, ...]:
        out, idx = [], 0
        in_ch, hw = self.first_out, self.stem_hw
        for si, st in enumerate(self.stages):
            width = self._ch(st.width)
            for d in range(st.depth):
                stride = st.stride if d == 0 else 1
                out_hw = conv_out(hw, stride)
                choices = self.candidates
                if self.allow_zero and stride == 1 and in_ch == width:
                    choices = choices + (BlockSpec.zero(),)
                out.append(BlockPosition(idx, si, in_ch, width, hw, out_hw, stride, choices))
                idx += 1
                in_ch, hw = width, out_hw
        return tuple(out)

    # ---- the decision interface every space offers (shared with hwnas.space.model_space.ModelSpace) ----------
    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.in_channels, self.resolution, self.resolution)

    @property
    def num_decisions(self) -> int:
        return self.num_blocks

    def choice_labels(self) -> list[tuple[str, ...]]:
        """Per decision (searchable block), the labels of its options (arch-string tokens)."""
        return [tuple(c.token for c in p.choices) for p in self.positions()]

    def decision_names(self) -> list[str]:
        return [f"block{p.index}" for p in self.positions()]

    def decision_groups(self) -> list[int]:
        """The calibration group of every decision: its stage."""
        return [p.stage for p in self.positions()]

    def kinds(self) -> tuple[str, ...]:
        """The candidate kinds the calibrated predictor scales separately: every MBConv candidate."""
        return tuple(c.token for c in self.candidates)

    def choice_kind(self, d: int, option: int) -> int:
        c = self.positions()[d].choices[option]
        return -1 if c.is_zero else self.candidates.index(c)

    def choice_active(self, d: int, option: int) -> bool:
        return not self.positions()[d].choices[option].is_zero

    def choice_keys(self, d: int, option: int) -> tuple[LayerKey, ...]:
        """The table keys one option of one decision adds (none for ``zero``)."""
        pos = self.positions()[d]
        k = pos.key(pos.choices[option])
        return () if k is None else (k,)

    def indices(self, arch: ArchSpec) -> list[int]:
        self.validate(arch)
        return [p.choices.index(b) for p, b in zip(self.positions(), arch.blocks, strict=True)]

    def from_indices(self, indices: list[int] | tuple[int, ...]) -> ArchSpec:
        pos = self.positions()
        if len(indices) != len(pos):
            raise ArchError(f"space {self.name!r} has {len(pos)} blocks, got {len(indices)} choices")
        return ArchSpec.from_blocks([p.choices[int(i)] for p, i in zip(pos, indices, strict=True)], self.depths)

    @property
    def final_hw(self) -> int:
        return self.positions()[-1].out_hw

    def fixed_keys(self) -> tuple[LayerKey, ...]:
        """Layers every network has: stem, the first fixed MBConv, head conv, pooling and classifier."""
        hw, last = self.stem_hw, self.positions()[-1]
        return (
            LayerKey(STEM, self.resolution, self.in_channels, hw, self.stem_out, 3, 0, self.stem_stride, False),
            LayerKey(MBCONV, hw, self.stem_out, hw, self.first_out, 3, 1, 1, self.stem_out == self.first_out),
            LayerKey(HEAD_CONV, last.out_hw, last.out_ch, last.out_hw, self.head_out, 1, 0, 1, False),
            LayerKey(POOL, last.out_hw, self.head_out, 1, self.head_out, 0, 0, 1, False),
            LayerKey(LOGITS, 1, self.head_out, 1, self.num_classes, 0, 0, 1, False),
        )

    def layer_keys(self) -> tuple[LayerKey, ...]:
        """Every distinct layer configuration of the space: the rows of a complete latency table."""
        seen: dict[LayerKey, None] = dict.fromkeys(self.fixed_keys())
        for pos in self.positions():
            for b in pos.choices:
                k = pos.key(b)
                if k is not None:
                    seen.setdefault(k, None)
        return tuple(seen)

    # ---- architectures -----------------------------------------------------------------------------------
    def validate(self, arch: ArchSpec) -> ArchSpec:
        """Raise :class:`ArchError` naming the block and the allowed choices if ``arch`` is not in the space."""
        if arch.depths != self.depths:
            raise ArchError(
                f"space {self.name!r} has {len(self.depths)} stages of depths {list(self.depths)} "
                f"({self.num_blocks} blocks); the architecture has depths {list(arch.depths)} "
                f"({len(arch.blocks)} blocks)"
            )
        for pos, b in zip(self.positions(), arch.blocks, strict=True):
            if b not in pos.choices:
                why = ""
                if b.is_zero:
                    why = (f" ('zero' needs stride 1 and equal in/out channels; this block has stride {pos.stride}, "
                           f"{pos.in_ch}->{pos.out_ch} channels)")
                allowed = ", ".join(c.token for c in pos.choices)
                raise ArchError(f"block {pos.index} (stage {pos.stage}): {b.token!r} is not allowed{why}; "
                                f"allowed: {allowed}")
        return arch

    def parse(self, text: str) -> ArchSpec:
        """Parse and validate an architecture string (or JSON) for this space."""
        text = text.strip()
        arch = ArchSpec.from_json(text) if text.startswith("{") else ArchSpec.from_string(text)
        return self.validate(arch)

    def sample(self, rng: np.random.Generator | int, *, zero_prob: float | None = None) -> ArchSpec:
        """A random architecture. ``zero_prob`` overrides the chance of ``zero`` where it is allowed
        (default: uniform over the allowed choices)."""
        rng = np.random.default_rng(rng)
        blocks = []
        for pos in self.positions():
            ch = pos.choices
            if zero_prob is not None and BlockSpec.zero() in ch:
                if rng.random() < zero_prob:
                    blocks.append(BlockSpec.zero())
                    continue
                ch = tuple(c for c in ch if not c.is_zero)
            blocks.append(ch[int(rng.integers(len(ch)))])
        return ArchSpec.from_blocks(blocks, self.depths)

    def uniform(self, block: BlockSpec | str) -> ArchSpec:
        """Every searchable block set to ``block`` (e.g. the MobileNetV2-like all-k3e6: ``uniform("k3e6")``)."""
        if isinstance(block, str):
            block = BlockSpec.parse(block)
        return self.validate(ArchSpec.from_blocks([block] * self.num_blocks, self.depths))

    def arch_keys(self, arch: ArchSpec) -> list[LayerKey]:
        """The table keys whose latencies LUT-sum adds up for ``arch`` (fixed layers included)."""
        self.validate(arch)
        fixed = self.fixed_keys()
        keys = list(fixed[:2])
        for pos, b in zip(self.positions(), arch.blocks, strict=True):
            k = pos.key(b)
            if k is not None:
                keys.append(k)
        keys.extend(fixed[2:])
        return keys

    def macs(self, arch: ArchSpec) -> int:
        return sum(k.macs() for k in self.arch_keys(arch))

    def params(self, arch: ArchSpec) -> int:
        return sum(k.params() for k in self.arch_keys(arch))

    # ---- persistence -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["stages"] = [list(asdict(s).values()) for s in self.stages]
        d["kernels"], d["expands"] = list(self.kernels), list(self.expands)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "space record") -> SearchSpace:
        """The one reader of a recorded space (table metadata, run config, predictor): every field checked."""
        if not isinstance(d, dict):
            raise UsageError(f"{where}: the space must be a JSON object, not {type(d).__name__}")
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("name", "resolution", "stages") if k not in d]
        unknown = sorted(set(d) - known)
        if missing or unknown:
            raise UsageError(f"{where}: the space record is damaged ("
                             + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                         + ([f"unknown {', '.join(unknown)}"] if unknown else [])) + ")")
        d = dict(d)
        try:
            if not isinstance(d["stages"], list | tuple) or not all(isinstance(st, list | tuple) and len(st) == 3
                                                                     for st in d["stages"]):
                raise TypeError("stages must be [width, depth, stride] triples")
            d["stages"] = tuple(StageSpec(*st) for st in d["stages"])
            for k in ("kernels", "expands"):
                if k in d:
                    if not isinstance(d[k], list | tuple):
                        raise TypeError(f"{k} must be a list")
                    d[k] = tuple(d[k])
            if "extra" in d and not isinstance(d["extra"], dict):
                raise TypeError("extra must be an object")
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: the space record is damaged ({exc})") from None

    def __post_init__(self) -> None:
        def is_int(v: Any, lo: int, hi: int) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool) and lo <= v <= hi

        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append("name must be a non-empty string")
        for k, lo, hi in (("resolution", 1, 8192), ("num_classes", 1, 10**6), ("in_channels", 1, 4096),
                          ("stem_channels", 1, 65536), ("stem_stride", 1, 64), ("first_channels", 1, 65536),
                          ("head_channels", 1, 65536)):
            if not is_int(getattr(self, k), lo, hi):
                problems.append(f"{k} must be an integer from {lo} to {hi}, not {getattr(self, k)!r}")
        if not (isinstance(self.width_mult, int | float) and not isinstance(self.width_mult, bool)
                and 0 < self.width_mult <= 64):
            problems.append(f"width_mult must be a number in (0, 64], not {self.width_mult!r}")
        if not self.kernels or not all(is_int(k, 1, 99) and k % 2 == 1 for k in self.kernels):
            problems.append(f"kernels must be odd integers from 1 to 99 (e.g. 3,5,7), not {list(self.kernels)}")
        if not self.expands or not all(is_int(e, 1, 99) for e in self.expands):
            problems.append(f"expands must be integers from 1 to 99 (e.g. 3,6), not {list(self.expands)}")
        if not self.stages or not all(is_int(st.width, 1, 65536) and is_int(st.depth, 1, 64)
                                      and is_int(st.stride, 1, 8) for st in self.stages):
            problems.append("stages must be a non-empty list of (width >= 1, depth 1-64, stride 1-8)")
        if not isinstance(self.allow_zero, bool):
            problems.append("allow_zero must be true or false")
        if problems:
            raise UsageError(f"invalid search space {self.name!r}: " + "; ".join(problems))


# ---- named spaces --------------------------------------------------------------------------------------------
_MOBILE_STAGES = ((24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))


# The published ProxylessNAS-Mobile network (the official net config). Its first stage is 32 channels wide,
# so the exact network is ``get_space("proxyless-mobile", widths=PUBLISHED_MOBILE_WIDTHS).parse(PUBLISHED_MOBILE)``.
PUBLISHED_MOBILE = ("k5e3-k3e3-zero-zero|k7e3-k3e3-k5e3-k5e3|k7e6-k5e3-k5e3-k5e3|k5e6-k5e3-k5e3-k5e3|"
                    "k7e6-k7e6-k7e3-k7e3|k7e6")
PUBLISHED_MOBILE_WIDTHS = (32, 40, 80, 96, 192, 320)


def proxyless_mobile(*, resolution: int = 224, width_mult: float = 1.0, kernels=(3, 5, 7), expands=(3, 6),
                     num_classes: int = 1000, allow_zero: bool = True, widths=None) -> SearchSpace:
    """The ProxylessNAS mobile space (ImageNet): 21 searchable blocks after a stride-2 stem.

    ``widths`` overrides the six stage widths (24/40/80/96/192/320 by default)."""
    widths = tuple(widths) if widths is not None else tuple(w for w, _, _ in _MOBILE_STAGES)
    if len(widths) != len(_MOBILE_STAGES):
        raise UsageError(f"widths needs {len(_MOBILE_STAGES)} values, got {len(widths)}")
    stages = tuple(StageSpec(w, d, s) for w, (_, d, s) in zip(widths, _MOBILE_STAGES, strict=True))
    return SearchSpace("proxyless-mobile", resolution, stages, tuple(kernels), tuple(expands), allow_zero,
                       num_classes, width_mult=width_mult)


def proxyless_cifar(*, resolution: int = 32, width_mult: float = 0.5, kernels=(3, 5, 7), expands=(3, 6),
                    num_classes: int = 10, allow_zero: bool = True, head_channels: int = 1280) -> SearchSpace:
    """The same 21 blocks for small images: stride-1 stem and two fewer downsamplings (32 -> 4)."""
    stages = tuple(StageSpec(w, d, s) for (w, d, _), s in zip(_MOBILE_STAGES, (1, 2, 2, 1, 2, 1), strict=True))
    return SearchSpace("proxyless-cifar", resolution, stages, tuple(kernels), tuple(expands), allow_zero,
                       num_classes, stem_stride=1, head_channels=head_channels, width_mult=width_mult)


def tiny(*, resolution: int = 16, width_mult: float = 1.0, kernels=(3, 5), expands=(3, 6), num_classes: int = 10,
         allow_zero: bool = True) -> SearchSpace:
    """A four-block space that builds and runs in milliseconds, for tests."""
    stages = (StageSpec(16, 2, 2), StageSpec(24, 2, 2))
    return SearchSpace("tiny", resolution, stages, tuple(kernels), tuple(expands), allow_zero, num_classes,
                       stem_channels=8, stem_stride=1, first_channels=8, head_channels=64, width_mult=width_mult)


_SPACES: dict[str, Callable[..., SearchSpace]] = {
    "proxyless-mobile": proxyless_mobile,
    "proxyless-cifar": proxyless_cifar,
    "tiny": tiny,
}


def list_spaces(pattern: str = "*") -> list[str]:
    return sorted(n for n in _SPACES if fnmatch.fnmatch(n, pattern))


def get_space(name: str, **overrides: Any) -> SearchSpace:
    """Create a named space; keyword overrides (resolution, width_mult, kernels, expands, ...) are passed on."""
    if name not in _SPACES:
        raise UnknownNameError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return _SPACES[name](**overrides)
    except TypeError as exc:
        raise UsageError(f"space {name!r}: {exc}") from None


def register_space(name: str, factory: Callable[..., SearchSpace]) -> None:
    _SPACES[name] = factory
