"""Multi-trial search on Optuna (issue 27): studies in a storage that refuse another space or other objectives,
the samplers (regularized evolution on Optuna's interface), pruning on a multi-objective study, the study runner."""

from __future__ import annotations

import math
import re

import pytest

optuna = pytest.importorskip("optuna")

from hwnas.errors import UsageError  # noqa: E402
from hwnas.multitrial import MultitrialConfig, run_study  # noqa: E402
from hwnas.multitrial.samplers import SAMPLERS, make_sampler, set_latency_constraint, suggest_architecture  # noqa: E402
from hwnas.multitrial.study import OBJECTIVES, make_storage, open_study  # noqa: E402
from hwnas.space import get_space  # noqa: E402


@pytest.fixture(autouse=True)
def _no_join_wait(monkeypatch):
    """A worker waits for the study it joins to be started (60 s); these tests join at once or not at all."""
    monkeypatch.setattr("hwnas.multitrial.study.JOIN_WAIT_S", 0.0)


def _cfg(**kw):
    base = dict(n_trials=3, epochs=1, data="synthetic", data_limit=None, population=2, sample=2, pruner="none")
    return MultitrialConfig(**{**base, **kw})


# ---- storages and studies --------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, fragment", [
    ("postgresql://nobody:secret@127.0.0.1:9/none", "cannot reach the study storage|driver is not installed"),
    ("sqlite:////nonexistent-dir/x/study.db", "cannot reach the study storage"),
    ("not-a-url", "is not a storage URL"),
    ("journal:/nonexistent-dir/study.log", "does not exist"),
    ("grpc://localhost", "expected grpc://HOST:PORT"),
    ("sqlite:///:memory:?cache=shared", "a database in memory"),
])
def test_an_unreachable_storage_is_one_line(url, fragment):
    with pytest.raises(UsageError) as e:
        make_storage(url)
    msg = str(e.value)
    assert re.search(fragment, msg) and "\n" not in msg
    assert "secret" not in msg  # the password is not printed


def test_a_study_for_another_space_or_other_objectives_is_refused_and_keeps_its_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    tiny = get_space("tiny")
    study = open_study(url, "exp", space=tiny, settings={"epochs": 1})
    t = study.ask()
    study.tell(t, [0.5, 1.0])
    other = get_space("tiny", kernels=(3,))
    with pytest.raises(UsageError, match="created for another space") as e:
        open_study(url, "exp", space=other, settings={"epochs": 1})
    assert "\n" not in str(e.value)
    with pytest.raises(UsageError, match="optimises accuracy .maximize., latency_ms .minimize., not accuracy"):
        open_study(url, "exp", space=tiny, settings={"epochs": 1}, objectives=(("accuracy", "maximize"),))
    with pytest.raises(UsageError, match="other settings .epochs: 1 there, 3 here"):
        open_study(url, "exp", space=tiny, settings={"epochs": 3})
    # a study with that name made elsewhere with other directions
    optuna.create_study(study_name="plain", storage=url, direction="minimize")
    with pytest.raises(UsageError, match="optimises 1 objective"):
        open_study(url, "plain", space=tiny, settings={})
    again = open_study(url, "exp", space=tiny, settings={"epochs": 1})
    assert len(again.get_trials()) == 1 and again.get_trials()[0].values == [0.5, 1.0]


def test_a_worker_cannot_join_a_study_that_does_not_exist(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(UsageError, match="no study storage at .*s.db to join.*without --worker"):
        open_study(url, "nope", space=get_space("tiny"), settings={}, join=True)
    assert not (tmp_path / "s.db").exists()
    open_study(url, "other", space=get_space("tiny"), settings={})
    with pytest.raises(UsageError, match="no study named 'nope'.*without --worker"):
        open_study(url, "nope", space=get_space("tiny"), settings={}, join=True)


def test_a_worker_finds_the_storage_file_as_sqlalchemy_reads_the_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    open_study("sqlite:///my%20study.db?timeout=5", "s", space=get_space("tiny"), settings={})
    assert (tmp_path / "my study.db").is_file()
    assert open_study("sqlite:///my%20study.db", "s", space=get_space("tiny"), settings={}, join=True)


def test_journal_storage_shares_a_study(tmp_path):
    url = f"journal:{tmp_path / 'study.log'}"
    a = open_study(url, "j", space=get_space("tiny"), settings={})
    a.tell(a.ask(), [0.4, 2.0])
    b = open_study(url, "j", space=get_space("tiny"), settings={}, join=True)
    assert [t.values for t in b.get_trials()] == [[0.4, 2.0]]


# ---- samplers --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_proposes_architectures_of_the_space(name):
    space = get_space("tiny")
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES],
                                sampler=make_sampler(name, space=space, seed=0, population=3, sample=2))
    seen = set()
    for i in range(8):
        t = study.ask()
        arch = suggest_architecture(t, space)
        space.validate(arch)
        seen.add(str(arch))
        t.set_user_attr("latency_ms", 0.5 + 0.1 * i)
        set_latency_constraint(t, 0.5 + 0.1 * i, 1.0)
        study.tell(t, [0.1 * i, 0.5 + 0.1 * i])
    assert len(seen) > 1


