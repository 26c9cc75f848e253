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


def test_cpu_dry_run_of_the_search_step_and_speed_sections(tmp_path):
    r = _run("--device", "cpu", "--quick", "--only", "search_step", "speed", "--batch", "4", "--steps", "1",
             "--work", str(tmp_path / "w"), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "g.json").read_text())
    assert res["dry_run"] is True
    step = res["sections"]["search_step"]
    assert {(row["mode"], row["candidates"]) for row in step["rows"]} >= {("two", 12), ("full_v2", 6), ("darts", 12)}
    assert all(r["amortised_time_vs_child"] > 0 for r in step["ratios"])
    speed = res["sections"]["speed"]
    assert speed["retrain_vs_plain"] > 0 and speed["search_weight_steps_vs_plain"] > 0
    assert speed["child_step_ms"]["fp32"] > 0


@pytest.mark.slow
def test_cpu_dry_run_of_every_section_through_the_cli(tmp_path):
    """The whole script on the CPU (about 4 minutes here): the CLI path (profile, search, retrain --inherit,
    export, resume on another device, pareto, a model-space search), both latency tables and the predictor."""
    r = _run("--device", "cpu", "--quick", "--work", str(tmp_path / "w"), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    sections = json.loads((tmp_path / "g.json").read_text())["sections"]
    assert set(sections) == {"cli_path", "methods", "latency_table", "predictor", "search_step", "speed"}
    assert not any("error" in s for s in sections.values()), sections
    cli = sections["cli_path"]
    assert cli["all_ok"] and cli["search_epochs_logged"] == 3 and cli["resumed_on_cpu_epochs_logged"] == 4
    assert all(step["command"].startswith("hwnas ") for step in cli["steps"])
    assert sections["predictor"]["held_out"] == 8
    assert sections["methods"]["all_ok"] and set(sections["methods"]["runs"]) == {
        "grad", "rl", "darts", "gdas", "gumbel", "enas", "spos", "ofa", "evolution"}


def test_each_section_is_written_as_it_ends(tmp_path):
    """A budget already spent skips every section, and the file still says so."""
    r = _run("--device", "cpu", "--quick", "--budget-s", "0", "--work", str(tmp_path / "w"), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    sections = json.loads((tmp_path / "g.json").read_text())["sections"]
    assert all("skipped" in s for s in sections.values()) and len(sections) == 6
