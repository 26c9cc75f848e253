"""ExecuTorch backend: ``torch.export`` → XNNPACK-lowered ``.pte`` → ExecuTorch's Python runtime.

XNNPACK is the CPU kernel library phones run, so this is the closest to a phone a workstation has. Export and
lowering take 1–3 s per block; with ``cache_dir`` the ``.pte`` files are kept (keyed by the exported graph and
input shape) so re-measuring a network, or a second process measuring the same ones, skips lowering.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ..io import atomic_write, bar_disabled
from .base import Backend, MissingRuntimeError, Runner, register_backend

MOBILE_EXTRA = "pip install 'hwnas[mobile]'"


@contextlib.contextmanager
def _quiet():
    """ExecuTorch and torchao log warnings at import and on export that say nothing about latency."""
    loggers = [logging.getLogger(n) for n in ("torchao", "torch._export", "torch.export", "torch.utils._pytree", "executorch", "root")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels, strict=True):
            lg.setLevel(lvl)


@functools.lru_cache(maxsize=1)
def _et() -> dict[str, Any]:
    """Import ExecuTorch lazily (once); the error names the extra that installs it."""
    try:
        with _quiet():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.exir import to_edge_transform_and_lower
            from executorch.extension.pybindings import portable_lib
            from executorch.runtime import Runtime, Verification
    except ImportError as exc:
        raise MissingRuntimeError(f"the executorch backend needs ExecuTorch ({exc.name or exc} is missing): "
                                  f"{MOBILE_EXTRA}") from exc
    return {"XnnpackPartitioner": XnnpackPartitioner, "lower": to_edge_transform_and_lower,
            "portable_lib": portable_lib, "Runtime": Runtime, "Verification": Verification}


def executorch_version() -> str:
    try:
        from importlib.metadata import version

        return version("executorch")
    except Exception:  # noqa: BLE001 - not installed or no metadata
        return "unknown"


def export_pte(module: nn.Module, input_shape: tuple[int, ...], cache_dir: str | Path | None = None) -> bytes:
    """Serialise ``module`` for an input of ``input_shape`` as an XNNPACK-delegated ExecuTorch program.

    With ``cache_dir``, programs are kept under a key of the exported graph (every op and its arguments), the
    parameter shapes, the input shape and the ExecuTorch version; lowering (the slow part) is then skipped for a
    module of the same structure. Weights are not in the key: they do not change fp32 latency, so a cached
    program may carry another initialisation's weights."""
    et = _et()
    example = (torch.zeros(input_shape),)
    with _quiet(), torch.no_grad():
        exported = torch.export.export(module.eval(), example)
        path = None
        if cache_dir:
            h = hashlib.sha256(f"{exported.graph_module.code}|{tuple(input_shape)}|{executorch_version()}".encode())
            for name, t in module.state_dict().items():
                h.update(f"{name}:{tuple(t.shape)}".encode())
            path = Path(cache_dir) / f"{h.hexdigest()[:32]}.pte"
            if path.exists():
                return path.read_bytes()
        edge = et["lower"](exported, partitioner=[et["XnnpackPartitioner"]()])
        data = edge.to_executorch().buffer
    if path is not None:
        atomic_write(path, lambda fh: fh.write(data), mode="wb")
    return data


class _EtRunner(Runner):
    def __init__(self, method: Any, x: torch.Tensor, program: Any):
        self.method, self.x, self.program = method, x, program  # keep the program alive with its method

    def __call__(self) -> float:
        t0 = time.perf_counter()
        self.method.execute([self.x])
        return (time.perf_counter() - t0) * 1e3

    def close(self) -> None:
        self.method = self.program = None


@register_backend("executorch")
class ExecuTorchBackend(Backend):
    """CPU only. ``threads`` sets the size of ExecuTorch's threadpool that XNNPACK runs on (process-wide)."""

    def __init__(self, *, cache_dir: str | None = None, **kw: Any):
        super().__init__(**kw)
        if self.device != "cpu":
            raise UsageError(f"executorch backend: device {self.device!r} is not supported here; it runs the "
                             f"XNNPACK CPU delegate (use --device cpu, or the remote backend for a phone)")
        self.cache_dir = cache_dir
        self._et = _et()
        self._runtime = None

    def _set_threads(self) -> int:
        lib = self._et["portable_lib"]
        with _silence_fd2():
            if lib._threadpool_get_thread_count() != self.threads:
                lib._unsafe_reset_threadpool(self.threads)
            return int(lib._threadpool_get_thread_count())

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        got = self._set_threads()
        if got != self.threads:
            raise RuntimeError(f"executorch backend: asked for {self.threads} threads, the threadpool has {got}")
        pte = export_pte(module, input_shape, self.cache_dir)
        if self._runtime is None:
            self._runtime = self._et["Runtime"].get()
        with _silence_fd2():
            program = self._runtime.load_program(pte, verification=self._et["Verification"].Minimal)
            method = program.load_method("forward")
        x = torch.randn(input_shape, generator=torch.Generator().manual_seed(0))
        return _EtRunner(method, x, program)

    def precompile(self, jobs, n_jobs: int = 1, progress: bool = True) -> None:
        """Export and lower every job's program into ``cache_dir`` in ``n_jobs`` processes (lowering a
        21-block network takes ~40 s of one core here); timing afterwards runs alone and reads the cache."""
        if n_jobs <= 1 or not jobs:
            return
        if not self.cache_dir:
            raise UsageError("executorch backend: parallel export (--jobs) keeps the programs in a cache; "
                             "give one with --backend-opt cache_dir=DIR")
        from joblib import Parallel, delayed
        from tqdm.auto import tqdm

        work = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_export_job)(job, self.batch, self.cache_dir) for job in jobs)
        for _ in tqdm(work, total=len(jobs), desc=f"export programs ({n_jobs} processes)", unit="prog",
                      disable=bar_disabled(progress)):
            pass

    def extra_settings(self) -> dict[str, Any]:
        return {"delegate": "xnnpack"}

    def runtime_versions(self) -> dict[str, str]:
        return {"executorch": executorch_version(), "executorch_threads": str(self._set_threads())}


def _export_job(job, batch: int, cache_dir: str) -> None:
    torch.set_num_threads(1)
    module, shape = job()
    export_pte(module.eval(), (batch, *shape[1:]), cache_dir)


@contextlib.contextmanager
def _silence_fd2():
    """The runtime's C++ code logs CPU-detection notes to stderr on first use; keep progress bars readable."""
    if os.environ.get("HWNAS_DEBUG"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
