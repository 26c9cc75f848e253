"""Every backend runs the same conformance suite (hwnas.testing.backends)."""

from __future__ import annotations

import importlib.util

import pytest

from hwnas.profilers import QUICK, create_backend
from hwnas.profilers.standin_perf_test import command as standin_command
from hwnas.testing.backends import BackendConformance


class TestFakeBackend(BackendConformance):
    @pytest.fixture
    def backend(self):
        return create_backend("fake", protocol=QUICK)


class TestOnnxRuntimeBackend(BackendConformance):
    @pytest.fixture
    def backend(self):
        return create_backend("onnxruntime", threads=1, protocol=QUICK)


class TestOnnxRuntimeMobileBackend(BackendConformance):
    @pytest.fixture
    def backend(self):
        return create_backend("onnxruntime", threads=1, protocol=QUICK, mobile=True)


class TestTorchBackend(BackendConformance):
    @pytest.fixture
    def backend(self):
        return create_backend("torch", threads=1, protocol=QUICK)


@pytest.mark.skipif(importlib.util.find_spec("executorch") is None, reason="executorch not installed (mobile extra)")
class TestExecuTorchBackend(BackendConformance):
    @pytest.fixture
    def backend(self):
        return create_backend("executorch", threads=1, protocol=QUICK)


class TestRemoteBackendLocalTransport(BackendConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        return create_backend("remote", transport="local", workdir=str(tmp_path / "dev"), binary=standin_command(),
                              protocol=QUICK)
