from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hwnas.pareto.fronts import front, hypervolume, pareto_mask, summarise


def test_front_keeps_only_non_dominated_points():
    lat = [1.0, 2.0, 3.0, 2.5, 1.5]
    acc = [0.5, 0.7, 0.9, 0.6, 0.5]
    assert pareto_mask(lat, acc).tolist() == [True, True, True, False, False]
    fl, fa = front(lat, acc)
    assert fl.tolist() == [1.0, 2.0, 3.0] and fa.tolist() == [0.5, 0.7, 0.9]


def test_hypervolume_of_a_known_staircase():
    # points (1, .5), (2, .7), (3, .9); reference (4, 0): .5*1 + .7*1 + .9*1
    assert hypervolume([1, 2, 3], [0.5, 0.7, 0.9], ref_latency_ms=4.0) == pytest.approx(2.1)
    # a dominated point adds nothing; points beyond the reference add nothing
    assert hypervolume([1, 2, 3, 2.5, 5], [0.5, 0.7, 0.9, 0.6, 1.0], ref_latency_ms=4.0) == pytest.approx(2.1)
    assert hypervolume([5], [1.0], ref_latency_ms=4.0) == 0.0


def test_a_dominating_method_has_the_larger_hypervolume():
    rng = np.random.default_rng(0)
    lat = rng.uniform(1, 10, 30)
    base = pd.DataFrame({"method": "random", "measured_ms": lat, "accuracy": 0.5 + 0.04 * lat})
    better = pd.DataFrame({"method": "search", "measured_ms": lat, "accuracy": 0.55 + 0.04 * lat})
    s = summarise(pd.concat([base, better])).set_index("method")
    assert s.loc["search", "hypervolume"] > s.loc["random", "hypervolume"]
    assert s.loc["random", "front"] == 30  # a monotone cloud is all front


def test_figures_render(tmp_path, tiny, fake):
    from hwnas.pareto.figures import alpha_evolution, pareto_plot
    from hwnas.profilers import build_table
    from hwnas.profilers.plots import table_heatmap

    pts = pd.DataFrame({"method": ["a", "a", "b"], "measured_ms": [1.0, 2.0, 1.5], "accuracy": [0.5, 0.8, 0.6]})
    assert pareto_plot(pts, tmp_path / "p.png", targets_ms=[1.2], device="cpu").stat().st_size > 5000
    probs = [np.tile([0.5, 0.5], (3, 1)), np.array([[0.2, 0.8], [0.1, 0.9], [0.0, 1.0]])]
    assert alpha_evolution(probs, tmp_path / "a.png", choice_labels=[["k3e3", "zero"]] * 2).stat().st_size > 5000
    table = build_table(tiny, fake, tmp_path / "t.csv", progress=False)
    assert table_heatmap(table, tmp_path / "h.png").stat().st_size > 5000


def test_flatness_compares_the_architecture_spread_with_the_seed_spread():
    from hwnas.pareto.flatness import flatness, flatness_sentence, seed_spread

    runs = pd.DataFrame({"arch": ["a", "a", "a", "b", "b", "b"], "accuracy": [0.80, 0.82, 0.81, 0.70, 0.72, 0.71]})
    s = seed_spread(runs)
    assert s["n_archs"] == 2 and s["std"] == pytest.approx(0.01)
    pts = pd.DataFrame({"arch": ["small", "mid", "large"], "measured_ms": [0.1, 0.3, 0.9],
                        "accuracy": [0.860, 0.865, 0.868]})
    flat = flatness(pts, s["std"])
    assert flat["flat"] and flat["recommended"]["arch"] == "small"  # within 2 seed spreads of the best
    assert "front is flat" in flatness_sentence(flat)
    steep = flatness(pd.DataFrame({"arch": ["small", "large"], "measured_ms": [0.1, 0.9], "accuracy": [0.7, 0.9]}),
                     s["std"])
    assert not steep["flat"] and steep["recommended"]["arch"] == "large"
    assert "rises by more than the noise" in flatness_sentence(steep)
    # networks differ by more than the noise, but the fastest is the best: slower networks buy nothing
    fast_best = flatness(pd.DataFrame({"arch": ["small", "mid", "large"], "measured_ms": [0.05, 0.1, 0.2],
                                       "accuracy": [0.84, 0.77, 0.81]}), s["std"])
    assert fast_best["flat"] and fast_best["recommended"]["arch"] == "small"
    assert "not by its size" in flatness_sentence(fast_best)
    # seeds that retrain to the same accuracy: no noise to weigh against, and no "nan seed spreads"
    same = flatness(pts, 0.0)
    text = flatness_sentence(same)
    assert "nan" not in text and "gave the same accuracy" in text


