"""PyTorch eager backend: CPU with a fixed thread count, or CUDA timed with events after synchronisation."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from .base import Backend, Runner, register_backend


class _CpuRunner(Runner):
    def __init__(self, module: nn.Module, x: torch.Tensor):
        self.module, self.x = module, x

    def __call__(self) -> float:
        with torch.inference_mode():
            t0 = time.perf_counter()
            self.module(self.x)
            return (time.perf_counter() - t0) * 1e3


class _CudaRunner(Runner):
    def __init__(self, module: nn.Module, x: torch.Tensor):
        self.module, self.x = module, x
        self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def __call__(self) -> float:
        with torch.inference_mode():
            torch.cuda.synchronize()
            self.start.record()
            self.module(self.x)
            self.end.record()
            self.end.synchronize()
            return float(self.start.elapsed_time(self.end))

    def close(self) -> None:
        del self.module, self.x
        torch.cuda.empty_cache()


@register_backend("torch")
class TorchBackend(Backend):
    def __init__(self, **kw: Any):
        super().__init__(**kw)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("torch backend: device 'cuda' requested but torch.cuda.is_available() is false")

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        torch.set_num_threads(self.threads)
        module = module.eval().to(self.device)
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(self.device)
        return _CudaRunner(module, x) if self.device.startswith("cuda") else _CpuRunner(module, x)

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch_threads": str(torch.get_num_threads())}
        if self.device.startswith("cuda"):
            v["cuda"] = str(torch.version.cuda)
        return v