def test_grid_sampler_enumerates_without_repeating():
    space = get_space("tiny", kernels=(3,), expands=(3,))  # k3e3 or zero where allowed: a small grid
    from hwnas.multitrial.samplers import grid_size

    n = grid_size(space)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler("grid", space=space, seed=0))
    archs = []
    for _ in range(n - 1):  # asking past the last point stops the study (only allowed inside optimize)
        t = study.ask()
        archs.append(str(suggest_architecture(t, space)))
        study.tell(t, [0.5, 1.0])
    assert len(set(archs)) == n - 1


def test_regularized_evolution_mutates_one_decision_of_a_tournament_winner():
    space = get_space("tiny")
    sampler = make_sampler("regularized-evolution", space=space, seed=1, population=4, sample=4)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for i in range(4):  # the population: one network dominates the others
        t = study.ask()
        suggest_architecture(t, space)
        study.tell(t, [0.9 if i == 2 else 0.1, 1.0])
    best = study.trials[2].params
    for _ in range(3):
        t = study.ask()
        suggest_architecture(t, space)
        diff = [k for k in best if t.params[k] != best[k]]
        assert len(diff) == 1  # the winner, one decision changed
        study.tell(t, [0.0, 5.0])  # worse: the winner stays in the (aged) population's front


def test_regularized_evolution_prefers_networks_under_the_target():
    space = get_space("tiny")
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_sampler("regularized-evolution", space=space, seed=0, population=3,
                                                     sample=3))
    for acc, lat in ((0.99, 3.0), (0.5, 0.9), (0.4, 0.95)):  # the most accurate breaks the target
        t = study.ask()
        suggest_architecture(t, space)
        set_latency_constraint(t, lat, 1.0)
        study.tell(t, [acc, lat])
    t = study.ask()
    suggest_architecture(t, space)
    parent = study.trials[1].params  # the feasible front: trial 1 dominates trial 2
    assert sum(t.params[k] != parent[k] for k in parent) == 1


def test_bad_sampler_or_pruner_is_one_line():
    with pytest.raises(UsageError, match="unknown sampler 'bogus'"):
        MultitrialConfig(sampler="bogus")
    with pytest.raises(UsageError, match="unknown pruner"):
        MultitrialConfig(pruner="bogus")
    with pytest.raises(UsageError, match="at least 1"):
        MultitrialConfig(n_trials=0)


# ---- the runner ------------------------------------------------------------------------------------------------
def test_run_study_trains_each_network_and_resumes_from_its_storage_alone(tmp_path, space, costs):
    url = f"sqlite:///{tmp_path / 's.db'}"
    lines = []
    r = run_study(space, costs, _cfg(n_trials=3), storage=url, study_name="a", log=lines.append)
    assert r.states == {"COMPLETE": 3} and r.ran_here == 3  # the queued fastest network counts as one it ran
    assert len(r.points) == 3 and r.points["accuracy"].between(0, 1).all()
    assert all(abs(row.predicted_ms - costs.arch_ms(space.parse(row.arch), space)) < 1e-9
               for row in r.points.itertuples())
    assert sum(line.startswith("trial ") for line in lines) == 3  # progress per trial
    # "the machine restarts": a new process state, only the storage URL and the name
    r2 = run_study(space, costs, _cfg(n_trials=5), storage=url, study_name="a", log=None)
    assert r2.states == {"COMPLETE": 5} and r2.ran_here == 2
    assert set(r.points["trial"]) <= set(r2.points["trial"])
    r3 = run_study(space, costs, _cfg(n_trials=5), storage=url, study_name="a", log=None)
    assert r3.ran_here == 0 and len(r3.points) == 5


