"""Issue 25: a supernet trained for ranking (SPOS, sandwich, distillation, progressive shrinking), searched many times
without training again (evolution / random on inherited accuracy, under any latency model), and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwnas.cli import main
from hwnas.errors import HwnasError
from hwnas.predictors.block_costs import BlockCosts
from hwnas.search import SearchConfig, run_search
from hwnas.search.estim.base import SearchState
from hwnas.search.estim.progressive import ProgressiveShrinking
from hwnas.search.supernet import build_supernet
from hwnas.space import get_space
from hwnas.train.data import load_synthetic


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=160, seed=2)


def _cfg(**kw):
    base = dict(batch_size=32, init_lr=0.05, progress=False, supernet_weights="shared", n_epochs=2, search_rounds=2,
                search_args={"per_round": 4})
    return SearchConfig(**{**base, **kw})


def _target(costs, frac=0.5):
    return round(costs.min_ms() + frac * (costs.max_ms() - costs.min_ms()), 4)


def test_progressive_shrinking_opens_kernel_then_depth_then_width(space, costs):
    net = build_supernet(space, weights="shared")
    st = SearchState(net, net, None, None, None, None, None, None, {}, None, None, 1, 1, 1, None, costs)
    ps = ProgressiveShrinking(epochs=8)
    tokens = []
    for e in range(8):
        allowed = ps.allowed(st, e)
        tokens.append({pos.choices[i].token for pos, opts in zip(space.positions(), allowed, strict=True) for i in opts})
    kmax = max(c.kernel for c in space.candidates)
    emax = max(c.expand for c in space.candidates)
    assert tokens[0] == {f"k{kmax}e{emax}"}                               # the full network first: the teacher
    assert all(t.endswith(f"e{emax}") for t in tokens[3] - {"zero"})      # kernels open before widths
    assert "zero" not in tokens[2] and "zero" in tokens[5]                # depth after kernel
    assert tokens[7] >= {c.token for c in space.candidates}               # at the end, every option
    assert [ps.phase_at(e)[0] for e in range(8)] == ["full"] * 2 + ["kernel"] * 2 + ["depth"] * 2 + ["expand"] * 2


@pytest.mark.parametrize("method, train_args", [("ofa", None), ("spos", {"sandwich": True, "distill": True})])
def test_a_ranking_supernet_is_searched_at_a_target_within_the_band(space, costs, data, tmp_path, method, train_args):
    t = _target(costs)
    res = run_search(space, costs, data, _cfg(method=method, target_ms=t, train_args=train_args),
                     run_dir=tmp_path / "run", log=None)
    assert t * 0.95 <= res.predicted_ms <= t
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["parts"]["stages"][-1]["type"] == "inherited"
    assert cfg["parts"]["stages"][0]["type"] == ("progressive" if method == "ofa" else "spos")
    scores = (tmp_path / "run" / "scores.csv").read_text().splitlines()
    assert scores[0] == "arch,score" and len(scores) > 2
    assert json.loads((tmp_path / "run" / "arch.json").read_text())["score"] >= 0


def test_train_once_search_many_targets_and_devices(space, costs, data, tmp_path):
    sup = tmp_path / "supernet"
    lines: list[str] = []
    trained = run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=lines.append)
    # a run that only trains the supernet says its arch.json is no searched network, and how to search it
    assert not trained.searched and not any(line.startswith("exported") for line in lines)
    assert any(f"--method evolution --supernet {sup}" in line for line in lines)
    other_device = BlockCosts(costs.const_ms * 2, tuple(tuple(v * 1.7 for v in c) for c in costs.costs))
    found = []
    for i, (model, frac) in enumerate([(costs, 0.3), (costs, 0.7), (other_device, 0.5)]):
        t = _target(model, frac)
        res = run_search(space, model, data, _cfg(method="evolution", supernet=str(sup), target_ms=t),
                         run_dir=tmp_path / f"s{i}", log=None)
        assert t * 0.95 <= res.predicted_ms <= t and [r["phase"] for r in res.history] == ["evolve", "evolve"]
        assert res.searched
        found.append(res)
    # the scores live with the supernet too: a later search of the same target into a new folder scores nothing anew
    caches = list(sup.glob("scores-*.csv"))
    assert len(caches) == 1 and len(caches[0].read_text().splitlines()) > 8
    again = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs, 0.3)),
                       run_dir=tmp_path / "again", log=None)
    assert again.arch == found[0].arch and sum(r["new_scores"] for r in again.history) == 0
    # what a target cost against the training, from the two runs' logs (the CLI and hwnas pareto print it)
    from hwnas.search.run import RunDir, describe_cost, search_cost

    first, repeat = search_cost(tmp_path / "s0", sup), search_cost(tmp_path / "again", sup)
    train_s = float(RunDir(sup).read_log()["train_s"].sum())
    assert first["train_s"] == pytest.approx(train_s) and first["new_scores"] == sum(
        r["new_scores"] for r in found[0].history) > 0 and first["search_s"] > 0
    assert repeat["new_scores"] == 0 and "0 new scores" in describe_cost(repeat)
    assert search_cost(sup, sup) is None and search_cost(tmp_path / "missing", sup) is None


@pytest.mark.parametrize("bn", ["batch", "recalibrate"])
def test_a_score_depends_on_the_architecture_alone_not_on_the_search_or_the_order(space, costs, data, tmp_path, bn):
    """Every candidate is recalibrated on the same batches (or normalised by the same held-out batches): two
    searches of one supernet with other seeds (another proposal order), each without the other's cache, give every
    network they both scored the same score."""
    import shutil

    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    scores = []
    for seed in (0, 1):
        mine = tmp_path / f"supernet{seed}"
        shutil.copytree(sup, mine)
        run_search(space, costs, data, _cfg(method="random", supernet=str(mine), seed=seed,
                                            search_args={"per_round": 24, "bn": bn,
                                                         **({"recalibrate_batches": 2} if bn == "recalibrate" else {})}),
                   run_dir=tmp_path / f"s{seed}", log=None)
        rows = (tmp_path / f"s{seed}" / "scores.csv").read_text().splitlines()[1:]
        scores.append(dict(r.rsplit(",", 1) for r in rows))
    both = set(scores[0]) & set(scores[1])
    assert len(both) >= 3
    assert all(scores[0][a] == scores[1][a] for a in both)


def test_with_the_accuracy_predictor_a_new_target_costs_only_its_top_k_scores(space, costs, data, tmp_path):
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    args = {"per_round": 6, "predictor": 10, "top_k": 2, "tie": 1}
    new = []
    for i, frac in enumerate((0.3, 0.7)):
        t = _target(costs, frac)
        res = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                                  search_args=args), run_dir=tmp_path / f"s{i}", log=None)
        assert res.predicted_ms <= t
        new.append(sum(r["new_scores"] for r in res.history))
    assert new[0] >= 10  # the predictor's sample set, scored once for the supernet
    assert new[1] <= 2   # the next target: its top_k re-scored, nothing else
    # the predictor is fitted once too: its weights are kept beside the supernet's scores (an .npz, no pickle)
    kept = list(sup.glob("accuracy-mlp-*.npz"))
    assert len(kept) == 1


def test_a_killed_predictor_search_resumes_to_the_same_network_and_writes_checkpoints_only_after_scoring(
        space, costs, data, tmp_path):
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    args = {"per_round": 6, "predictor": 10, "top_k": 2}
    kw = dict(method="evolution", supernet=str(sup), search_rounds=4, search_args=args)
    run_search(space, costs, data, _cfg(target_ms=_target(costs, 0.3), **kw), run_dir=tmp_path / "first", log=None)
    cfg = _cfg(target_ms=_target(costs, 0.7), **kw)  # a later target: its predictor rounds score nothing new
    whole = run_search(space, costs, data, cfg, run_dir=tmp_path / "whole", log=None)
    assert [r["new_scores"] for r in whole.history][:-1] == [0, 0, 0]

    saved = []

    def kill(epoch, row):
        saved.append((tmp_path / "k" / "checkpoint.pt").exists())
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "k", log=None, callbacks=[kill])
    assert saved == [False, False, False]  # three rounds of predictions: nothing worth a copy of the supernet
    resumed = run_search(space, costs, data, cfg, run_dir=tmp_path / "k", resume=True, log=None)
    assert resumed.arch == whole.arch and len(resumed.history) == 4
    assert (tmp_path / "k" / "checkpoint.pt").exists()


def test_the_kept_accuracy_predictor_predicts_as_the_fitted_one(tmp_path):
    from sklearn.neural_network import MLPRegressor

    from hwnas.search.estim.inherited import MLP, _load_mlp

    rng = np.random.default_rng(0)
    x, y = rng.random((40, 7)), rng.random(40)
    fitted = MLPRegressor(hidden_layer_sizes=(8, 8), max_iter=300, random_state=0).fit(x, y)
    path = tmp_path / "m.npz"
    np.savez(path, **MLP(fitted.coefs_, fitted.intercepts_).arrays())
    np.testing.assert_allclose(_load_mlp(path).predict(x), fitted.predict(x), rtol=1e-12, atol=1e-12)
    path.write_bytes(b"damaged")
    assert _load_mlp(path) is None  # fitted again, not an error


def test_bad_supernet_inputs_are_one_line_errors(space, costs, data, tmp_path, capsys):
    sup = tmp_path / "sup"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    other = get_space("tiny", kernels=(3,))
    other_costs = BlockCosts(0.1, tuple(tuple(0.01 * (i + 1) for i in range(len(p.choices)))
                                        for p in other.positions()))
    with pytest.raises(HwnasError, match="another space|differ") as info:
        run_search(other, other_costs, data, _cfg(method="evolution", supernet=str(sup),
                                                  target_ms=_target(other_costs)),
                   run_dir=tmp_path / "x", log=None)
    assert len(str(info.value).splitlines()) == 1
    sep = tmp_path / "separate"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0, supernet_weights="separate"), run_dir=sep,
               log=None)
    for asked in ("separate", "shared", "auto"):  # whatever weights the search asks for: train one with shared
        with pytest.raises(HwnasError, match="train one with shared"):
            run_search(space, costs, data, _cfg(method="evolution", supernet=str(sep), supernet_weights=asked,
                                                target_ms=_target(costs)), run_dir=tmp_path / "y", log=None)
    sup_auto = tmp_path / "auto"  # "auto" trained shared weights: asking for separate names that, not a load error
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0, supernet_weights="auto"), run_dir=sup_auto,
               log=None)
    with pytest.raises(HwnasError, match="trained with shared weights, this search asks for separate"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup_auto), supernet_weights="separate",
                                            target_ms=_target(costs)), run_dir=tmp_path / "y", log=None)
    with pytest.raises(HwnasError, match="evolution, random"):
        run_search(space, costs, data, _cfg(method="darts", supernet=str(sup), target_ms=_target(costs)),
                   run_dir=tmp_path / "y", log=None)
    with pytest.raises(HwnasError, match="below the fastest"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=costs.min_ms() / 2),
                   run_dir=tmp_path / "z", log=None)
    with pytest.raises(HwnasError, match="above the slowest"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=costs.max_ms() * 2),
                   run_dir=tmp_path / "w", log=None)
    with pytest.raises(HwnasError, match="not a search run"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(tmp_path / "nothing"),
                                            target_ms=_target(costs)), run_dir=tmp_path / "v", log=None)
    with pytest.raises(HwnasError, match="shared weights"):
        run_search(space, costs, data, _cfg(method="ofa", supernet_weights="separate", target_ms=_target(costs)),
                   run_dir=tmp_path / "u", log=None)
    # the same space at another width: the message names what differs, not what matches
    wide = get_space("tiny", width_mult=0.5)
    wide_costs = BlockCosts(0.1, tuple(tuple(0.01 * (i + 1) for i in range(len(p.choices))) for p in wide.positions()))
    with pytest.raises(HwnasError, match="width_mult: supernet has 1.0, this search 0.5"):
        run_search(wide, wide_costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(wide_costs)),
                   run_dir=tmp_path / "t", log=None)
    # the supernet's own folder as the search's, resumed or not: one line, the supernet untouched
    before = sorted(p.name for p in sup.iterdir())
    for resume in (False, True):
        with pytest.raises(HwnasError, match="is the supernet run itself"):
            run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs)),
                       run_dir=sup, resume=resume, log=None)
    assert sorted(p.name for p in sup.iterdir()) == before
    # another space's supernet is named before a target this space's latency model cannot reach
    with pytest.raises(HwnasError, match="width_mult: supernet has 1.0, this search 0.5"):
        run_search(wide, wide_costs, data, _cfg(method="evolution", supernet=str(sup),
                                                target_ms=wide_costs.min_ms() / 2), run_dir=tmp_path / "t", log=None)
    # a checkpoint that does not match its own run's config.json (copied in from a run of another width)
    import shutil

    run_search(wide, wide_costs, data, _cfg(method="spos", search_rounds=0), run_dir=tmp_path / "wide", log=None)
    mixed = tmp_path / "mixed"
    shutil.copytree(sup, mixed)
    shutil.copy(tmp_path / "wide" / "checkpoint.pt", mixed / "checkpoint.pt")
    with pytest.raises(HwnasError, match="does not fit this space .*size mismatch.*another space") as info:
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(mixed), target_ms=_target(costs)),
                   run_dir=tmp_path / "r", log=None)
    assert len(str(info.value).splitlines()) == 1
    # a target just under the fastest network: the smallest one the message names is accepted when typed back
    with pytest.raises(HwnasError, match="below the fastest") as low:
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=costs.min_ms() * 0.9999),
                   run_dir=tmp_path / "s", log=None)
    shown = float(str(low.value).split("smallest achievable latency is ")[1].split(" ms")[0])
    assert shown >= costs.min_ms()
    for d in ("x", "y", "z", "w", "v", "u", "t", "s", "r"):
        assert not (tmp_path / d / "checkpoint.pt").exists()


def test_an_unfinished_supernet_is_searched_with_a_warning(space, costs, data, tmp_path, caplog):
    def kill(epoch, row):
        if epoch == 0:
            raise KeyboardInterrupt

    sup = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None, callbacks=[kill])
    with caplog.at_level("WARNING", logger="hwnas"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs)),
                   run_dir=tmp_path / "evo", log=None)
    assert "stopped after 1 of its 2 epochs" in caplog.text
    caplog.clear()
    # killed in its search rounds, after its training: the supernet is finished, no warning
    def kill_in_search(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    done = tmp_path / "done"
    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, _cfg(method="spos", search_rounds=2), run_dir=done, log=None,
                   callbacks=[kill_in_search])
    with caplog.at_level("WARNING", logger="hwnas"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(done), target_ms=_target(costs)),
                   run_dir=tmp_path / "evo2", log=None)
    assert "stopped after" not in caplog.text


def test_pareto_draws_a_front_from_one_supernet(tmp_path, capsys):
    import pandas as pd

    from hwnas.predictors.block_costs import lut_block_costs
    from hwnas.profilers.table import LatencyTable

    t = str(tmp_path / "t.csv")
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", t]) == 0
    costs = lut_block_costs(LatencyTable.load(t), get_space("tiny"))
    targets = f"{_target(costs, 0.3):.4f},{_target(costs, 0.7):.4f}"
    out = tmp_path / "p"
    flags = ["pareto", "--table", t, "--backend", "fake", "--method", "spos", "--data", "synthetic", "--data-limit",
             "80", "--epochs", "1", "--warmup-epochs", "1", "--retrain-epochs", "1", "--export-tolerance", "0",
             "--quiet"]
    # what the searches of the supernet would refuse is refused before it trains
    for bad, says in ((["--targets", targets, "--supernet-weights", "separate"], "use --supernet-weights shared"),
                      (["--targets", f"{targets},{costs.max_ms() * 2:.4f}"], "above the slowest")):
        assert main([*flags, *bad, "-o", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1 and not (tmp_path / "refused" / "search").exists()
    assert main([*flags, "--targets", targets, "-o", str(out)]) == 0  # shared weights: spos's default
    # each target says what it cost against the supernet's training
    assert len([ln for ln in capsys.readouterr().out.splitlines() if "on the trained supernet:" in ln]) == 2
    points = pd.read_csv(out / "points.csv")
    assert (points["method"] == "spos").sum() == 2
    runs = sorted((out / "search").glob("T*/config.json"))
    assert len(runs) == 2 and (out / "search" / "supernet" / "checkpoint.pt").exists()
    for r in runs:  # both targets searched the one supernet, neither trained again
        cfg = json.loads(r.read_text())
        assert cfg["search"]["supernet"] == str(out / "search" / "supernet")
        assert [s["type"] for s in cfg["parts"]["stages"]] == ["inherited"]


def test_a_supernet_is_searched_on_its_own_data_and_split(tmp_path, capsys, monkeypatch):
    import hwnas.train.data as data_module

    seeds = []
    real = data_module.data_for_space

    def spy(*args, **kw):
        seeds.append(kw.get("seed"))
        return real(*args, **kw)

    monkeypatch.setattr(data_module, "data_for_space", spy)
    t = str(tmp_path / "t.csv")
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", t]) == 0
    sup = tmp_path / "sup"
    assert main(["search", "--method", "spos", "--space", "tiny", "--table", t, "--data", "synthetic", "--data-limit",
                 "96", "--epochs", "1", "--search-rounds", "0", "--seed", "4", "--quiet", "-o", str(sup)]) == 0
    trained_on = json.loads((sup / "config.json").read_text())["data"]
    evo = ["search", "--method", "evolution", "--supernet", str(sup), "--table", t, "--search-rounds", "1",
           "--target-ms", "0.2", "--quiet"]
    # no --data: the supernet's data, limit and split (its seed 4, not this search's seed 0)
    assert main([*evo, "-o", str(tmp_path / "evo")]) == 0
    assert json.loads((tmp_path / "evo" / "config.json").read_text())["data"] == trained_on
    cost = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("search cost"))
    assert "new scores" in cost and "of the supernet's" in cost and "s of training" in cost
    assert seeds == [4, 4]
    capsys.readouterr()
    # other data is refused in one line: its held-out images could be ones the supernet trained on
    assert main([*evo, "--data", "digits", "-o", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert "was trained on 'synthetic" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other").exists()
    # α's settings, the latency loss and the REINFORCE reward would do nothing here: refused, not dropped
    for flag, value in (("--arch-lr", "0.1"), ("--latency-loss", "add#abs"), ("--binary-mode", "two"),
                        ("--rl-preset", "hard")):
        assert main([*evo, flag, value, "-o", str(tmp_path / "alpha")]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{flag} sets how α is learned" in err and len(err.splitlines()) == 1
    # a setting given twice is refused, not settled by its order
    assert main([*evo, "--search-arg", "band=0.05", "--search-arg", "band=0.1", "-o", str(tmp_path / "twice")]) == 2
    assert "--search-arg band given twice (0.05, 0.1)" in capsys.readouterr().err
    assert not (tmp_path / "alpha").exists() and not (tmp_path / "twice").exists()
    # epochs would train nothing here: refused, not ignored
    assert main([*evo, "--epochs", "3", "-o", str(tmp_path / "epochs")]) == 2
    assert "trains nothing: its rounds are --search-rounds" in capsys.readouterr().err
    # a supernet named relative to where the search started: resumed from anywhere
    monkeypatch.chdir(tmp_path)
    rel = ["search", "--method", "evolution", "--supernet", "sup", "--table", t, "--search-rounds", "1",
           "--target-ms", "0.2", "--quiet", "-o", "rel"]
    assert main(rel) == 0
    assert json.loads((tmp_path / "rel" / "config.json").read_text())["search"]["supernet"] == str(sup.resolve())
    monkeypatch.chdir(tmp_path / "evo")
    capsys.readouterr()
    assert main(["search", "--resume", "--quiet", "-o", str(tmp_path / "rel")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("x", [0.1 + 0.2, 0.14060000000000003, 1406.0000000000002, 0.140623, 0.1406, 9.99999, 2e-5])
def test_the_fastest_latency_a_refusal_names_is_accepted_when_typed_back(x):
    from hwnas.errors import round_up

    shown = float(round_up(x))
    assert x <= shown <= x * 1.002  # never below the fastest (a sum of floats carries noise), and close to it


def test_two_searches_of_one_supernet_keep_each_others_scores(space, costs, data, tmp_path, monkeypatch):
    """Each search merges the supernet's score cache as it is on disk before writing it: rows another search wrote
    after this one loaded the cache are kept."""
    import pandas as pd

    import hwnas.search.estim.inherited as inherited

    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    other = str(space.sample(123))
    real_load = inherited.load_cache

    def load_then_another_search_writes(st):
        real_load(st)
        cache = inherited.cache_files(st)[-1]
        rows = cache.read_text() if cache.exists() else "arch,score\n"
        cache.write_text(rows + f"{other},0.5\n")

    monkeypatch.setattr(inherited, "load_cache", load_then_another_search_writes)
    run_search(space, costs, data, _cfg(method="random", supernet=str(sup), target_ms=_target(costs), seed=2),
               run_dir=tmp_path / "b", log=None)
    (cache,) = sup.glob("scores-*.csv")
    mine = set(pd.read_csv(tmp_path / "b" / "scores.csv")["arch"])
    assert other in set(pd.read_csv(cache)["arch"]) and mine <= set(pd.read_csv(cache)["arch"])


def test_zero_rounds_on_a_trained_supernet_are_refused_and_predicted_bests_say_so(space, costs, data, tmp_path):
    import pandas as pd

    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    with pytest.raises(HwnasError, match="0 rounds would score nothing"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs),
                                            search_rounds=0), run_dir=tmp_path / "zero", log=None)
    args = {"per_round": 4, "predictor": 8, "top_k": 2}
    run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs),
                                        search_args=args), run_dir=tmp_path / "p", log=None)
    assert list(pd.read_csv(tmp_path / "p" / "log.csv")["best_is"]) == ["predicted", "scored"]


def test_per_round_with_evolution_says_it_is_ignored(space, costs, data, tmp_path, caplog):
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    with caplog.at_level("WARNING"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs),
                                            search_rounds=1, arch_optim_args={"population": 4}),
                   run_dir=tmp_path / "e", log=None)
    assert "evolution proposes a generation of its population (4) and ignores it" in caplog.text


def test_tie_picks_the_largest_network_the_scores_cannot_tell_from_the_best(space, costs, data, tmp_path,
                                                                            monkeypatch):
    """``tie``: among the networks scored within the band whose score is within ``tie`` standard errors of the best,
    the one of most MACs. It changes the pick only, so it shares the supernet's score cache with the plain search."""
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    t = _target(costs)
    plain = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                                search_args={"per_round": 4, "tie": 0}),
                       run_dir=tmp_path / "plain", log=None)
    wide = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                               search_args={"per_round": 4, "tie": 10}),
                      run_dir=tmp_path / "wide", log=None)
    assert sum(r["new_scores"] for r in wide.history) == 0  # the same proposals, every score from the cache
    scores = dict(r.rsplit(",", 1) for r in (tmp_path / "plain" / "scores.csv").read_text().splitlines()[1:])
    in_band = {a: float(v) for a, v in scores.items() if t * 0.95 <= costs.arch_ms(space.parse(a), space) <= t}
    assert len(in_band) >= 2
    assert in_band[plain.arch_string] == max(in_band.values())  # (of networks tied on it, any)
    # 10 standard errors of an accuracy over the small held-out split cover every score: the most MACs wins
    assert wide.arch_string == max(in_band, key=lambda a: (space.macs(space.parse(a)), in_band[a]))
    assert json.loads((tmp_path / "wide" / "config.json").read_text())["parts"]["stages"][-1]["tie"] == 10
    # a run records every setting its stages ran with, defaults included
    default = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t),
                         run_dir=tmp_path / "default", log=None)
    assert default.predicted_ms <= t
    ran = json.loads((tmp_path / "default" / "config.json").read_text())["stages_resolved"]
    assert ran[-1]["type"] == "inherited" and ran[-1]["tie"] == 1.0 and ran[-1]["band"] == 0.05
    assert default.history[-1]["top_score"] >= default.history[-1]["best_score"]
    # a default changed since the run started is not mixed in silently on --resume
    from hwnas.search.estim.inherited import InheritedAccuracy

    monkeypatch.setitem(InheritedAccuracy.__init__.__kwdefaults__, "tie", 2.0)
    with pytest.raises(HwnasError, match="inherited stage tie: the run used 1.0, this version resolves 2.0"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t),
                   run_dir=tmp_path / "default", resume=True, log=None)
    with pytest.raises(HwnasError, match="tie"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                            search_args={"tie": -1}), run_dir=tmp_path / "bad", log=None)


