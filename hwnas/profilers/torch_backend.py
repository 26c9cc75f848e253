"""PyTorch backend: eager on a CPU with a fixed thread count, or on CUDA replayed from a CUDA graph.

On CUDA a layer of ~0.2 ms is mostly launch overhead and clock ramps: timing single eager runs with CUDA events
gave per-layer medians of two ``proxyless-mobile`` builds that agreed within ±5% for only 13–15% of its 71 layers
on an H200 (median difference 8% at batch 1, 25% at batch 8). So by default (``timing="cuda_graph"``) each module
is captured once in a CUDA graph and every sample times ``replays`` back-to-back replays between two CUDA events
(as ``torch.utils.benchmark`` blocks its measurements), with ``replays`` chosen so that one sample spans about
``sample_ms``; the sample is the mean per replay. A module that cannot be captured is timed the same way in eager
mode (``graph_fallbacks_`` counts them). ``timing="events"`` keeps the single-run event timing. Before the first
measurement the card runs ``clock_warmup_s`` seconds of matrix products so that its clocks leave their idle
state, and every measurement then warms up until the medians of successive chunks of runs agree within
``settle_tol`` (or ``settle_max_s`` passes). The clocks, power draw and performance state read by ``nvidia-smi``
after warm-up and at the end are kept with the table (:meth:`TorchBackend.device_state`). The batch size is part
of the table's settings (``--batch``).

On CPU (Linux, glibc) the backend first tells malloc to keep freed memory (``mallopt``: no mmap for large
blocks, no trimming), as an inference server's caching allocator does. Without it, whether a network's
activations are handed back to the kernel after every run depends on the heap's history: on the 2-core
reference machine some proxyless-mobile networks took ~4,000 page faults per run (up to 1.7x their steady
latency) and others none, so two processes disagreed by network, not by a common factor. The setting is part
of the table's settings (``steady_malloc``), so tables made without it are kept apart."""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import time
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .base import Backend, MissingRuntimeError, Runner, register_backend
from .environment import gpu_state
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
    """Single eager runs between two CUDA events (``timing="events"``)."""

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


class BlockedRunner(Runner):
    """One sample = ``replays`` back-to-back calls of ``step`` between two timer marks, divided by ``replays``;
    ``replays`` is chosen once (:meth:`calibrate`) so that a sample spans about ``sample_ms``. ``clock`` gives a
    pair of (start, stop) callables returning elapsed milliseconds; CUDA events on a GPU."""

    def __init__(self, step: Any, clock: Any, *, sample_ms: float, max_replays: int = 1000):
        self.step, self.clock, self.sample_ms, self.max_replays = step, clock, float(sample_ms), int(max_replays)
        self.replays = 1

    def _timed(self, replays: int) -> float:
        start, stop = self.clock()
        for _ in range(replays):
            self.step()
        return stop() / replays

    def calibrate(self) -> int:
        one = sorted(self._timed(1) for _ in range(5))[2]
        self.replays = int(min(self.max_replays, max(1, math.ceil(self.sample_ms / max(one, 1e-6)))))
        return self.replays

    def __call__(self) -> float:
        return self._timed(self.replays)


def _cuda_clock() -> tuple[Any, Any]:
    """Start a CUDA-event stopwatch: returns (start_event, stop) where stop() synchronises and gives the ms."""
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()

    def stop() -> float:
        b.record()
        b.synchronize()
        return float(a.elapsed_time(b))

    return a, stop


def _capture(module: nn.Module, x: torch.Tensor) -> Any:
    """``module(x)`` captured in a CUDA graph (warmed up on a side stream first, as capture requires); returns the
    graph's replay, or raises what capture raised."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(side):
        for _ in range(3):
            module(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        module(x)
    return graph.replay


class _GraphRunner(BlockedRunner):
    def __init__(self, module: nn.Module, x: torch.Tensor, *, sample_ms: float, graph: bool):
        self.module, self.x, self.graph = module, x, graph
        step = _capture(module, x) if graph else self._eager
        super().__init__(step, _cuda_clock, sample_ms=sample_ms)
        self.calibrate()

    def _eager(self) -> None:
        with torch.inference_mode():
            self.module(self.x)

    def close(self) -> None:
        del self.module, self.x, self.step
        torch.cuda.empty_cache()


@register_backend("torch")
class TorchBackend(Backend):
    TIMINGS = ("cuda_graph", "events")

    def __init__(self, *, settle_tol: float = 0.02, settle_max_s: float = 10.0, steady_malloc: bool = True,
                 timing: str = "cuda_graph", sample_ms: float = 2.0, clock_warmup_s: float = 1.0, **kw: Any):
        super().__init__(**kw)
        if timing not in self.TIMINGS:
            raise UsageError(f"torch backend: timing must be {' or '.join(self.TIMINGS)}, not {timing!r}")
        if not (float(sample_ms) > 0 and math.isfinite(float(sample_ms))):
            raise UsageError(f"torch backend: sample_ms must be a positive number of ms, not {sample_ms!r}")
        self.timing, self.sample_ms, self.clock_warmup_s = timing, float(sample_ms), float(clock_warmup_s)
        self.graph_fallbacks_ = 0
        self._clocks_warm = False
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
            out: dict[str, Any] = {"settle_tol": self.settle_tol, "settle_max_s": self.settle_max_s}
            if self.timing != "events":  # tables of the single-run event timing keep their settings
                out.update(timing=self.timing, sample_ms=self.sample_ms)
            return out
        return {"steady_malloc": True} if self.steady_malloc else {}

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        torch.set_num_threads(self.threads)
        module = module.eval().to(self.device)
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(self.device)
        if not self.cuda:
            return _CpuRunner(module, x)
        self._warm_clocks()
        if self.timing == "events":
            return _CudaRunner(module, x)
        try:
            return _GraphRunner(module, x, sample_ms=self.sample_ms, graph=True)
        except RuntimeError:  # not capturable (a host sync inside, dynamic shapes): the same blocks, eager
            self.graph_fallbacks_ += 1
            return _GraphRunner(module, x, sample_ms=self.sample_ms, graph=False)

    def _warm_clocks(self) -> None:
        """Matrix products for ``clock_warmup_s`` seconds, once per backend: an idle card needs a while at load
        before its clocks reach their working state."""
        if self._clocks_warm or self.clock_warmup_s <= 0:
            return
        a = torch.randn(2048, 2048, device=self.device)
        end = time.perf_counter() + self.clock_warmup_s
        while time.perf_counter() < end:
            for _ in range(20):
                a = torch.tanh(a @ a)
            torch.cuda.synchronize()
        self._clocks_warm = True

    def device_state(self) -> dict[str, Any]:
        """Clocks, power and performance state of the GPU (``nvidia-smi``), for the table's metadata."""
        return gpu_state(self.device) if self.cuda else {}

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch_threads": str(torch.get_num_threads())}
        if self.cuda:
            v["cuda"] = str(torch.version.cuda)
            v["cudnn"] = str(torch.backends.cudnn.version())
        return v
