"""Remote backend: export the model, push it to a device, time it with the runtime's own benchmark binary.

    hwnas profile --backend remote --backend-opt transport=adb --backend-opt serial=R58M123 \\
        --backend-opt runtime=onnxruntime --backend-opt binary=/data/local/tmp/onnxruntime_perf_test \\
        --backend-opt taskset=f0 -o tables/phone-ort.csv

Runtimes: ``onnxruntime`` (``.onnx``, ``onnxruntime_perf_test``), ``executorch`` (XNNPACK ``.pte``,
``executor_runner``), ``tflite`` (``.tflite`` via ai-edge-torch, ``benchmark_model``). The binary's own timer
is used (no process start-up or file loading in the figures); its output is parsed by
:mod:`hwnas.profilers.bench_parsers` into the same :class:`LatencyStats` as every other backend.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import UsageError
from .base import Backend, DeviceError, MissingRuntimeError, Runner, register_backend
from .bench_parsers import PARSERS, BenchParseError, BenchResult, combine
from .executorch_backend import executorch_version, export_pte
from .ort_backend import export_onnx
from .protocol import LatencyStats
from .transports import Transport, create_transport


def export_tflite(module: nn.Module, input_shape: tuple[int, ...], cache_dir: str | None = None) -> bytes:
    try:
        import ai_edge_torch
    except ImportError as exc:
        raise MissingRuntimeError("the tflite runtime of the remote backend converts with ai-edge-torch: "
                                  "pip install ai-edge-torch") from exc
    import tempfile
    from pathlib import Path

    import torch

    edge = ai_edge_torch.convert(module.eval(), (torch.zeros(input_shape),))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.tflite"
        edge.export(str(path))
        return path.read_bytes()


_TASKSET = re.compile(r"^(0x)?[0-9a-fA-F]+$|^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", re.ASCII)
_ENV_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=", re.ASCII)


@dataclass(frozen=True)
class RemoteRuntime:
    """One runtime on the device: how to export for it, its benchmark binary, how to call it, how to read it."""

    name: str
    binary: str
    suffix: str
    export: Callable[[nn.Module, tuple[int, ...], str | None], bytes]  # (module, input shape, cache dir)
    command: Callable[[str, str, int, int, int], str]  # (binary, model path, threads, runs, warm-up) -> argv

    def parse(self, text: str) -> BenchResult:
        return PARSERS[self.name](text)


# Every option value reaches the device's shell: each is split into words as a shell would (so ``args=-o 1`` stays
# two arguments) and each word is quoted back, so that ``;``, ``$(...)``, backquotes, pipes and newlines in a value
# are characters of an argument, never shell syntax. ``binary`` is the (quoted) binary, or a command of words.
def words(text: str, what: str) -> list[str]:
    """``text`` split into shell words (quotes honoured); :class:`UsageError` naming ``what`` if it cannot be."""
    try:
        return shlex.split(str(text))
    except ValueError as exc:
        raise UsageError(f"remote backend: {what}={text!r} cannot be split into arguments ({exc})") from None


def _quoted(text: str, what: str) -> str:
    return " ".join(shlex.quote(w) for w in words(text, what))


def _ort_cmd(binary: str, model: str, threads: int, runs: int, warmup: int) -> str:
    # -I: generate inputs; -m times -r N: N timed runs (the tool runs one warm-up inference itself)
    return f"{binary} -I -m times -r {int(runs)} -x {int(threads)} -y 1 -e cpu {shlex.quote(model)}"


def _et_cmd(binary: str, model: str, threads: int, runs: int, warmup: int) -> str:
    return (f"{binary} {shlex.quote('--model_path=' + model)} --num_executions={int(runs)} "
            f"--cpu_threads={int(threads)}")


def _tflite_cmd(binary: str, model: str, threads: int, runs: int, warmup: int) -> str:
    return (f"{binary} {shlex.quote('--graph=' + model)} --num_threads={int(threads)} --num_runs={int(runs)} "
            f"--warmup_runs={int(warmup)} --min_secs=0 --use_xnnpack=true")


RUNTIMES: dict[str, RemoteRuntime] = {
    "onnxruntime": RemoteRuntime("onnxruntime", "onnxruntime_perf_test", ".onnx",
                                 lambda m, s, cache_dir: export_onnx(m, s), _ort_cmd),
    "executorch": RemoteRuntime("executorch", "executor_runner", ".pte", export_pte, _et_cmd),
    "tflite": RemoteRuntime("tflite", "benchmark_model", ".tflite", export_tflite, _tflite_cmd),
}


class _RemoteRunner(Runner):
    """One model on the device; each call runs the binary once for a single timed inference (for probes)."""

    def __init__(self, backend: RemoteBackend, path: str):
        self.backend, self.path = backend, path

    def __call__(self) -> float:
        return self.backend.run_binary(self.path, runs=1).mean_ms

    def close(self) -> None:
        self.backend.transport.remove(self.path)


@register_backend("remote")
class RemoteBackend(Backend):
    """Options (``--backend-opt KEY=VALUE``): ``transport`` local|adb|ssh; ``serial`` (adb); ``host``, ``port``,
    ``ssh_opts`` (ssh); ``workdir`` on the device; ``runtime`` onnxruntime|executorch|tflite; ``binary`` (path
    of the benchmark binary on the device, or a command); ``taskset`` (CPU affinity: a hex mask like ``f0`` or a
    list like ``4-7``); ``args`` (extra arguments for the binary); ``env`` (e.g. ``LD_LIBRARY_PATH=.``);
    ``invocations`` (runs of the binary per measurement; default 1, each reports many timed inferences);
    ``device_name`` (the name recorded as the device model instead of the one the device reports);
    ``cache_dir`` (keep lowered ExecuTorch programs here); ``timeout_s``; ``adb``/``ssh`` (client executables)."""

    def __init__(self, *, transport: str | Transport = "local", runtime: str = "onnxruntime",
                 binary: str | None = None, taskset: str | int | None = None, args: str = "", env: str = "",
                 invocations: int = 1, device_name: str | None = None, cache_dir: str | None = None,
                 serial: str | None = None, host: str | None = None, port: int | None = None,
                 ssh_opts: str | None = None, workdir: str | None = None, timeout_s: float = 300.0,
                 adb: str | None = None, ssh: str | None = None, **kw: Any):
        super().__init__(**kw)
        if not isinstance(runtime, str) or runtime not in RUNTIMES:
            raise UsageError(f"remote backend: unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}")
        if self.device != "cpu":
            raise UsageError("remote backend: the device is chosen with --backend-opt transport=... "
                             "(leave --device at cpu)")
        if invocations < 1:
            raise UsageError("remote backend: invocations must be >= 1")
        self.runtime = RUNTIMES[runtime]
        self.binary = str(binary) if binary else self.runtime.binary
        if not words(self.binary, "binary"):
            raise UsageError("remote backend: binary is empty")
        self.taskset = str(taskset) if taskset not in (None, "") else None
        if self.taskset is not None and not _TASKSET.match(self.taskset):
            raise UsageError(f"remote backend: taskset={self.taskset!r} is neither a hex CPU mask (f0, 0x3) nor a "
                             "CPU list (4-7, 0,2)")
        self.args, self.env, self.invocations = str(args), str(env), int(invocations)
        words(self.args, "args")
        for w in words(self.env, "env"):
            if not _ENV_WORD.match(w):
                raise UsageError(f"remote backend: env={self.env!r}: {w!r} is not NAME=VALUE")
        self.device_name, self.cache_dir = device_name, cache_dir
        if isinstance(transport, Transport):
            self.transport = transport
        else:
            def text(v: Any) -> str | None:  # --backend-opt turns an all-digit serial into a number
                return None if v is None else str(v)

            opts = {"adb": {"serial": text(serial), "adb": adb},
                    "ssh": {"host": text(host), "port": port, "ssh_opts": ssh_opts, "ssh": ssh}}.get(str(transport), {})
            self.transport = create_transport(str(transport), workdir=workdir, timeout_s=timeout_s, **opts)

    # ---- running the binary ------------------------------------------------------------------------------
    def command(self, model_path: str, runs: int) -> str:
        """The shell command run on the device for ``runs`` timed inferences. Every option value in it is quoted
        word by word (see :func:`words`): a value can add arguments, never shell syntax."""
        parts = []
        for w in words(self.env, "env"):  # NAME=VALUE: the name is checked, the value quoted
            name, _, value = w.partition("=")
            parts.append(f"{name}={shlex.quote(value)}")
        if self.taskset:
            flag = "-c " if any(c in self.taskset for c in ",-") else ""
            parts.append(f"taskset {flag}{shlex.quote(self.taskset)}")
        parts.append(self.runtime.command(_quoted(self.binary, "binary"), model_path, self.threads, runs,
                                          self.protocol.warmup))
        if self.args:
            parts.append(_quoted(self.args, "args"))
        return f"cd {shlex.quote(self.transport.workdir)} && " + " ".join(parts)

    def run_binary(self, model_path: str, runs: int) -> BenchResult:
        cmd = self.command(model_path, runs)
        rc, out = self.transport.shell(cmd)
        if rc != 0:
            tail = "\n    ".join(out.strip().splitlines()[-10:]) or "(no output)"
            raise DeviceError(f"{self.transport.name}: the benchmark binary failed (exit {rc}) running\n    {cmd}\n"
                              f"  output:\n    {tail}", self.transport.name)
        try:
            return self.runtime.parse(out)
        except BenchParseError as exc:
            raise DeviceError(f"{self.transport.name}: {exc}", self.transport.name) from None

    def _push(self, module: nn.Module, shape: tuple[int, ...]) -> str:
        data = self.runtime.export(module, shape, self.cache_dir)

        name = "m-" + hashlib.sha1(data).hexdigest()[:16] + self.runtime.suffix
        return self.transport.push(data, name)

    # ---- Backend interface -------------------------------------------------------------------------------
    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        return _RemoteRunner(self, self._push(module.eval(), input_shape))

    def measure(self, module: nn.Module, input_shape: tuple[int, ...]) -> LatencyStats:
        shape = (self.batch, *input_shape[1:])
        path = self._push(module.eval(), shape)
        try:
            results = [self.run_binary(path, self.protocol.repeats) for _ in range(self.invocations)]
        finally:
            self.transport.remove(path)
        return combine(results)

    def extra_settings(self) -> dict[str, Any]:
        return {"runtime": self.runtime.name, "binary": self.binary.rsplit("/", 1)[-1], "taskset": self.taskset,
                "args": self.args, "invocations": self.invocations}

    def environment(self) -> dict[str, Any]:
        env = super().environment()
        env["host_cpu_model"] = env.get("cpu_model")
        env["device_model"] = self.device_name or self.transport.device_model()
        env["cpu_model"] = env["device_model"]
        env["gpu_model"] = None
        env["remote_target"] = self.transport.name
        return env

    def runtime_versions(self) -> dict[str, str]:
        v = {"remote_runtime": self.runtime.name, "remote_binary": self.binary}
        if self.runtime.name == "executorch":
            v["executorch_exporter"] = executorch_version()
        return v
