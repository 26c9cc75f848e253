"""Architectures as data: one candidate choice per searchable block, grouped by stage.

The compact string form has one token per block (``k5e3``, ``zero``), blocks joined by ``-`` and stages
by ``|``, e.g. ``k3e3-zero-zero-zero|k5e6-k3e3-zero-zero|...``. It parses back exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError


class ArchError(UsageError):
    """A malformed or invalid architecture (string, JSON or block choice)."""


MAX_ARCH_CHARS = 16384  # ~3,000 blocks; longer text is not an architecture (and would be slow to parse)


_TOKEN = re.compile(r"^k([0-9]{1,3})e([0-9]{1,3})$", re.ASCII)  # ASCII digits only: \d also matches "٣"


@dataclass(frozen=True, order=True)
class BlockSpec:
    """The choice for one searchable block: an MBConv (kernel, expand ratio) or ``zero`` (skip)."""

    kernel: int = 0
    expand: int = 0

    @property
    def is_zero(self) -> bool:
        return self.kernel == 0

    @property
    def token(self) -> str:
        return "zero" if self.is_zero else f"k{self.kernel}e{self.expand}"

    @classmethod
    def zero(cls) -> BlockSpec:
        return cls(0, 0)

    @classmethod
    def parse(cls, token: str) -> BlockSpec:
        if not isinstance(token, str):
            raise ArchError(f"block token {token!r} is not a string like 'k5e3' or 'zero'")
        token = token.strip().lower()
        if token == "zero":
            return cls.zero()
        m = _TOKEN.match(token)
        if not m:
            raise ArchError(f"unknown block token {token!r}: expected 'k<kernel>e<expand>' (e.g. 'k5e3') or 'zero'")
        kernel, expand = int(m.group(1)), int(m.group(2))
        if kernel % 2 == 0 or kernel < 1 or expand < 1:
            raise ArchError(f"invalid block token {token!r}: kernel must be odd and expand >= 1")
        return cls(kernel, expand)

    def __str__(self) -> str:
        return self.token


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: the block choices of each stage, in order."""

    stages: tuple[tuple[BlockSpec, ...], ...]

    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        return tuple(b for stage in self.stages for b in stage)

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.stages)

    def to_string(self) -> str:
        return "|".join("-".join(b.token for b in stage) for stage in self.stages)

    __str__ = to_string

    @classmethod
    def from_string(cls, text: str) -> ArchSpec:
        if not isinstance(text, str) or not text.strip():
            raise ArchError("empty architecture string")
        if len(text) > MAX_ARCH_CHARS:
            raise ArchError(f"architecture string of {len(text)} characters is too long (at most {MAX_ARCH_CHARS}; "
                            "one is about 5 characters per block)")
        stages = []
        for si, part in enumerate(text.strip().split("|")):
            tokens = [t for t in part.strip().split("-")]
            if not part.strip() or any(not t.strip() for t in tokens):
                raise ArchError(f"stage {si} of {text!r} has an empty block token")
            try:
                stages.append(tuple(BlockSpec.parse(t) for t in tokens))
            except ArchError as exc:
                raise ArchError(f"stage {si}: {exc}") from None
        return cls(tuple(stages))

    @classmethod
    def from_blocks(cls, blocks: list[BlockSpec] | tuple[BlockSpec, ...], depths: tuple[int, ...]) -> ArchSpec:
        blocks = tuple(blocks)
        if len(blocks) != sum(depths):
            raise ArchError(f"expected {sum(depths)} blocks, got {len(blocks)}")
        out, i = [], 0
        for d in depths:
            out.append(blocks[i : i + d])
            i += d
        return cls(tuple(out))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.to_string(), "stages": [[b.token for b in s] for s in self.stages]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchSpec:
        """The one validator of architecture JSON: ``{"stages": [["k3e3", "zero"], ...]}`` or ``{"arch": "..."}``."""
        if not isinstance(data, dict):
            raise ArchError(f"architecture JSON must be an object with 'stages' or 'arch', got {type(data).__name__}")
        if data.get("stages") is not None:
            stages = data["stages"]
            if not isinstance(stages, list) or not stages or not all(isinstance(s, list) and s for s in stages):
                raise ArchError("architecture JSON 'stages' must be a non-empty list of non-empty lists of block "
                                f"tokens like [[\"k3e3\", \"zero\"], ...], got {json.dumps(stages)[:80]}")
            out = []
            for si, s in enumerate(stages):
                try:
                    out.append(tuple(BlockSpec.parse(t) for t in s))
                except ArchError as exc:
                    raise ArchError(f"architecture JSON stage {si}: {exc}") from None
            return cls(tuple(out))
        if data.get("arch") is not None:
            if not isinstance(data["arch"], str):
                raise ArchError(f"architecture JSON 'arch' must be a string, got {type(data['arch']).__name__}")
            return cls.from_string(data["arch"])
        raise ArchError("architecture JSON needs a 'stages' list or an 'arch' string")

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ArchError(f"architecture JSON is malformed: {exc}") from None
        return cls.from_dict(data)


@dataclass(frozen=True)
class ModelArch:
    """An architecture of a model space (a user's network with LayerChoice / InputChoice): the chosen label of every
    decision, in decision order; written ``key=label;key=label``."""

    choices: tuple[tuple[str, str], ...]

    def to_string(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.choices)

    __str__ = to_string

    def as_dict(self) -> dict[str, str]:
        return dict(self.choices)

    @staticmethod
    def pairs(text: str) -> dict[str, str]:
        """``key=label;key=label`` -> ``{key: label}`` (in the order written; a key given twice is refused)."""
        out: dict[str, str] = {}
        for part in text.split(";"):
            k, sep, v = part.strip().partition("=")
            if not sep:
                raise ArchError(f"architecture {text[:80]!r}: expected key=label pairs joined by ';'")
            if k.strip() in out:
                raise ArchError(f"architecture {text[:80]!r}: key {k.strip()!r} is given twice")
            out[k.strip()] = v.strip()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.to_string(), "choices": self.as_dict()}
