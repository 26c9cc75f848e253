"""PyTorch eager backend: CPU with a fixed thread count, or CUDA timed with events after synchronisation.

On CUDA every measurement first warms the card up until the medians of successive chunks of runs agree within
``settle_tol`` (or ``settle_max_s`` passes), so boost clocks and lazy initialisation do not leak into the
figures; the batch size is part of the table's settings (``--batch``).

On CPU (Linux, glibc) the backend first tells malloc to keep freed memory (``mallopt``: no mmap for large
blocks, no trimming), as an inference server's caching allocator does. Without it, whether a network's
activations are handed back to the kernel after every run depends on the heap's history: on the 2-core
reference machine some proxyless-mobile networks took ~4,000 page faults per run (up to 1.7x their steady
latency) and others none, so two processes disagreed by network, not by a common factor. The setting is part
of the table's settings (``steady_malloc``), so tables made without it are kept apart."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .base import Backend, MissingRuntimeError, Runner, register_backend
from .protocol import settle

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory in the process (no per-run mmap/munmap or trimming of large blocks), so
    repeated runs of a network touch the same pages; True if it took effect (False off Linux/glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    big = 1 << 30
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, big) == 1 or mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
    return bool(ok_mmap and mallopt(_M_TRIM_THRESHOLD, big) == 1)


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
    def __init__(self, *, settle_tol: float = 0.02, settle_max_s: float = 10.0, steady_malloc: bool = True,
                 **kw: Any):
        super().__init__(**kw)
        gpu_build = torch.version.cuda is not None or getattr(torch.version, "hip", None) is not None  # ROCm: "cuda"
        if self.device.startswith("cuda") and not gpu_build:
            raise MissingRuntimeError(f"torch backend: device 'cuda' needs a CUDA build of torch; this one is "
                                      f"{torch.__version__} (CPU only): pip install --force-reinstall torch --index-url "
                                      "https://download.pytorch.org/whl/cu128 (the CUDA version of your driver), "
                                      "or use --device cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"torch backend: device 'cuda' requested but torch {torch.__version__} sees no GPU "
                             "(torch.cuda.is_available() is false: check the driver and CUDA_VISIBLE_DEVICES)")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise UsageError(f"torch backend: unknown device {self.device!r} (use 'cpu' or 'cuda')")
        self.settle_tol, self.settle_max_s = float(settle_tol), float(settle_max_s)
        self.settle_runs_: int | None = None
        self.steady_malloc = bool(steady_malloc) and not self.cuda and keep_freed_memory()

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def warm_up(self, runner: Runner) -> None:
        if self.cuda:
            self.settle_runs_ = settle(runner, tol=self.settle_tol, max_s=self.settle_max_s)

    def extra_settings(self) -> dict[str, Any]:
        if self.cuda:
            return {"settle_tol": self.settle_tol, "settle_max_s": self.settle_max_s}
        return {"steady_malloc": True} if self.steady_malloc else {}

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        torch.set_num_threads(self.threads)
        module = module.eval().to(self.device)
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(self.device)
        return _CudaRunner(module, x) if self.cuda else _CpuRunner(module, x)

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch_threads": str(torch.get_num_threads())}
        if self.cuda:
            v["cuda"] = str(torch.version.cuda)
            v["cudnn"] = str(torch.backends.cudnn.version())
        return v