def test_the_first_trial_is_the_fastest_network_once_per_study_unless_turned_off(tmp_path, space, costs):
    url = f"sqlite:///{tmp_path / 's.db'}"
    r = run_study(space, costs, _cfg(n_trials=2, sampler="random"), storage=url, study_name="a", log=None)
    first = r.points.sort_values("trial").iloc[0]
    assert first.predicted_ms == pytest.approx(costs.min_ms())
    # another worker joining (or the study resumed) queues no second copy
    lines = []
    joined = run_study(space, costs, _cfg(n_trials=4, sampler="nsga2"), storage=url, study_name="a", join=True,
                       log=lines.append)
    study = optuna.load_study(study_name="a", storage=url)
    assert [t.user_attrs.get("anchor") for t in study.trials].count("fastest") == 1
    # a worker with another sampler: each trial is labelled by the sampler that proposed it, and the worker says so
    labels = joined.points.sort_values("trial")["method"].tolist()
    assert labels[:2] == ["multi-trial (random)"] * 2 and labels[-1] == "multi-trial (nsga2)"
    assert any("proposes with nsga2" in line for line in lines)
    off = run_study(space, costs, _cfg(n_trials=2, sampler="random", anchor=False), storage=url, study_name="b",
                    log=None)
    assert not any("anchor" in t.user_attrs for t in optuna.load_study(study_name="b", storage=url).trials)
    assert len(off.points) == 2


def test_only_the_process_that_created_a_study_queues_its_first_trial(tmp_path, monkeypatch):
    """Two workers that both found the study missing: the storage lets one create it; the other loads it and runs
    no on_create (no second copy of the fastest network)."""
    import hwnas.multitrial.study as study_mod

    url = f"sqlite:///{tmp_path / 's.db'}"
    tiny = get_space("tiny")
    made = []
    open_study(url, "s", space=tiny, settings={}, on_create=made.append)
    monkeypatch.setattr(study_mod, "study_exists", lambda *_a: False)  # looked before the other created it
    again = open_study(url, "s", space=tiny, settings={}, on_create=made.append)
    assert len(made) == 1 and again.study_name == "s"


def test_a_trial_that_raises_is_recorded_failed_with_its_error_and_the_study_goes_on(tmp_path, space, costs,
                                                                                      monkeypatch):
    import hwnas.multitrial.objective as objective

    calls = {"n": 0}
    real = objective.retrain

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory (simulated)\nsecond line")
        return real(*a, **kw)

    monkeypatch.setattr(objective, "retrain", flaky)
    r = run_study(space, costs, _cfg(n_trials=3), storage=f"sqlite:///{tmp_path / 's.db'}", study_name="f", log=None)
    assert r.states == {"COMPLETE": 3, "FAIL": 1}
    study = optuna.load_study(study_name="f", storage=f"sqlite:///{tmp_path / 's.db'}")
    (failed,) = [t for t in study.trials if t.state.name == "FAIL"]
    assert failed.user_attrs["error"] == "RuntimeError: CUDA out of memory (simulated)"


def test_a_worker_whose_every_trial_fails_stops_with_the_error_and_keeps_them(tmp_path, space, costs, monkeypatch):
    import hwnas.multitrial.objective as objective

    def broken(*a, **kw):
        raise UsageError("retraining loss became NaN/inf in epoch 1; lower --lr")

    monkeypatch.setattr(objective, "retrain", broken)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(UsageError, match="3 trials in a row failed .*the last: UsageError: retraining loss became NaN"):
        run_study(space, costs, _cfg(n_trials=5), storage=url, study_name="b", log=None)
    assert [t.state.name for t in optuna.load_study(study_name="b", storage=url).trials] == ["FAIL"] * 3


def test_a_target_keeps_networks_under_it_on_the_front(tmp_path, space, costs):
    r = run_study(space, costs, _cfg(n_trials=4, target_ms=0.8, sampler="nsga2"),
                  storage=f"sqlite:///{tmp_path / 's.db'}", study_name="t", log=None)
    assert r.points["meets_target"].dtype == bool
    assert (r.points["meets_target"] == (r.points["predicted_ms"] <= 0.8)).all()
    with pytest.raises(UsageError, match="below the fastest"):
        run_study(space, costs, _cfg(target_ms=0.01), storage=f"sqlite:///{tmp_path / 's.db'}", study_name="u")


