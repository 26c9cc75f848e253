"""benchmarks/search_quality.py: the statistics it reports (from small made-up shards, nothing is trained here)
and the SUMMARY.md rows built from them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
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


def test_a_probe_run_at_one_target_is_reported_there_and_left_out_of_the_fronts(tmp_path):
    shards = _shards(tmp_path, gain=0.0)
    for seed in range(3):  # a recipe probe run at the first target only
        p = shards / f"seed{seed}.json"
        s = json.loads(p.read_text())
        arch = f"probe-{seed}"
        s["found"].append({"method": "grad-shared-warm6", "target_ms": 0.1, "arch": arch, "predicted_ms": 0.097})
        s["retrained"][arch] = {"test_acc": 0.6, "inherited_test_acc": 0.4}
        p.write_text(json.dumps(s))
    measured = {a: 0.099 for s in sq.load_shards(shards) for a in s["retrained"]}
    res = sq.summarise(shards, measured)
    probe = [e for e in res["per_target"] if e["method"] == "grad-shared-warm6"]
    assert [e["target_ms"] for e in probe] == [0.1] and probe[0]["n_seeds"] == 3
    assert "grad-shared-warm6" not in res["hypervolume_ratio_to_random"]
    assert "grad-shared" in res["hypervolume_ratio_to_random"]


def test_probe_configs_change_one_setting_of_their_method():
    for name, change in sq.PROBES.items():
        base = sq.method_config("grad-shared" if "-shared" in name else "grad", 0, quick=False)
        cfg = sq.method_config(name, 0, quick=False)
        assert cfg.supernet_weights == base.supernet_weights and cfg.method == "grad"
        differs = {k for k in ("warmup_epochs", "search_epochs", "arch_lr", "binary_mode", "latency_loss", "fill_band")
                   if getattr(cfg, k) != getattr(base, k)}
        assert differs == set(change), name
    warm, base = sq.method_config("grad-shared-warm6", 0, quick=False), sq.method_config("grad-shared", 0, quick=False)
    assert warm.warmup_epochs + warm.search_epochs == base.warmup_epochs + base.search_epochs  # same budget


def test_architecture_std_is_what_the_within_seed_spread_leaves_over_seed_noise():
    # two seeds, four networks at one target each: within-seed std 2 pp; with a seed std of 0 all of it is the
    # architecture's, with a seed std above it none is
    rows = [{"seed": s, "method": m, "target_ms": 0.1, "arch": f"{m}{s}", "test_acc": 0.5 + d}
            for s in (0, 1) for m, d in zip(("random", "grad", "rl", "evo"), (-0.02, 0.0, 0.0, 0.02), strict=True)]
    rows.append({"seed": 0, "method": "nni", "target_ms": 0.1, "arch": "n", "test_acc": 0.9})  # ignores the target
    spread = np.std([-0.02, 0, 0, 0.02], ddof=1)
    got = sq.architecture_std(rows, [0.1], sigma=0.0)["0.1"]
    assert got["within_seed_std"] == pytest.approx(spread) and got["arch_std"] == pytest.approx(spread)
    assert sq.architecture_std(rows, [0.1], sigma=0.05)["0.1"]["arch_std"] == 0.0


def test_headroom_separates_architecture_from_seed_spread_and_resumes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from hwnas.space.spaces import get_space

    space = get_space("proxyless-cifar")
    costs = SimpleNamespace(arch_ms=lambda a, _s: 0.5 + 0.01 * sum(space.indices(a)) / len(space.indices(a)))
    bias, calls = {}, []

    def fake_retrain(arch, _space, _data, cfg, **_kw):  # each network its own accuracy, ±0.01 by seed
        calls.append((str(arch), cfg.seed))
        b = bias.setdefault(str(arch), 0.02 * len(bias))
        return SimpleNamespace(test_acc=0.5 + b + (0.01 if cfg.seed else -0.01))

    monkeypatch.setattr(sq, "retrain", fake_retrain)
    budget = {"epochs": 1, "bs": 8, "lr": 0.1, "ls": 0.0}
    h = sq.headroom(space, costs, None, budget, 0.51, 3, [0, 1], tmp_path, log=lambda _m: None)["summary"]
    assert len(calls) == 6 and all(0.9 * 0.51 <= ms <= 0.51 for ms in h["predicted_ms"])
    assert h["seed_std"] == pytest.approx(np.std([-0.01, 0.01], ddof=1))
    # network means 0.50, 0.52, 0.54: var 0.0004, less the seed part 0.0002 / 2
    assert h["arch_std"] == pytest.approx(np.sqrt(0.0004 - 0.0002 / 2))
    assert h["best_minus_mean"] == pytest.approx(0.02)
    sq.headroom(space, costs, None, budget, 0.51, 3, [0, 1], tmp_path, log=lambda _m: None)
    assert len(calls) == 6  # nothing retrained twice
    res = sq.summarise(_shards(tmp_path, 0.0), {})  # the summary and SUMMARY.md carry it
    assert res["headroom"]["0.51"]["arch_std"] == pytest.approx(h["arch_std"])
    res["budget"] = {}
    assert f"{100 * h['arch_std']:.2f} / 1.41 / +2.00 pp" in run_all.section_search_quality(res)
    # the seeds rank the networks alike: the measured ceiling is 1
    assert res["ceiling"]["headroom"]["0.51"]["seed_pairs"] == [pytest.approx(1.0)]
    assert "+1.00 (mean +1.00)" in run_all.section_search_quality(res)


@pytest.mark.parametrize("sigma, two, perfect", [(0.0, 1.0, 1.0), (np.sqrt(0.0005), 1 / 3, 0.5), (0.1, 0.0, 0.0)])
def test_ceiling_is_what_seed_noise_leaves_of_the_networks_spread(tmp_path, sigma, two, perfect):
    # five networks, accuracy variance 0.001; a seed std of sqrt(0.0005) leaves half of it to the network:
    # normal scores then rank at (2/π)·asin(1/2) = 1/3 between two seeds, and a perfect score at asin(√½) → 1/2
    rows = [{"seed": 0, "arch": f"a{i}", "test_acc": 0.5 + 0.02 * i, "inherited_spos_test_acc": 0.3}
            for i in range(5)]
    assert np.var([r["test_acc"] for r in rows], ddof=1) == pytest.approx(0.001)
    c = sq.ceiling(rows, tmp_path, sigma)["kendall_tau_spos"]
    assert c["n"] == 5 and c["tau_two_seeds"] == pytest.approx(two) and c["tau_perfect_score"] == pytest.approx(perfect)
    assert "kendall_tau" not in sq.ceiling(rows, tmp_path, sigma)  # those networks were not scored one-shot
