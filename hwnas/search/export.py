"""The searched architecture as a file: argmax per block, arch string, predicted latency, probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_json, read_json
from ..predictors.block_costs import BlockCosts, expected_latency_ms
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .supernet import Supernet


@dataclass(frozen=True)
class ExportedArch:
    arch: ArchSpec
    space: SearchSpace
    predicted_ms: float
    target_ms: float | None
    expected_ms: float
    probabilities: tuple[tuple[float, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.arch.to_dict(), "predicted_ms": self.predicted_ms, "target_ms": self.target_ms,
                "expected_ms": self.expected_ms, "space": self.space.to_dict(),
                "probabilities": [{c.token: p for c, p in zip(pos.choices, probs, strict=True)}
                                  for pos, probs in zip(self.space.positions(), self.probabilities, strict=True)]}


def export_arch(net: Supernet, costs: BlockCosts, target_ms: float | None = None) -> ExportedArch:
    """The most likely architecture (argmax α per block) and what the latency model predicts for it."""
    arch = net.argmax_arch()
    with torch.no_grad():
        probs = net.probs()
        expected = float(expected_latency_ms(probs, costs))
    return ExportedArch(arch, net.space, costs.arch_ms(arch, net.space), target_ms, expected,
                        tuple(tuple(float(v) for v in p) for p in probs))


def save_exported(exported: ExportedArch, path: str | Path) -> None:
    atomic_write_json(path, exported.to_dict())


def load_exported(path: str | Path) -> tuple[ArchSpec, SearchSpace, dict[str, Any]]:
    """(architecture, its space, the whole record) from an ``arch.json`` (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "arch.json"
    data = read_json(path, "exported architecture")
    if "space" not in data:
        raise ValueError(f"{path} has no 'space': not an exported search result (hwnas search writes arch.json)")
    space = SearchSpace.from_dict(data["space"])
    return space.validate(ArchSpec.from_dict(data)), space, data