@pytest.mark.parametrize("model_space", [False, True])
def test_bn_batch_scores_the_path_as_its_child_scores_with_batch_statistics_and_leaves_the_supernet_alone(
        space, costs, data, tmp_path, model_space):
    """``bn=batch``: a path run inside the supernet, each held-out batch normalised by its own statistics, is the
    child cut out of it evaluated the same way (the built-in space's shared slices, and a model space's choices),
    and scoring changes no weight and no running statistic of the supernet (later searches and exports read them)."""
    import torch

    from hwnas.search.estim.inherited import batch_stat_accuracy
    from hwnas.space.builder import build_model
    from hwnas.train.device import Runtime
    from hwnas.train.training import evaluate

    if model_space:
        from hwnas.space import ModelSpace

        space = ModelSpace("examples.chain_space:ChainSpace", (1, 3, 16, 16))
    net = build_supernet(space, weights="separate" if model_space else "shared")
    gen = torch.Generator().manual_seed(0)
    for p in net.parameters():  # trained-looking weights and statistics, not the initial ones
        p.data.add_(0.3 * torch.randn(p.shape, generator=gen))
    for name, b in net.named_buffers():
        if "running" in name:
            b.data.add_(0.5 * torch.rand(b.shape, generator=gen))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rt = Runtime.create("cpu")
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        got = batch_stat_accuracy(net, space.indices(arch), data.valid, rt, batch_size=16)
        child = build_model(arch, space)
        child.load_state_dict(net.child_state_dict(arch))
        assert got == evaluate(child, data.valid, 16, batch_stats=True, runtime=rt)[1]
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bn_modes_score_into_their_own_caches_and_a_bad_mode_is_one_line(space, costs, data, tmp_path,
                                                                                caplog):
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    t = _target(costs)
    first = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t),
                       run_dir=tmp_path / "default", log=None)
    assert json.loads((tmp_path / "default" / "config.json").read_text())["stages_resolved"][-1]["bn"] == "batch"
    # the default spelled out shares the default's cache
    spelled = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                                  search_args={"per_round": 4, "bn": "batch"}),
                         run_dir=tmp_path / "spelled", log=None)
    assert spelled.arch == first.arch and sum(r["new_scores"] for r in spelled.history) == 0
    assert len(list(sup.glob("scores-*.csv"))) == 1
    with caplog.at_level("WARNING"):
        recal = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                                    search_args={"per_round": 4, "bn": "recalibrate",
                                                                 "recalibrate_batches": 1}),
                           run_dir=tmp_path / "recal", log=None)
    assert sum(r["new_scores"] for r in recal.history) > 0 and len(list(sup.glob("scores-*.csv"))) == 2
    assert t * 0.95 <= recal.predicted_ms <= t
    # the held-out batches here are of 32: no warning; smaller ones get one, and so does a calibration setting
    # that the default scoring does not use
    assert "noisy" not in caplog.text and "bn=recalibrate only" not in caplog.text
    with caplog.at_level("WARNING"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t, search_rounds=1,
                                            search_args={"per_round": 2, "recalibrate_batches": 3}),
                   run_dir=tmp_path / "ignored", log=None)
    assert "recalibrate_batches (3) is used by bn=recalibrate only" in caplog.text
    with caplog.at_level("WARNING"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t, search_rounds=1,
                                            batch_size=8, search_args={"per_round": 2}),
                   run_dir=tmp_path / "small", log=None)
    assert "batches of 8 images give noisy ones" in caplog.text
    with pytest.raises(HwnasError, match="bn is one of batch, recalibrate, not 'fast'"):
        run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=t,
                                            search_args={"bn": "fast"}), run_dir=tmp_path / "bad", log=None)
    assert not (tmp_path / "bad").exists()


