"""Issue 24: GPU latency tables that repeat -- blocked samples of CUDA-graph replays, the GPU's state kept with the
table. The blocking and the bookkeeping are plain Python and run here; the CUDA parts run under ``-m gpu``."""

from __future__ import annotations

import subprocess

import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.profilers import create_backend
from hwnas.profilers.build import build_table
from hwnas.profilers.environment import GPU_QUERY, gpu_state
from hwnas.profilers.torch_backend import BlockedRunner


class _Clock:
    """A stopwatch over a fake time line that each step advances by ``per_step`` ms (plus a fixed overhead per
    sample, as a CUDA event pair and a synchronisation cost)."""

    def __init__(self, per_step: float, overhead: float):
        self.now, self.per_step, self.overhead = 0.0, per_step, overhead

    def step(self) -> None:
        self.now += self.per_step

    def __call__(self):
        t0 = self.now

        def stop() -> float:
            return self.now - t0 + self.overhead

        return t0, stop


def test_blocked_samples_amortise_the_per_sample_overhead():
    clock = _Clock(per_step=0.05, overhead=0.03)  # a 0.05 ms layer, 0.03 ms of event / sync overhead per sample
    runner = BlockedRunner(clock.step, clock, sample_ms=2.0)
    assert runner.calibrate() == 25  # ceil(2 ms / 0.08 ms measured for one replay)
    per_replay = runner()
    assert per_replay == pytest.approx(0.05 + 0.03 / 25)  # within 2.4% of the layer; a single run: +60%
    capped = BlockedRunner(_Clock(1e-6, 0.0).step, _Clock(1e-6, 0.0), sample_ms=2.0, max_replays=100)
    assert capped.calibrate() == 100


def test_gpu_state_reads_nvidia_smi_and_is_empty_without_it():
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout="1980, 3201, 1980, 412.5, 700.00, P0, 41, 0x0000000000000000\n")

    state = gpu_state("cuda:1", run=fake_run)
    assert calls[0][0] == "nvidia-smi" and calls[0][-2:] == ["-i", "1"]  # an argument list: no shell
    assert state["clocks.sm"] == 1980.0 and state["pstate"] == "P0" and state["power.draw"] == 412.5
    assert set(GPU_QUERY) <= set(state) and "date" in state

    def missing(cmd, **kw):
        raise FileNotFoundError("nvidia-smi")

    assert gpu_state("cuda", run=missing) == {}
    assert gpu_state("cuda", run=lambda cmd, **kw: subprocess.CompletedProcess(cmd, 9, stdout="")) == {}


def test_a_table_keeps_the_device_state_after_warm_up_and_at_the_end(tiny, tmp_path, monkeypatch):
    backend = create_backend("fake")
    readings = iter(range(100))
    monkeypatch.setattr(backend, "device_state", lambda: {"clocks.sm": float(1900 + next(readings))})
    table = build_table(tiny, backend, tmp_path / "t.csv", progress=False)
    notes = table.meta["device_state"]
    assert [n["when"] for n in notes] == ["first", "last"]
    assert notes[0]["rows"] == 1 and notes[1]["rows"] == len(tiny.layer_keys())
    assert notes[0]["clocks.sm"] == 1900.0 and notes[1]["clocks.sm"] == 1901.0
    # a table whose backend reports nothing (a CPU) gets no such field
    plain = build_table(tiny, create_backend("fake"), tmp_path / "u.csv", progress=False)
    assert "device_state" not in plain.meta


def test_torch_backend_timing_settings_are_checked_and_cpu_tables_keep_their_settings():
    with pytest.raises(HwnasError, match="timing must be"):
        create_backend("torch", timing="wallclock")
    with pytest.raises(HwnasError, match="sample_ms"):
        create_backend("torch", sample_ms=0)
    cpu = create_backend("torch")
    assert "timing" not in cpu.settings() and cpu.device_state() == {}


@pytest.mark.gpu
def test_cuda_graph_timing_and_eager_fallback():
    class HostSync(torch.nn.Module):  # .item() inside forward cannot be captured in a graph
        def forward(self, x):
            return x * float(x.sum().item() > 0)

    backend = create_backend("torch", device="cuda", clock_warmup_s=0.2, settle_max_s=0.5)
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    stats = backend.measure(conv, (1, 16, 56, 56))
    assert stats.median_ms > 0 and backend.graph_fallbacks_ == 0
    assert backend.measure(HostSync(), (1, 16, 8, 8)).median_ms > 0 and backend.graph_fallbacks_ == 1
    assert backend.settings()["timing"] == "cuda_graph" and backend.device_state().get("clocks.sm", 1) > 0
