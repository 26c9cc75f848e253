"""benchmarks/gpu_check.py: refuses clearly without CUDA; its CPU dry run exercises the same code paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _run(*args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args, "-o", str(tmp_path / "g.json")], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_without_cuda_it_says_so_and_exits_2(tmp_path):
    r = _run(tmp_path=tmp_path)
    assert r.returncode == 2 and "no CUDA device" in r.stderr and "--device cpu --quick" in r.stderr
    assert not (tmp_path / "g.json").exists()


def test_cpu_dry_run_of_the_search_step_and_retrain_sections(tmp_path):
    r = _run("--device", "cpu", "--quick", "--only", "search_step", "retrain_throughput", "--batch", "4", "--steps",
             "1", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "g.json").read_text())
    assert res["dry_run"] is True
    step = res["sections"]["search_step"]
    assert {(row["mode"], row["candidates"]) for row in step["rows"]} >= {("two", 12), ("full_v2", 6), ("darts", 12)}
    assert all(r["amortised_time_vs_child"] > 0 for r in step["ratios"])
    thr = res["sections"]["retrain_throughput"]
    assert thr["hwnas_images_s"] > 0 and thr["plain_images_s"] > 0