def test_pruning_stops_a_slow_network_less_accurate_than_the_faster_ones_and_reports_the_epochs_saved():
    from hwnas.multitrial.pruning import EpochPruning, make_pruner, pruning_summary

    study = optuna.create_study(directions=["maximize", "minimize"])
    pruner = make_pruner("median", epochs=3)
    for lat, acc in ((1.0, 0.8), (1.1, 0.85), (1.2, 0.9)):  # three finished trials, accurate from epoch 1
        t = study.ask()
        t.set_user_attr("latency_ms", lat)
        hook = EpochPruning(t, pruner, lat)
        for e in (1, 2, 3):
            hook({"epoch": e, "train_acc": acc})
        study.tell(t, [acc, lat])
    fast = study.ask()  # faster than all: nothing at least as fast to compare with, never pruned
    fast.set_user_attr("latency_ms", 0.5)
    hook = EpochPruning(fast, pruner, 0.5)
    for e in (1, 2, 3):
        hook({"epoch": e, "train_acc": 0.1})
    study.tell(fast, [0.1, 0.5])
    slow = study.ask()
    slow.set_user_attr("latency_ms", 2.0)
    hook = EpochPruning(slow, pruner, 2.0)
    with pytest.raises(optuna.TrialPruned):
        hook({"epoch": 1, "train_acc": 0.2})
    study.tell(slow, state=optuna.trial.TrialState.PRUNED)
    s = pruning_summary(study.trials, 3)
    assert s["pruned"] == 1 and s["epochs_saved"] == 2 and s["epochs_run"] == 4 * 3 + 1
    assert math.isclose(s["share_saved"], 2 / 15)
    # the same slow network at its last epoch is trained already: kept, since pruning would save nothing
    last = study.ask()
    last.set_user_attr("latency_ms", 2.0)
    EpochPruning(last, pruner, 2.0, epochs=1)({"epoch": 1, "train_acc": 0.2})


def test_optuna_is_imported_only_where_a_study_is_used():
    import subprocess
    import sys

    code = ("import sys, hwnas, hwnas.trial, hwnas.multitrial, hwnas.cli.main; "
            "assert 'optuna' not in sys.modules, 'optuna imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_run_study_on_a_model_space(tmp_path):
    from torch import nn

    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.space import InputChoice, LayerChoice
    from hwnas.space.model_space import ModelSpace

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = LayerChoice({"k3": nn.Conv2d(3, 4, 3, padding=1), "k5": nn.Conv2d(3, 4, 5, padding=2)})
            self.skip = InputChoice(n_candidates=1, n_chosen=None)
            self.fc = nn.Linear(4 * 16 * 16, 4)

        def forward(self, x):
            y = self.conv(x)
            s = self.skip([y])
            return self.fc((y if s is None else y + s).flatten(1))

    space = ModelSpace(Net, (1, 3, 16, 16))
    costs = BlockCosts(0.1, ((0.1, 0.3), (0.0, 0.05)))
    r = run_study(space, costs, _cfg(n_trials=3), storage=f"sqlite:///{tmp_path / 's.db'}", study_name="m", log=None)
    assert r.states == {"COMPLETE": 3}
    assert r.points.sort_values("trial").iloc[0].arch == str(space.from_indices([0, 0]))  # the fastest first
    for row in r.points.itertuples():
        assert row.predicted_ms == pytest.approx(costs.arch_ms(space.parse(row.arch), space))


def test_a_worker_started_with_the_study_waits_for_it(tmp_path, monkeypatch):
    """The docs' "workers on one machine": B (--worker) starts in the same second as A, before A has made the
    file and the study; B waits for them instead of failing."""
    import threading

    monkeypatch.setattr("hwnas.multitrial.study.JOIN_WAIT_S", 20.0)
    url = f"sqlite:///{tmp_path / 'together.db'}"
    starter = threading.Timer(1.0, lambda: open_study(url, "t", space=get_space("tiny"), settings={}))
    starter.start()
    joined = open_study(url, "t", space=get_space("tiny"), settings={}, join=True)
    starter.join()
    assert joined.study_name == "t"


def test_two_starters_of_a_new_database_both_get_it(tmp_path):
    """Two processes creating one new SQLite database's tables at once: the loser retries instead of failing."""
    import multiprocessing as mp

    url = f"sqlite:///{tmp_path / 'race.db'}"
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_start_study, [(url,), (url,)])
    assert results == ["ok", "ok"]


def _start_study(url):
    from hwnas.multitrial.study import open_study as start
    from hwnas.space import get_space as space

    try:
        start(url, "race", space=space("tiny"), settings={})
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the test reports it
        return str(exc)


def test_a_file_that_is_no_journal_is_one_line_and_left_as_it_was(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text("arch,accuracy\nk3e3,0.5\n")
    with pytest.raises(UsageError, match="is not a readable Optuna journal"):
        make_storage(f"journal:{f}")
    assert f.read_text() == "arch,accuracy\nk3e3,0.5\n"
