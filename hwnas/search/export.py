"""The searched architecture as a file: argmax per block, arch string, predicted latency, probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..io import atomic_write_json, read_json
from ..predictors.block_costs import BlockCosts, expected_latency_ms
from ..space.model_space import arch_from_record, space_from_dict
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
    argmax: ArchSpec | None = None  # the plain argmax when the exported arch was fitted to the target
    score: float | None = None      # a search stage's score of the architecture (held-out accuracy)

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.argmax is None else {
            "argmax": self.argmax.to_string()}
        if self.score is not None:
            extra["score"] = self.score
        return {**self.arch.to_dict(), **extra, "predicted_ms": self.predicted_ms, "target_ms": self.target_ms,
                "expected_ms": self.expected_ms, "space": self.space.to_dict(),
                "probabilities": [dict(zip(labels, probs, strict=True))
                                  for labels, probs in zip(self.space.choice_labels(), self.probabilities, strict=True)]}


def export_arch(net: Supernet, costs: BlockCosts, target_ms: float | None = None, *, how: str = "argmax",
                probs: list[torch.Tensor] | None = None, best: list[int] | None = None) -> ExportedArch:
    """The most likely architecture (argmax α per block, or ``best``: the optimizer's preferred option indices,
    with its per-decision ``probs``) and what the latency model predicts for it; with ``how="fit"`` and a target,
    fitted to the target (:func:`hwnas.search.derive.fit_to_target`)."""
    from .derive import FILL_BAND, fit_to_target

    arch = argmax = net.argmax_arch() if best is None else net.indices_to_arch(best)
    with torch.no_grad():
        probs = net.probs() if probs is None else probs
        expected = float(expected_latency_ms(probs, costs))
    p = tuple(tuple(float(v) for v in q) for q in probs)
    if how == "fit" and target_ms is not None:
        arch = fit_to_target(p, costs, net.space, target_ms, fill=FILL_BAND)
    return ExportedArch(arch, net.space, costs.arch_ms(arch, net.space), target_ms, expected, p,
                        argmax if arch != argmax else None)


def export_fixed(arch: ArchSpec, space: SearchSpace, costs: BlockCosts, target_ms: float | None, *,
                 score: float | None = None) -> ExportedArch:
    """An architecture a search stage chose as a whole (the best scored): its one-hot probabilities."""
    idx = space.indices(arch)
    probs = tuple(tuple(1.0 if j == i else 0.0 for j in range(len(labels)))
                  for i, labels in zip(idx, space.choice_labels(), strict=True))
    predicted = costs.arch_ms(arch, space)
    return ExportedArch(arch, space, predicted, target_ms, predicted, probs, None, score)


NNI_ARCH = "nni_arch.json"
NNI3_ARCH = "nni3_arch.json"


def save_exported(exported: ExportedArch, path: str | Path) -> None:
    """``arch.json`` (hwnas's record); for a model space also ``nni_arch.json`` beside it: NNI 1.x's format, every
    key -> one-hot list (multi-hot over an InputChoice's inputs), which ``apply_fixed_architecture`` reads; and
    ``nni3_arch.json``: NNI 3.0's sample (candidate name or index, list of input indices), which NNI 3.0's
    ``model_context`` / ``ModelSpace.freeze`` read (NNI 3.0 cannot read the one-hot lists) and hwnas reads too."""
    atomic_write_json(path, exported.to_dict())
    if getattr(exported.space, "kind", None) == "model":
        atomic_write_json(Path(path).with_name(NNI_ARCH), exported.space.to_nni(exported.arch))
        atomic_write_json(Path(path).with_name(NNI3_ARCH), exported.space.to_nni3(exported.arch))


def load_exported(path: str | Path) -> tuple[ArchSpec, SearchSpace, dict[str, Any]]:
    """(architecture, its space, the whole record) from an ``arch.json`` (or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "arch.json"
    data = read_json(path, "exported architecture", expect=dict)
    if not isinstance(data.get("space"), dict):
        raise UsageError(f"{path} has no 'space': not an exported search result (hwnas search writes arch.json)")
    space = space_from_dict(data["space"], where=str(path))
    try:
        return arch_from_record(space, data), space, data
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
