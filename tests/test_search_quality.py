"""benchmarks/search_quality.py: the statistics it reports (from small made-up shards, nothing is trained here)
and the SUMMARY.md rows built from them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import run_all  # noqa: E402
import search_quality as sq  # noqa: E402


def test_hypervolume_counts_only_what_beats_the_reference():
    assert sq.hypervolume([(1.0, 0.5)], ref_ms=2.0, ref_acc=0.1) == pytest.approx(0.4)
    # a dominated point adds nothing; a point slower than the reference adds nothing
    assert sq.hypervolume([(1.0, 0.5), (1.5, 0.4), (3.0, 0.9)], 2.0, 0.1) == pytest.approx(0.4)
    assert sq.hypervolume([(0.5, 0.3), (1.0, 0.5)], 2.0, 0.1) == pytest.approx(0.5 * 0.2 + 1.0 * 0.4)
    assert sq.hypervolume([], 2.0, 0.1) == 0


def _shards(tmp_path: Path, gain: float) -> Path:
    """Three seeds, two targets: random and grad-shared, grad-shared ``gain`` above random at every seed."""
    for seed in range(3):
        found, retrained = [], {}
        for t in (0.1, 0.2):
            for m, acc in (("random", 0.50 + 0.01 * seed), ("grad-shared", 0.50 + 0.01 * seed + gain)):
                arch = f"{m}-{t}-{seed}"
                found.append({"method": m, "target_ms": t, "arch": arch, "predicted_ms": t * 0.97})
                retrained[arch] = {"test_acc": acc, "inherited_test_acc": acc - 0.2}
        (tmp_path / f"seed{seed}.json").write_text(json.dumps({"seed": seed, "found": found, "retrained": retrained}))
    return tmp_path


def test_summary_pairs_seeds_and_gives_intervals(tmp_path):
    shards = _shards(tmp_path, gain=0.03)
    measured = {a: 0.099 for s in sq.load_shards(shards) for a in s["retrained"]}
    res = sq.summarise(shards, measured)
    g = next(e for e in res["per_target"] if e["method"] == "grad-shared" and e["target_ms"] == 0.1)
    assert g["n_seeds"] == 3 and g["minus_random"]["mean"] == pytest.approx(0.03)
    assert g["minus_random"]["ci95"][0] == pytest.approx(0.03)  # the same gain at every seed: no spread
    assert g["acc_ci95"][0] <= g["acc_mean"] <= g["acc_ci95"][1]
    assert g["measured_vs_target_max"] == pytest.approx(-0.01)
    assert res["hypervolume_ratio_to_random"]["grad-shared"]["mean"] > 1
    assert res["kendall_tau"]["n_pairs"] == 12 and res["kendall_tau"]["tau"] > 0.5


@pytest.mark.parametrize("gain, verdict", [(0.03, "pass"), (-0.03, "miss")])
def test_summary_rows_pass_only_when_the_interval_is_above_zero(tmp_path, gain, verdict):
    res = sq.summarise(_shards(tmp_path, gain), {})
    res["budget"] = {"name": "b", "n": 2000, "res": 16, "width": 0.25, "epochs": 10}
    text = run_all.section_search_quality(res)
    rows = [r for r in text.splitlines() if "grad-shared − random" in r]
    assert len(rows) == 2 and all(r.rstrip(" |").endswith(verdict) for r in rows)
