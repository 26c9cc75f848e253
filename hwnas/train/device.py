"""Where training runs: the device (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``), mixed precision for the weights
(``bf16`` | ``fp16`` | ``off``), channels-last memory and cuDNN autotuning on CUDA.

:class:`Runtime` is the one path by which anything reaches the run's device: :meth:`Runtime.place_module` (the
network, with α and BatchNorm buffers; optimisers built after it keep their state there) and
:meth:`Runtime.place_batch` (every batch and its targets, from hwnas's loaders or the user's). The search, its
architecture steps, evaluation and retraining all go through it, so a tensor left on the wrong device is a bug in
one place (hwnas 0.1 moved the supernet only under torchrun and never moved the labels: a one-process GPU search
stopped at its first step).

Architecture parameters, their optimiser and the latency term always stay fp32: the networks' forward passes run
under ``torch.autocast`` (with a gradient scaler for fp16 weight steps).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from ..errors import UsageError

M = TypeVar("M", bound=torch.nn.Module)
AMP_MODES = ("off", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto``: the current CUDA device when there is one, else the CPU (silently). ``cuda`` without CUDA, or a
    GPU index that is not there, is one clear error."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise UsageError(f"device {spec!r} is not supported for training; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {spec}: CUDA is not available here (torch {torch.__version__}, "
                         f"{'a CPU-only build' if torch.version.cuda is None else 'no GPU visible'}); "
                         f"use --device cpu or auto")
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {spec}: there are {torch.cuda.device_count()} CUDA device(s) (0.."
                         f"{torch.cuda.device_count() - 1})")
    return torch.device("cuda", index)


@dataclass(frozen=True)
class Runtime:
    """The resolved device settings of one training run (recorded in config.json / retrain.json)."""

    device: torch.device
    amp: str = "off"
    channels_last: bool = False

    @classmethod
    def create(cls, device: str | torch.device | None = "auto", amp: str | None = "off",
               channels_last: bool | None = None, *, space: Any = None) -> Runtime:
        """``channels_last`` None: on for the built-in spaces, on the CPU too (a training step there is 2.2–2.5×
        faster: ``benchmarks/memory_format.py``), off for a model space (``space.kind == "model"``): a user's model
        may ``.view()`` a 4-D activation, which fails on channels-last strides. Without a space: on CUDA only."""
        dev = resolve_device(device)
        amp = (amp or "off").lower()
        if amp not in AMP_MODES:
            raise UsageError(f"unknown --amp {amp!r}; use {', '.join(AMP_MODES)}")
        if amp != "off" and dev.type != "cuda":
            raise UsageError(f"--amp {amp} needs a CUDA device (training on {dev}); use --amp off on the CPU")
        if amp == "bf16" and not torch.cuda.is_bf16_supported():
            raise UsageError(f"--amp bf16: {torch.cuda.get_device_name(dev)} does not support bfloat16; "
                             f"use --amp fp16")
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick the fastest kernels
        if channels_last is None:
            channels_last = dev.type == "cuda" if space is None else getattr(space, "kind", None) != "model"
        return cls(dev, amp, bool(channels_last))

    @property
    def dtype(self) -> torch.dtype | None:
        return _DTYPES.get(self.amp)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp == "off":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def scaler(self) -> Any:
        """A gradient scaler for fp16 (None otherwise: bf16 has fp32's range)."""
        if self.amp != "fp16":
            return None
        try:
            return torch.amp.GradScaler(self.device.type)
        except (AttributeError, TypeError):  # older torch
            return torch.cuda.amp.GradScaler()

    def place_module(self, net: M) -> M:
        """``net`` (weights, α, buffers) on the run's device, channels-last when set."""
        net = net.to(self.device)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def place_batch(self, x: Any, y: torch.Tensor | None = None) -> Any:
        """A batch's inputs (a tensor, or a tuple / list / dict of them: a user model's several inputs) and, when
        given, its targets on the run's device; 4-D image batches channels-last when set. Returns ``x`` alone
        without ``y``, else ``(x, y)``."""
        x = self._place(x)
        if y is None:
            return x
        return x, y.to(self.device, non_blocking=True)

    def _place(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):  # one copy: the device and the memory format together
            if self.channels_last and x.ndim == 4:
                return x.to(self.device, non_blocking=True, memory_format=torch.channels_last)
            return x.to(self.device, non_blocking=True)
        if isinstance(x, (tuple, list)):
            return type(x)(self._place(t) for t in x)
        if isinstance(x, dict):
            return {k: self._place(v) for k, v in x.items()}
        return x

    @classmethod
    def of(cls, net: torch.nn.Module) -> Runtime:
        """The plain runtime of wherever ``net`` already is (fp32, no channels-last): for evaluating a network
        the caller placed."""
        p = next(iter(net.parameters()), None)
        return cls(p.device if p is not None else torch.device("cpu"))

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": str(self.device), "amp": self.amp, "channels_last": self.channels_last,
                               "cudnn_benchmark": self.device.type == "cuda", "torch": str(torch.__version__)}
        if self.device.type == "cuda":
            out["device_name"] = torch.cuda.get_device_name(self.device)
            out["cuda"] = str(torch.version.cuda)
        return out
