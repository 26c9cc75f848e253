"""Weights a search hands on: the network an exported architecture stands for, with the supernet's weights for it
(``hwnas retrain --inherit``, ``hwnas export RUN``). Kept here, not in :mod:`hwnas.train`, because reading a run
needs the supernet; training takes plain state dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import InputNotFound, UsageError
from ..space.builder import Network, build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.deploy import load_model, recalibrate_bn
from .export import load_exported
from .run import RunDir, RunError
from .supernet import build_supernet


def inherited_weights(run_dir: str | Path, arch: ArchSpec, space: SearchSpace) -> dict[str, torch.Tensor]:
    """The weights of ``arch`` taken from a search run's last supernet checkpoint."""
    rd = RunDir(run_dir)
    ckpt = rd.load_checkpoint()
    net = build_supernet(space, weights=rd.config()["search"].get("supernet_weights", "separate"))
    try:
        net.load_state_dict(ckpt["net"])
    except RuntimeError as exc:  # shapes or names of another space
        raise RunError(f"the supernet checkpoint in {run_dir} does not fit space {space.name!r} "
                       f"({str(exc).splitlines()[0][:200]})") from None
    return net.child_state_dict(arch)


def run_model(source: str | Path, *, recalibrate_with: Any = None, space: Any = None
              ) -> tuple[Network, ArchSpec, SearchSpace, str]:
    """The network a run or a model file stands for: a retrain folder / ``model.pt`` (its trained weights), or a
    search run directory (its ``arch.json`` with the supernet's weights for it). Returns (model, arch, space,
    what). The supernet's BatchNorm statistics mix every path: pass ``recalibrate_with`` (a DataLoader of
    training batches) to re-estimate them. ``space``: the user's model for a model space's run or file (else the
    factory it records), checked against the recorded fingerprint."""
    src = Path(source)
    if src.is_file() and src.suffix == ".pt" or (src.is_dir() and (src / "model.pt").exists()):
        model, arch, space = load_model(src, space)
        return model, arch, space, f"trained weights from {src}"
    if not src.exists():
        raise InputNotFound(f"{src} not found: give a search run directory, a retrain folder or a model.pt")
    if not (src.is_dir() and RunDir(src).has_checkpoint):
        raise UsageError(f"{src} is neither a retrain folder / model.pt nor a search run directory with "
                         f"checkpoint.pt and arch.json")
    arch, recorded, record = load_exported(src)
    if getattr(recorded, "kind", None) == "model":
        from ..space.model_space import check_same_space

        live = space if space is not None else recorded.live()
        check_same_space(recorded.to_dict(), live, f"the searched architecture in {src}")
        space, arch = live, live.parse(record)
    else:
        space = recorded
    model = build_model(arch, space)
    model.load_state_dict(inherited_weights(src, arch, space))
    what = f"supernet weights from {src}"
    if recalibrate_with is not None:
        n = recalibrate_bn(model, recalibrate_with)
        what += f", BatchNorm recalibrated on {n} training images"
    return model.eval(), arch, space, what
