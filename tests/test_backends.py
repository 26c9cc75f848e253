from __future__ import annotations

import pytest
import torch

from hwnas.profilers import Protocol, create_backend, list_backends
from hwnas.space import build_model

FAST = Protocol(warmup=2, warmup_s=0.0, repeats=10, min_time_s=0.0)


def test_registry_lists_and_refuses_unknown():
    assert {"onnxruntime", "torch", "fake"} <= set(list_backends())
    with pytest.raises(KeyError, match="available: .*onnxruntime"):
        create_backend("tflite-on-a-toaster")


@pytest.mark.parametrize("name", ["onnxruntime", "torch"])
def test_real_backends_time_a_real_model(name, tiny):
    b = create_backend(name, threads=1, protocol=FAST)
    small = b.measure(build_model(tiny.uniform(tiny.candidates[0]), tiny), (1, 3, 16, 16))
    big = b.measure(build_model(tiny.uniform(tiny.candidates[-1]), tiny), (1, 3, 64, 64))
    assert 0 < small.min_ms <= small.median_ms <= small.p90_ms
    assert small.n_raw >= 10
    assert big.median_ms > small.median_ms  # 16x the pixels and larger candidates take longer


def test_settings_and_environment_are_recorded():
    b = create_backend("onnxruntime", threads=2)
    s, env = b.settings(), b.environment()
    assert s["backend"] == "onnxruntime" and s["threads"] == 2 and s["protocol"]["repeats"] >= 1
    assert env["onnxruntime"] and env["torch"] and env["device_model"] and env["hwnas"]


def test_fake_backend_is_deterministic_and_structural(tiny, fake):
    m = build_model(tiny.sample(0), tiny)
    a, b = fake.measure(m, (1, 3, 16, 16)), fake.measure(m, (1, 3, 16, 16))
    assert a == b
    assert fake.measure(m, (1, 3, 32, 32)).median_ms > a.median_ms


def test_cuda_requested_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(RuntimeError, match="cuda"):
        create_backend("torch", device="cuda")


@pytest.mark.gpu
def test_torch_cuda_backend_times_with_events(tiny):
    b = create_backend("torch", device="cuda", protocol=FAST)
    st = b.measure(build_model(tiny.sample(0), tiny), (1, 3, 16, 16))
    assert st.median_ms > 0 and b.environment()["gpu_model"]
