"""ONNX Runtime backend: export to ONNX in memory, run with the CPU (or CUDA) execution provider."""

from __future__ import annotations

import io
import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Backend, MissingRuntimeError, Runner, register_backend


def export_onnx(module: nn.Module, input_shape: tuple[int, ...], opset: int = 17) -> bytes:
    """Serialise ``module`` to ONNX bytes (TorchScript exporter: fast and dependency-free for these ops)."""
    buf = io.BytesIO()
    example = torch.zeros(input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"])
        except TypeError:  # older torch without the ``dynamo`` keyword
            torch.onnx.export(module, (example,), buf, opset_version=opset,
                              input_names=["input"], output_names=["output"])
    return buf.getvalue()


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # a core dependency, but say what to do
        raise MissingRuntimeError("onnxruntime is not installed: pip install onnxruntime") from exc
    return onnxruntime


class _OrtRunner(Runner):
    def __init__(self, session: Any, feed: dict[str, np.ndarray], sync: Any = None):
        self.session, self.feed = session, feed

    def __call__(self) -> float:
        t0 = time.perf_counter()
        self.session.run(None, self.feed)
        return (time.perf_counter() - t0) * 1e3


@register_backend("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """``device='cpu'`` uses CPUExecutionProvider; ``device='cuda'`` uses CUDAExecutionProvider."""

    def __init__(self, *, opset: int = 17, **kw: Any):
        super().__init__(**kw)
        self.opset = opset
        ort = _ort()
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise MissingRuntimeError(
                    "ONNX Runtime's CUDA execution provider is not available: pip install onnxruntime-gpu")
            self.providers = ["CUDAExecutionProvider"]
        elif self.device == "cpu":
            self.providers = ["CPUExecutionProvider"]
        else:
            raise ValueError(f"onnxruntime backend: unknown device {self.device!r} (use 'cpu' or 'cuda')")

    def session(self, model_bytes: bytes) -> Any:
        ort = _ort()
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        return ort.InferenceSession(model_bytes, so, providers=self.providers)

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        sess = self.session(export_onnx(module, input_shape, self.opset))
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32)}
        return _OrtRunner(sess, feed)

    def extra_settings(self) -> dict[str, Any]:
        return {"opset": self.opset}

    def runtime_versions(self) -> dict[str, str]:
        return {"onnxruntime": _ort().__version__, "providers": ",".join(self.providers)}
