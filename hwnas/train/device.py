"""Where training runs: the device (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``), mixed precision for the weights
(``bf16`` | ``fp16`` | ``off``), channels-last memory and cuDNN autotuning on CUDA.

Architecture parameters, their optimiser and the latency term always stay fp32: only the weight step's forward
runs under ``torch.autocast`` (with a gradient scaler for fp16).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UsageError

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
               channels_last: bool | None = None) -> Runtime:
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
        return cls(dev, amp, dev.type == "cuda" if channels_last is None else bool(channels_last))

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

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        net = net.to(self.device)
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": str(self.device), "amp": self.amp, "channels_last": self.channels_last,
                               "cudnn_benchmark": self.device.type == "cuda", "torch": str(torch.__version__)}
        if self.device.type == "cuda":
            out["device_name"] = torch.cuda.get_device_name(self.device)
            out["cuda"] = str(torch.version.cuda)
        return out


@contextlib.contextmanager
def fp32() -> Iterator[None]:
    """Autocast off (the architecture step and the latency term inside an autocast region)."""
    if torch.is_autocast_enabled():
        with torch.autocast("cuda", enabled=False):
            yield
    else:
        yield
