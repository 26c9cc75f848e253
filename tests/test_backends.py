from __future__ import annotations

import sys

import pytest
import torch

from hwnas.cli import main as cli_main
from hwnas.profilers import MissingRuntimeError, Protocol, create_backend, list_backends
from hwnas.profilers.ort_backend import export_onnx
from hwnas.space import build_model

FAST = Protocol(warmup=2, warmup_s=0.0, repeats=10, min_time_s=0.0)


def test_registry_lists_and_refuses_unknown():
    assert {"onnxruntime", "torch", "fake", "executorch", "remote"} <= set(list_backends())
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


def test_cuda_requested_without_cuda_is_a_clear_error(tiny, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises((MissingRuntimeError, ValueError), match="cuda"):
        create_backend("torch", device="cuda")
    # the command line turns it into one line naming the fix, not a traceback
    assert cli_main(["measure", "--space", "tiny", "--backend", "torch", "--device", "cuda",
                     "--arch", str(tiny.sample(0))]) == 2
    assert capsys.readouterr().err.startswith("hwnas: error: torch backend: device 'cuda'")


@pytest.mark.gpu
def test_torch_cuda_backend_times_with_events(tiny):
    b = create_backend("torch", device="cuda", protocol=FAST)
    st = b.measure(build_model(tiny.sample(0), tiny), (1, 3, 16, 16))
    assert st.median_ms > 0 and b.environment()["gpu_model"]


def test_unknown_backend_option_is_a_clear_error():
    with pytest.raises(ValueError, match="'onnxruntime' has no option 'frobnicate'"):
        create_backend("onnxruntime", frobnicate=1)


def test_ort_mobile_session_runs_ort_format_and_is_kept_apart(tmp_path, tiny):
    from hwnas.profilers import TableMismatchError, build_table

    mobile = create_backend("onnxruntime", mobile=True, protocol=FAST)
    assert mobile.extra_settings()["session"] == {"mobile": True, "ort_format": True, "opt_level": "basic",
                                                  "spinning": False}
    onnx = export_onnx(build_model(tiny.sample(0), tiny), (1, 3, 16, 16))
    assert mobile.to_ort_format(onnx)[4:8] == b"ORTM"  # an ORT-format flatbuffer
    keys = tiny.layer_keys()[:2]
    build_table(tiny, create_backend("onnxruntime", protocol=FAST), tmp_path / "t.csv", keys=keys, progress=False)
    with pytest.raises(TableMismatchError, match="session"):
        build_table(tiny, mobile, tmp_path / "t.csv", keys=keys, progress=False)
    t = build_table(tiny, mobile, tmp_path / "m.csv", keys=keys, progress=False)
    assert (t.rows.median_ms > 0).all()
    with pytest.raises(ValueError, match="opt_level"):
        create_backend("onnxruntime", opt_level="max")


def test_settle_waits_until_successive_medians_agree():
    from hwnas.profilers.protocol import settle

    times = iter([5.0] * 20 + [3.0] * 20 + [2.0] * 20 + [2.01] * 20 + [9.0] * 100)
    assert settle(lambda: next(times), chunk=20, tol=0.02, max_s=60) == 80  # 5 -> 3 -> 2 -> 2.01: settled
    flip = iter([1.0, 2.0] * 50)
    assert settle(lambda: next(flip), chunk=5, tol=0.0, max_s=0.0) == 5  # never settles: the time limit ends it


@pytest.mark.gpu
def test_torch_cuda_records_batch_and_settle(tiny):
    b = create_backend("torch", device="cuda", batch=4, protocol=FAST)
    st = b.measure(build_model(tiny.sample(0), tiny), (1, 3, 16, 16))
    s = b.settings()
    assert st.median_ms > 0 and s["batch"] == 4 and s["settle_tol"] > 0 and b.settle_runs_ >= 40


@pytest.mark.gpu
def test_ort_cuda_provider_when_present(tiny):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu not installed")
    b = create_backend("onnxruntime", device="cuda", protocol=FAST)
    assert b.measure(build_model(tiny.sample(0), tiny), (1, 3, 16, 16)).median_ms > 0
    assert b.runtime_versions()["providers"] == "CUDAExecutionProvider"


def test_unfolded_export_computes_what_the_module_computes(tiny):
    """The ORT backend exports without constant folding (its session folds and fuses Conv+BN when graph
    optimisation is on): the model must still compute the module's output, folded or not."""
    import numpy as np
    import onnxruntime as ort
    import torch

    model = build_model(tiny.sample(3), tiny).eval()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x).numpy()
    for fold in (True, False):
        sess = ort.InferenceSession(export_onnx(model, (1, 3, 16, 16), fold_constants=fold),
                                    providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], want, rtol=1e-4, atol=1e-5)


_FAULTS_PER_RUN = """
import resource, sys, torch
from torch import nn
from hwnas.profilers import Protocol, create_backend
b = create_backend("torch", protocol=Protocol(warmup=2, warmup_s=0.0, repeats=10, min_time_s=0.0),
                   steady_malloc=sys.argv[1] == "1")
net = nn.Sequential(nn.Conv2d(3, 48, 3, padding=1), nn.ReLU(), nn.Conv2d(48, 96, 1), nn.ReLU(),
                    nn.Conv2d(96, 96, 3, padding=1, groups=96), nn.Conv2d(96, 24, 1))
run = b.prepare(net, (1, 3, 112, 112))  # activations of 2.4-4.8 MB: above glibc's default mmap threshold
for _ in range(3):
    run()
assert torch.get_num_threads() == 1  # the whole run is on this thread
before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
for _ in range(10):
    run()
print((resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_torch_cpu_runs_do_not_fault_pages_in_and_the_setting_is_recorded(tmp_path, tiny):
    """Eager torch on CPU: after warm-up, a timed run must reuse the memory of the one before (no page faults),
    or a network's latency depends on the heap's history; the setting keeps tables apart."""
    import subprocess

    from hwnas.profilers import TableMismatchError, build_table

    b = create_backend("torch", protocol=FAST)
    assert b.extra_settings() == {"steady_malloc": True}
    # each in a fresh process, side by side: an absolute count failed in CI (118 faults per run with the setting,
    # where this machine counts 0 and the plain allocator ~5,100), so a machine can add faults of its own
    faults = {}
    for steady in ("1", "0"):
        proc = subprocess.run([sys.executable, "-c", _FAULTS_PER_RUN, steady], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        faults[steady] = float(proc.stdout.split()[-1])
    if faults["0"] < 1000:  # nothing to show where the plain allocator already reuses its memory
        pytest.skip(f"the plain allocator faults only {faults['0']:.0f} pages per run here (glibc: ~5,000)")
    assert faults["1"] < faults["0"] / 10, f"page faults per run: steady {faults['1']:.0f}, plain {faults['0']:.0f}"
    keys = tiny.layer_keys()[:2]
    build_table(tiny, b, tmp_path / "t.csv", keys=keys, progress=False)
    with pytest.raises(TableMismatchError, match="steady_malloc"):
        build_table(tiny, create_backend("torch", protocol=FAST, steady_malloc=False), tmp_path / "t.csv",
                    keys=keys, progress=False)
