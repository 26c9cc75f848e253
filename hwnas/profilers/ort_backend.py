"""ONNX Runtime backend: export to ONNX in memory, run with the CPU (or CUDA) execution provider.

``mobile=True`` runs it the way ONNX Runtime Mobile apps do: the model converted offline to ORT format
(``.ort``, basic graph optimisations baked in, as ``convert_onnx_models_to_ort`` does), loaded from that format,
with intra-op thread spinning off. Each of ``ort_format``, ``opt_level`` and ``spinning`` can also be set alone;
the session settings are recorded in the table, so tables built with others are refused.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .base import Backend, MissingRuntimeError, Runner, register_backend
from .protocol import settle


def export_onnx(module: nn.Module, input_shape: tuple[int, ...], opset: int = 17, *,
                fold_constants: bool = True) -> bytes:
    """Serialise ``module`` to ONNX bytes (TorchScript exporter: fast and dependency-free for these ops).

    ``fold_constants=False`` skips the exporter's constant folding, about 40% of the export time of a
    proxyless-mobile network (0.38 s instead of 0.67 s on the 2-core reference machine); a session with graph
    optimisation on (``basic`` and above) folds the same constants and fuses Conv+BatchNorm itself when it loads
    the model, so the timed graph is the same (8 networks, interleaved: latency ratio 0.98–1.03)."""
    buf = io.BytesIO()
    example = torch.zeros(input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=opset,
                              do_constant_folding=fold_constants, input_names=["input"], output_names=["output"])
        except TypeError:  # older torch without the ``dynamo`` keyword
            torch.onnx.export(module, (example,), buf, opset_version=opset, do_constant_folding=fold_constants,
                              input_names=["input"], output_names=["output"])
    return buf.getvalue()


OPT_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
              "all": "ORT_ENABLE_ALL"}


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # a core dependency, but say what to do
        raise MissingRuntimeError("onnxruntime is not installed: pip install onnxruntime") from exc
    return onnxruntime


class _OrtRunner(Runner):
    def __init__(self, session: Any, feed: dict[str, np.ndarray]):
        self.session, self.feed = session, feed

    def __call__(self) -> float:
        t0 = time.perf_counter()
        self.session.run(None, self.feed)
        return (time.perf_counter() - t0) * 1e3


class _OrtCudaRunner(Runner):
    """Input and output stay on the GPU (I/O binding), so host copies are not timed; ``run_with_iobinding``
    returns after the CUDA provider synchronised its stream."""

    def __init__(self, session: Any, x: np.ndarray):
        ort = _ort()
        self.session = session
        self.binding = session.io_binding()
        self.x = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
        self.binding.bind_ortvalue_input(session.get_inputs()[0].name, self.x)
        for out in session.get_outputs():
            self.binding.bind_output(out.name, "cuda")

    def __call__(self) -> float:
        t0 = time.perf_counter()
        self.session.run_with_iobinding(self.binding)
        return (time.perf_counter() - t0) * 1e3


@register_backend("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """``device='cpu'`` uses CPUExecutionProvider; ``device='cuda'`` uses CUDAExecutionProvider."""

    def __init__(self, *, opset: int = 17, mobile: bool = False, ort_format: bool | None = None,
                 opt_level: str | None = None, spinning: bool | None = None, **kw: Any):
        super().__init__(**kw)
        self.opset = opset
        self.mobile = bool(mobile)
        self.ort_format = bool(mobile if ort_format is None else ort_format)
        self.opt_level = str(opt_level or ("basic" if mobile else "all"))
        if self.opt_level not in OPT_LEVELS:
            raise UsageError(f"onnxruntime backend: opt_level must be one of {', '.join(OPT_LEVELS)}, "
                             f"got {self.opt_level!r}")
        self.spinning = bool(not mobile if spinning is None else spinning)
        ort = _ort()
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise MissingRuntimeError(
                    "ONNX Runtime's CUDA execution provider is not available: pip install onnxruntime-gpu")
            self.providers = ["CUDAExecutionProvider"]
        elif self.device == "cpu":
            self.providers = ["CPUExecutionProvider"]
        else:
            raise UsageError(f"onnxruntime backend: unknown device {self.device!r} (use 'cpu' or 'cuda')")

    def warm_up(self, runner: Runner) -> None:
        if self.device.startswith("cuda"):  # GPU clocks: warm up until successive medians agree
            settle(runner)

    def _options(self) -> Any:
        ort = _ort()
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[self.opt_level])
        so.log_severity_level = 3
        if not self.spinning:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return so

    def to_ort_format(self, model_bytes: bytes) -> bytes:
        """Convert an ONNX model to ORT format with this backend's optimisation level (as ONNX Runtime
        Mobile's converter does, but in memory)."""
        ort = _ort()
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[self.opt_level])
        so.log_severity_level = 3
        with tempfile.TemporaryDirectory(prefix="hwnas-ort-") as d:
            path = os.path.join(d, "model.ort")
            so.optimized_model_filepath = path
            so.add_session_config_entry("session.save_model_format", "ORT")
            ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
            with open(path, "rb") as fh:
                return fh.read()

    def session(self, model_bytes: bytes) -> Any:
        ort = _ort()
        so = self._options()
        if self.ort_format:
            model_bytes = self.to_ort_format(model_bytes)
            so.add_session_config_entry("session.load_model_format", "ORT")
        return ort.InferenceSession(model_bytes, so, providers=self.providers)

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        sess = self.session(export_onnx(module, input_shape, self.opset, fold_constants=self.opt_level == "disable"))
        x = np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32)
        if self.device.startswith("cuda"):
            return _OrtCudaRunner(sess, x)
        inputs = sess.get_inputs()  # none when the output does not depend on the input
        return _OrtRunner(sess, {inputs[0].name: x} if inputs else {})

    def extra_settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"opset": self.opset}
        session = {"ort_format": self.ort_format, "opt_level": self.opt_level, "spinning": self.spinning}
        if session != {"ort_format": False, "opt_level": "all", "spinning": True} or self.mobile:
            out["session"] = {"mobile": self.mobile, **session}  # absent for the default, so older tables resume
        if self.device.startswith("cuda"):
            out["warmup"] = "settle"
        return out

    def runtime_versions(self) -> dict[str, str]:
        return {"onnxruntime": _ort().__version__, "providers": ",".join(self.providers)}
