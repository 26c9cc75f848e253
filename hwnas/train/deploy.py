"""A network the user can ship: ``model.pt`` (state dict + architecture + space, loadable with
``weights_only=True``), ``model.onnx`` (ONNX Runtime), ``model.pte`` (ExecuTorch, with the ``mobile`` extra); the
exported file's outputs checked against torch's; BatchNorm statistics recalibrated for inherited supernet weights.

The ONNX and ExecuTorch files are written by the profilers' own exporters (``export_onnx``, ``export_pte``), so
the file a user ships is the program the latency backends time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputNotFound, UsageError
from ..io import atomic_write
from ..space.builder import Network, build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .device import Runtime

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "pte")
ONNX_TOLERANCE = 1e-4  # max |ONNX Runtime − torch| over a batch of logits (fp32 on the CPU)


def input_shape(space: SearchSpace, batch: int = 1) -> tuple[int, ...]:
    return (batch, *tuple(space.input_shape)[1:])


@torch.no_grad()
def recalibrate_bn(model: nn.Module, loader: Any, batches: int = 50, runtime: Runtime | None = None) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them (a cumulative average) from up to ``batches``
    batches of ``loader`` (placed by ``runtime``; default: wherever the model is, fp32): the supernet's statistics
    mix every path and fit none. Returns the images used."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    rt = runtime or Runtime.of(model)
    saved = [(m, m.momentum) for m in bns]
    was = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    seen = 0
    try:
        for i, (x, _y) in enumerate(loader):
            if i >= batches:
                break
            if len(x) < 2:
                continue
            with rt.autocast():
                model(rt.place_batch(x))
            seen += len(x)
    finally:
        for m, mom in saved:
            m.momentum = mom
        model.train(was)
    return seen


def save_model(path: str | Path, model: Network, arch: ArchSpec, space: SearchSpace,
               extra: dict[str, Any] | None = None) -> None:
    """``model.pt``: CPU tensors and plain data only, so ``torch.load(..., weights_only=True)`` reads it."""
    state = {"format": "hwnas-model", "arch": arch.to_string(), "space": space.to_dict(),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **(extra or {})}
    atomic_write(path, lambda fh: torch.save(state, fh), mode="wb")


def load_model(path: str | Path, space: Any = None) -> tuple[Network, ArchSpec, SearchSpace]:
    """The network saved by :func:`save_model` (``hwnas retrain -o DIR`` writes DIR/model.pt), in eval mode.

    A model space's network is rebuilt with ``space`` (the user's model, e.g. from ``--model``) or else with the
    factory the file records; either must have the recorded fingerprint."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise InputNotFound(f"model file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        record = state["space"]
        if isinstance(record, dict) and record.get("kind") == "model":
            from ..space.model_space import RecordedModelSpace, check_same_space

            live = space if space is not None else RecordedModelSpace(record).live()
            check_same_space(record, live, f"the network in {path}")
            space = live
        else:
            space = SearchSpace.from_dict(record)
        arch = space.parse(state["arch"])
    except UsageError:
        raise
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path} is not an hwnas model file (model.pt from hwnas retrain): {exc}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types on a damaged file
        from ..io import torch_load_problem

        raise UsageError(f"{path} cannot be read: {torch_load_problem(exc, path)}") from None
    model = build_model(arch, space)
    model.load_state_dict(state["state_dict"])
    return model.eval(), arch, space


def export_file(model: nn.Module, space: SearchSpace, path: str | Path, fmt: str | None = None) -> Path:
    """Write ``model`` (batch 1, fp32, on the CPU) as ONNX or an ExecuTorch program; the format follows the
    suffix when ``fmt`` is None."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}")
    model = model.cpu().eval()
    shape = input_shape(space)
    if fmt == "onnx":
        from ..profilers.ort_backend import export_onnx

        data = export_onnx(model, shape)
    else:
        from ..profilers.executorch_backend import export_pte

        data = export_pte(model, shape)  # MissingRuntimeError names the `mobile` extra
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(data), mode="wb")
    return path


def has_executorch() -> bool:
    try:
        import executorch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ExportCheck:
    """How far the exported file's outputs are from torch's on ``images`` inputs (fp32 logits)."""

    path: str
    images: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "images": self.images, "max_abs_diff": self.max_abs_diff,
                "tolerance": self.tolerance, "ok": self.ok}


@torch.no_grad()
def check_onnx(path: str | Path, model: nn.Module, x: torch.Tensor, tolerance: float = ONNX_TOLERANCE) -> ExportCheck:
    """Run ``x`` (N, C, H, W) through the ONNX file in ONNX Runtime (CPU, one image at a time: the file takes
    batch 1) and through ``model``; the largest absolute difference of the logits."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    ref = model.cpu().eval()(x.cpu().float()).numpy()
    got = np.concatenate([sess.run(None, {name: x[i:i + 1].cpu().float().numpy()})[0] for i in range(len(x))])
    return ExportCheck(str(path), len(x), float(np.max(np.abs(got - ref))), tolerance)


@torch.no_grad()
def check_pte(path: str | Path, model: nn.Module, x: torch.Tensor, tolerance: float = 1e-3) -> ExportCheck:
    """As :func:`check_onnx` for an ExecuTorch program (XNNPACK; a looser tolerance for its fused kernels)."""
    from executorch.runtime import Runtime  # type: ignore[import-not-found]

    program = Runtime.get().load_program(Path(path).read_bytes())
    method = program.load_method("forward")
    ref = model.cpu().eval()(x.cpu().float()).numpy()
    got = np.concatenate([method.execute([x[i:i + 1].cpu().float().contiguous()])[0].numpy() for i in range(len(x))])
    return ExportCheck(str(path), len(x), float(np.max(np.abs(got - ref))), tolerance)


def check_export(path: str | Path, model: nn.Module, x: torch.Tensor) -> ExportCheck:
    return check_pte(path, model, x) if str(path).endswith(".pte") else check_onnx(path, model, x)