def test_a_run_from_before_the_scoring_and_population_defaults_changed_is_not_resumed_under_the_new_ones(
        space, costs, data, tmp_path):
    """Runs recorded before ``bn`` existed scored with re-estimated BatchNorm, and before ``optim_resolved`` was
    recorded, evolution's population was 100 by default: resuming one under today's defaults would mix two ways of
    scoring in one search (and in the supernet's cache), so it is refused, naming each setting."""
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    t = _target(costs)
    cfg = _cfg(method="evolution", supernet=str(sup), target_ms=t, search_rounds=2)
    run_search(space, costs, data, cfg, run_dir=tmp_path / "old", log=None)
    path = tmp_path / "old" / "config.json"
    recorded = json.loads(path.read_text())
    assert recorded["optim_resolved"]["population"] == 50 and recorded["stages_resolved"][-1]["bn"] == "batch"
    # a run resumed under the settings it recorded goes on
    run_search(space, costs, data, cfg, run_dir=tmp_path / "old", resume=True, log=None)
    # as an older version recorded it: no bn, no optim_resolved, evolution given no population
    del recorded["optim_resolved"], recorded["stages_resolved"][-1]["bn"]
    path.write_text(json.dumps(recorded))
    with pytest.raises(HwnasError) as err:
        run_search(space, costs, data, cfg, run_dir=tmp_path / "old", resume=True, log=None)
    assert "inherited stage bn: the run used 'recalibrate', this version resolves 'batch'" in str(err.value)
    assert "evolution optimizer population: the run used 100, this version resolves 50" in str(err.value)
    assert "finish it with the hwnas that started it" in str(err.value)
    # a run that only trained a supernet proposed nothing: its optimizer's old default is no reason to refuse it
    trained = json.loads((sup / "config.json").read_text())
    del trained["optim_resolved"]
    (sup / "config.json").write_text(json.dumps(trained))
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, resume=True, log=None)
    # a population the run was given is what it ran with, whatever the default then
    recorded["parts"]["optim"]["population"] = 50
    path.write_text(json.dumps(recorded))
    with pytest.raises(HwnasError) as err:
        run_search(space, costs, data, cfg, run_dir=tmp_path / "old", resume=True, log=None)
    assert "population" not in str(err.value) and "inherited stage bn" in str(err.value)


