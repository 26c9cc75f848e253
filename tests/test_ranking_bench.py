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


def test_model_space_budget_sizes_each_choice_by_its_macs():
    """A model-space budget builds its space from the factory, and the sandwich's largest and smallest paths are
    ordered by each candidate's own MACs (identity and pool cost nothing, 5x5 the most)."""
    cfg = ranking.budget_of("chain-quick")
    space = ranking.space_for(cfg)
    assert space.kind == "model" and space.choice_labels()[0] == ("conv1", "conv3", "conv5", "pool", "skip")
    costs = ranking.size_costs(space)
    for c in costs.costs:
        assert c[3] == c[4] == 0.0 and 0.0 < c[0] < c[1] < c[2]
    # the cost of a network is its MACs, up to the constant of the layers outside the choices
    a, b = space.from_indices([2, 0, 1, 3, 4, 2]), space.from_indices([4, 4, 4, 4, 4, 4])
    assert costs.arch_ms(a, space) - costs.arch_ms(b, space) == space.macs(a) - space.macs(b)


def test_recipe_labels_name_longer_supernets_and_skip_other_budgets(tmp_path):
    for name in ("supernet-b-uniform-seed0.json", "supernet-b-uniform-e60-seed0.json",
                 "supernet-b-sandwich-e48-seed1.json", "supernet-b-distort-uniform-seed0.json",
                 "supernet-b-e5-uniform-seed0.json", "supernet-b-e5-seed0.json", "retrain-b-seed0.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "supernet-b-uniform-e60-bn0-seed0.json").write_text("{}")
    assert ranking.recipe_labels(tmp_path, "b") == ["uniform", "uniform-e60", "uniform-e60-bn0", "sandwich-e48"]
    assert ranking.recipe_label("uniform", 60, 0) == "uniform-e60-bn0"
    assert ranking.recipe_label("uniform", ranking.SUPERNET_EPOCHS) == "uniform"
    assert ranking.recipe_label("uniform", 60) == "uniform-e60"


def test_search_quality_model_pairs_each_method_with_random_by_seed(tmp_path):
    import search_quality_model as sqm

    (tmp_path / "costs.json").write_text(json.dumps({"range_ms": [0.01, 0.05], "source": "made up", "costs": {}}))
    for seed, (rand, evo, grad) in enumerate([(0.80, 0.83, 0.82), (0.70, 0.72, 0.73)]):
        arch = {m: f"b.1={'skip' if m == 'random' else 'conv5'};b.2=conv3;tag={m}{seed}"
                for m in ("random", "spos-evolution", "grad")}
        found = [{"method": m, "target_ms": 0.02, "arch": a, "predicted_ms": 0.0196,
                  "target_s": 1.0, "supernet_train_s": 40.0} for m, a in arch.items()]
        retrained = {arch["random"]: {"test_acc": rand}, arch["spos-evolution"]: {"test_acc": evo},
                     arch["grad"]: {"test_acc": grad}}
        (tmp_path / f"seed{seed}.json").write_text(json.dumps({"seed": seed, "budget": "b", "found": found,
                                                               "retrained": retrained}))
    res = sqm.summarise(tmp_path)
    evo = res["targets"][0]["methods"]["spos-evolution"]
    # paired by seed: +3 and +2 pp over random, +1 and -1 pp against the gradient search
    assert evo["minus_random_pp"][0] == pytest.approx(2.5) and evo["minus_random_pp"][1] >= 2.0 - 1e-9
    assert evo["minus_grad_pp"][0] == pytest.approx(0.0, abs=1e-9)
    assert evo["predicted_vs_target"] == pytest.approx(-0.02)
    # DARTS's collapse shows as the share of parameter-free choices: one in three of random's, none of evolution's
    assert res["targets"][0]["methods"]["random"]["param_free_share"] == pytest.approx(1 / 3)
    assert evo["param_free_share"] == 0
    text = run_all.section_search_quality_model(res)
    rows = [ln for ln in text.splitlines() if "spos-evolution − random" in ln]
    assert len(rows) == 1 and rows[0].rstrip(" |").endswith("pass")
    assert "2.5%" in text  # a target's evolution against the supernet's training: 1 s of 40 s
    # each comparison draws its own bootstrap: another method in the shards moves no interval
    for seed in (0, 1):
        shard = json.loads((tmp_path / f"seed{seed}.json").read_text())
        shard["found"].append({"method": "random-band", "target_ms": 0.02, "arch": f"band{seed}",
                               "predicted_ms": 0.0199})
        shard["retrained"][f"band{seed}"] = {"test_acc": 0.5 + 0.1 * seed}
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(shard))
    again = sqm.summarise(tmp_path)["targets"][0]["methods"]["spos-evolution"]
    assert again["minus_random_pp"] == evo["minus_random_pp"] and again["minus_grad_pp"] == evo["minus_grad_pp"]
    # a variant's target cost is reported as the method's own
    variant = dict(res["targets"][0]["methods"]["spos-evolution"], seeds=1)
    res["targets"][0]["methods"]["spos-evolution-mlp"] = {**variant, "target_s": 0.2}
    assert "spos-evolution-mlp, a target's search on the trained supernet" in run_all.section_search_quality_model(res)


