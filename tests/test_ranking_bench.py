"""benchmarks/ranking.py (issue 25): the ceiling and each recipe's τ per budget, from small made-up shards (nothing is
trained here), every budget measured kept in ranking.json, and the SUMMARY.md rows built from it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import ranking  # noqa: E402
import run_all  # noqa: E402


def _shards(out: Path, budget: str, noise: float, n: int = 12) -> None:
    """Two retraining seeds of n networks whose accuracy falls with MACs, each seed off by ``noise`` at random; one
    uniform supernet that scores them by MACs (the bigger, the better: the opposite order)."""
    rng = np.random.default_rng(0)
    archs = [f"a{i}" for i in range(n)]
    for seed in (0, 1):
        runs = {a: {"test_acc": 0.8 - 0.01 * i + noise * rng.standard_normal(), "macs": 1000 * (i + 1),
                    "cpu_seconds": 10.0, "seconds": 11.0} for i, a in enumerate(archs)}
        (out / f"retrain-{budget}-seed{seed}.json").write_text(json.dumps({"budget": budget, "seed": seed,
                                                                           "runs": runs}))
    (out / f"supernet-{budget}-uniform-seed0.json").write_text(json.dumps(
        {"seed": 0, "epochs": 3, "train_cpu_s": 5.0, "score_s": 1.0,
         "scores": {a: 0.3 + 0.01 * i for i, a in enumerate(archs)}}))


def test_ceiling_and_recipe_tau_per_budget(tmp_path):
    _shards(tmp_path, "r16-w50-n2k-e5", noise=0.0)
    _shards(tmp_path, "r16-w25-n2k-e3", noise=0.05)
    # a budget still being retrained (its seeds hold different networks so far) is left out of the summary
    for seed, runs in ((0, {"a0": 1, "a1": 2}), (1, {"a0": 1})):
        (tmp_path / f"retrain-r16-w25-n2k-e5-seed{seed}.json").write_text(json.dumps(
            {"budget": "r16-w25-n2k-e5", "seed": seed, "runs": {k: {"test_acc": v} for k, v in runs.items()}}))
    assert ranking.budgets_in(tmp_path) == {"r16-w50-n2k-e5", "r16-w25-n2k-e3"}
    quiet, noisy = ranking.summarise(tmp_path, "r16-w50-n2k-e5"), ranking.summarise(tmp_path, "r16-w25-n2k-e3")
    assert quiet["ceiling"]["kendall_tau"] == pytest.approx(1.0) and quiet["retrain_vs_macs"] == pytest.approx(-1.0)
    assert noisy["ceiling"]["kendall_tau"] < 0.7
    assert quiet["recipes"]["uniform"]["kendall_tau_mean"] == pytest.approx(-1.0)
    with pytest.raises(SystemExit, match="only 1 networks retrained with both seeds"):
        ranking.summarise(tmp_path, "r16-w25-n2k-e5")
    text = run_all.section_ranking({"budgets": {"r16-w50-n2k-e5": quiet, "r16-w25-n2k-e3": noisy}})
    ceilings = [ln for ln in text.splitlines() if "ceiling" in ln]
    assert len(ceilings) == 2 and ceilings[0].rstrip(" |").endswith("pass") and ceilings[1].rstrip(" |").endswith("miss")
    assert "`r16-w50-n2k-e5`" in text and "10 CPU-s a network" in text
    # a ranking.json of one budget, as written before, still reads
    assert "r16-w50-n2k-e5" in run_all.section_ranking(quiet)
