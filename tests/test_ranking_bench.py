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
    # the goal's τ is against the mean of two seeds: a perfect score does better there than one seed does against
    # another, and the seed std is read back from the paired differences
    assert quiet["ceiling"]["tau_perfect_vs_mean_estimate"] == pytest.approx(1.0)
    assert noisy["ceiling"]["kendall_tau"] < noisy["ceiling"]["tau_perfect_vs_mean_estimate"] < 1.0
    assert noisy["ceiling"]["seed_std"] == pytest.approx(0.05, rel=0.5)
    assert quiet["recipes"]["uniform"]["kendall_tau_mean"] == pytest.approx(-1.0)
    # among networks of about the same size the made-up supernet still orders them against training
    assert quiet["recipes"]["uniform"]["kendall_tau_within_size_mean"] == pytest.approx(-1.0)
    with pytest.raises(SystemExit, match="only 1 networks retrained with both seeds"):
        ranking.summarise(tmp_path, "r16-w25-n2k-e5")
    text = run_all.section_ranking({"budgets": {"r16-w50-n2k-e5": quiet, "r16-w25-n2k-e3": noisy}})
    ceilings = [ln for ln in text.splitlines() if "ceiling" in ln]
    assert len(ceilings) == 2 and ceilings[0].rstrip(" |").endswith("pass") and ceilings[1].rstrip(" |").endswith("miss")
    assert "`r16-w50-n2k-e5`" in text and "10 CPU-s a network" in text
    assert "a perfect score against the mean of the two seeds" in text and "its τ vs MACs +1.00" in text
    # a ranking.json of one budget, as written before, still reads
    assert "r16-w50-n2k-e5" in run_all.section_ranking(quiet)


def test_tau_within_size_keeps_what_size_does_not_explain():
    rng = np.random.default_rng(3)
    macs, own = rng.standard_normal(400), rng.standard_normal(400)
    noise = rng.standard_normal((2, 400))
    # both follow size, and share a part of their own: the partial τ keeps that part, the plain τ adds size's
    shared = ranking.kendall_within_size(macs + own + noise[0], macs + own + noise[1], macs, bins=40)
    assert 0.2 < shared < ranking.kendall(macs + own + noise[0], macs + own + noise[1])
    # both follow size and nothing else they share: plainly correlated, but nothing among networks of one size
    size_only = ranking.kendall_within_size(macs + noise[0], macs + noise[1], macs, bins=40)
    assert ranking.kendall(macs + noise[0], macs + noise[1]) > 0.3 and abs(size_only) < 0.1