def test_bn_batch_warns_when_the_users_held_out_loader_shuffles(space, costs, data, tmp_path, caplog):
    """With the user's own DataLoaders, a shuffling held-out loader makes a batch-statistics score depend on which
    images share a batch: the search says so (and a loader read in order gets no such warning)."""
    from torch.utils.data import DataLoader, TensorDataset

    train = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=32, shuffle=True)
    for shuffle in (False, True):
        caplog.clear()
        valid = DataLoader(TensorDataset(data.valid.x, data.valid.y), batch_size=32, shuffle=shuffle)
        with caplog.at_level("WARNING"):
            run_search(space, costs, None, _cfg(method="spos", n_epochs=1, search_rounds=1, target_ms=_target(costs),
                                                arch_optim_args={"population": 4}),
                       run_dir=tmp_path / f"s{shuffle}", train_loader=train, valid_loader=valid, log=None)
        assert ("the held-out loader shuffles" in caplog.text) is shuffle


def test_search_cost_counts_only_the_supernets_training_not_its_own_search_rounds(tmp_path):
    from hwnas.search.run import search_cost

    (tmp_path / "sup").mkdir()
    (tmp_path / "evo").mkdir()
    # a supernet run trained 2 epochs (10 s) and then searched 2 rounds itself (30 s): those are no training
    (tmp_path / "sup" / "log.csv").write_text("epoch,phase,train_s,new_scores\n1,spos,4.0,\n2,spos,6.0,\n"
                                              "3,evolve,20.0,40\n4,evolve,10.0,3\n")
    (tmp_path / "evo" / "log.csv").write_text("epoch,phase,train_s,new_scores\n1,evolve,0.5,30\n2,evolve,0.25,2\n")
    assert search_cost(tmp_path / "evo", tmp_path / "sup") == {"search_s": 0.75, "train_s": 10.0, "new_scores": 32}


def test_a_supernet_still_being_trained_is_refused_and_the_searched_epochs_are_recorded(space, costs, data, tmp_path):
    import fcntl
    import os

    sup = tmp_path / "sup"
    run_search(space, costs, data, _cfg(method="spos", search_rounds=0), run_dir=sup, log=None)
    lock = sup / ".hwnas.lock"  # as a training's output_lock leaves it while it runs
    lock.write_text("pid 4242 (hwnas search --method spos)\n")
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(HwnasError, match=r"still being trained \(pid 4242 \(hwnas search --method spos\)\)"):
            run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs)),
                       run_dir=tmp_path / "busy", log=None)
    finally:
        os.close(fd)
    assert not (tmp_path / "busy" / "checkpoint.pt").exists()
    # the training over (its lock released; the file may stay): searched, and the state it searched recorded
    run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), target_ms=_target(costs)),
               run_dir=tmp_path / "ok", log=None)
    trained = json.loads((sup / "config.json").read_text())["search"]["n_epochs"]
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["supernet_epochs"] == trained