def test_the_report_says_when_a_supernet_stayed_at_chance_and_when_a_method_lands_far_under(tmp_path):
    import pandas as pd

    from hwnas.pareto.caveats import placement_caveat, supernet_caveat

    for name, accs in (("flat", [0.09, 0.12, 0.11]), ("learnt", [0.2, 0.45, 0.6])):
        (tmp_path / name).mkdir()
        pd.DataFrame({"epoch": [1, 2, 3], "train_acc": accs}).to_csv(tmp_path / name / "log.csv", index=False)
    said = supernet_caveat({"search": [tmp_path / "flat"], "evolution": [tmp_path / "learnt"]}, chance=0.1)
    assert "behind search stayed at chance" in said and "at most 0.12" in said and "evolution" not in said
    assert supernet_caveat({"search": [tmp_path / "learnt"], "other": [tmp_path / "missing"]}, chance=0.1) is None
    points = pd.DataFrame({"method": ["search", "search", "evolution", "evolution", "hand"],
                           "target_ms": [0.1, 0.2, 0.1, 0.2, float("nan")],
                           "vs_target": [-0.01, 0.02, -0.16, -0.04, float("nan")]})
    said = placement_caveat(points, "hand")
    assert "evolution 10%" in said and "search" not in said
    assert placement_caveat(points[points["method"] != "evolution"], "hand") is None


def test_the_python_api_picks_shared_weights_for_the_methods_that_score_a_supernet():
    from hwnas.pareto.config import ParetoConfig

    assert ParetoConfig(targets_ms=(0.1,), method="spos").supernet_weights == "shared"
    assert ParetoConfig(targets_ms=(0.1,)).supernet_weights == "separate"  # the measured default of the searches
    assert ParetoConfig(targets_ms=(0.1,), method="ofa", supernet_weights="separate").supernet_weights == "separate"


@pytest.mark.parametrize("first, again, kept, remeasured", [(0.20, 0.105, 0.105, True), (0.20, 0.30, 0.20, True),
                                                            (0.11, 0.05, 0.11, False)])
def test_a_network_measured_far_over_its_prediction_is_measured_again(monkeypatch, tmp_path, first, again, kept,
                                                                      remeasured):
    """A passing slowdown of the machine can outlast a network's rounds: a measurement over 15% above the latency
    model's prediction (0.1 ms here) is taken again and the least disturbed kept; one within 15% is not."""
    from hwnas.pareto import evaluate as ev
    from hwnas.pareto.config import ParetoConfig
    from hwnas.space import get_space
    rt = importlib.import_module("hwnas.train.retrain")  # the module (the package exports its function)

    space = get_space("tiny")
    arch = space.sample(np.random.default_rng(0))
    calls = []
    monkeypatch.setattr(rt, "retrain", lambda *a, **k: SimpleNamespace(test_acc=0.8, measured_ms=first,
                                                                       predicted_ms=0.1))
    monkeypatch.setattr(ev, "device_latency", lambda *a, **k: lambda arch_: calls.append(arch_) or again)
    row = ev.evaluate_arch(arch, space, None, None, None, ParetoConfig(targets_ms=()),
                           ev.EvalCache(tmp_path / "evals.csv"))
    assert row["measured_ms"] == kept and bool(calls) is remeasured


@pytest.mark.parametrize("method, refilled", [("spos", False), ("grad", True)])
def test_a_scored_pick_is_exported_as_evolution_chose_it(monkeypatch, tmp_path, method, refilled):
    # evolution's pick on a trained supernet is one-hot: every change ties, so the fill would swap in the first
    # options that fit, in index order. A gradient search's spread α is filled as before.
    from hwnas.pareto import experiment
    from hwnas.pareto.config import ParetoConfig
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.space import get_space

    space = get_space("tiny")
    sizes = [len(labels) for labels in space.choice_labels()]
    costs = BlockCosts(0.0, tuple(tuple(float(i) for i in range(n)) for n in sizes))
    picked = [1, 1, 1, 1]  # 4 ms: 20% under a 5 ms target, which single steps up can fill
    arch = space.from_indices(picked)
    record = {"probabilities": [{lab: float(i == p) for i, lab in enumerate(labels)}
                                for labels, p in zip(space.choice_labels(), picked, strict=True)]}
    monkeypatch.setattr("hwnas.search.load_exported", lambda run_dir: (arch, None, record))
    (tmp_path / "arch.json").write_text("{}")  # a finished search: nothing is run
    cfg = ParetoConfig(targets_ms=(5.0,), method=method)
    fitted, _, _ = experiment.run_search_at(space, costs, None, cfg, 5.0, tmp_path, lambda m: None)
    assert (space.indices(fitted) != picked) is refilled
    assert costs.arch_ms(fitted, space) <= 5.0