def test_search_quality_model_reports_latency_against_the_drifted_target(tmp_path):
    """The machine ran 5% faster when the networks were measured than when the latency model was: the networks
    found 0.5% under the target measure 5.5% under it, and within 1% of the target moved by the drift."""
    import search_quality_model as sqm

    (tmp_path / "costs.json").write_text(json.dumps({"range_ms": [0.01, 0.05], "source": "made up", "costs": {}}))
    for seed in (0, 1):
        arch = f"b.1=conv3;tag={seed}"
        (tmp_path / f"seed{seed}.json").write_text(json.dumps({
            "seed": seed, "budget": "b", "retrained": {arch: {"test_acc": 0.8}},
            "found": [{"method": "grad", "target_ms": 0.02, "arch": arch, "predicted_ms": 0.0199}]}))
    (tmp_path / "measured.json").write_text(json.dumps({"b.1=conv3;tag=0": 0.0189, "b.1=conv3;tag=1": 0.0189}))
    res = sqm.summarise(tmp_path)
    grad = res["targets"][0]["methods"]["grad"]
    assert grad["measured_within_5pct"] == [0, 2] and "measured_vs_drifted_target" not in grad
    (tmp_path / "measured-anchors.json").write_text(json.dumps({"column": "min_ms", "anchors": {"x": 1.0},
                                                                "drift": 0.95, "drift_p10_p90": [0.94, 0.96]}))
    res = sqm.summarise(tmp_path)
    grad = res["targets"][0]["methods"]["grad"]
    assert grad["measured_vs_drifted_target"][1] == pytest.approx(0.0189 / 0.02 / 0.95 - 1)
    assert grad["measured_within_5pct_of_drifted"] == [2, 2] and res["machine_drift"]["median"] == 0.95
    text = run_all.section_search_quality_model(res)
    assert "0 of 2 within ±5%" in text and "2 of 2 (mean -0.5%) against the target moved by the drift" in text
    assert "measured -5.0% against when the model was made" in text


def test_search_quality_model_variants_spell_out_the_defaults_they_were_measured_with():
    """The search's defaults changed after most variants were measured: each spells out the settings it ran with
    (population 100, bn=recalibrate), so running it again gives its rows again, and it is paired with the default
    of its time (with the same pick)."""
    import search_quality_model as sqm

    for name, v in sqm.VARIANTS.items():
        if name == "spos-evolution-e200":  # the defaults since, on a longer-trained supernet
            assert v["search_args"] == {} and v["config"] == {}
            continue
        assert v["search_args"]["bn"] == ("batch" if "bnbatch" in name else "recalibrate"), name
        assert "population" in v["config"].get("arch_optim_args", {}) or v["config"].get("arch_optim") == "grid", name
    assert sqm.reference_of("spos-evolution-grid-tie0") == "spos-evolution-tie0"
    assert sqm.reference_of("spos-evolution-tie0") == "spos-evolution-recal100"
    assert sqm.reference_of("spos-evolution-bnbatch-pop50") == "spos-evolution-recal100"


def test_scoring_cost_summary_names_each_way_of_scoring_with_its_cost():
    res = {"budget": "b", "networks": 40, "supernet_seeds": [0, 1], "held_out_images": 400, "modes": {
        "calib10": {"kendall_tau_mean": 0.58, "kendall_ci": [0.43, 0.70], "kendall_tau_within_size_mean": 0.32,
                    "ms_per_score_median": 73.6},
        "batch": {"kendall_tau_mean": 0.57, "kendall_ci": [0.43, 0.70], "kendall_tau_within_size_mean": 0.35,
                  "ms_per_score_median": 30.4, "cost_ratio_to_calib10": 0.41,
                  "tau_minus_calib10": {"mean": -0.005, "min": -0.05, "max": 0.04}}}}
    text = run_all.section_scoring_cost(res)
    row = next(ln for ln in text.splitlines() if ln.startswith("| batch:"))
    assert "30.4 ms a score" in row and "0.41x calib10's time" in row and "0.570 [0.430–0.700]" in row
    assert run_all.section_scoring_cost({"modes": {}}) is None
