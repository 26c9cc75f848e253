"""``hwnas multitrial`` (issue 27): the front written as ``hwnas pareto`` writes it; bad input in one line with
nothing lost; two worker processes sharing one study (none lost or duplicated); a worker killed with SIGKILL
mid-trial: its trial is failed by the heartbeat and retried by the other worker; no Optuna: one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from hwnas.cli import main  # noqa: E402


@pytest.fixture(autouse=True)
def _no_join_wait(monkeypatch):
    """A worker waits for the study it joins to be started (60 s); these tests join at once or not at all."""
    monkeypatch.setattr("hwnas.multitrial.study.JOIN_WAIT_S", 0.0)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    from hwnas.profilers import build_table, create_backend
    from hwnas.space import get_space

    path = tmp_path_factory.mktemp("table") / "t.csv"
    build_table(get_space("tiny"), create_backend("fake"), path, progress=False)
    return path


def _args(table, out, *extra):
    return ["multitrial", "--table", str(table), "--data", "synthetic", "--epochs", "1", "--torch-threads", "1",
            "-o", str(out), *extra]


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def _hwnas(*argv):
    return [sys.executable, "-m", "hwnas", *argv]


def test_multitrial_writes_points_summary_front_and_figure_as_pareto_does(table, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(table, out, "--n-trials", "3")) == 0
    text = capsys.readouterr().out
    assert [line.split(" [")[0] for line in text.splitlines() if line.startswith("trial ")] == \
        ["trial 0", "trial 1", "trial 2"]  # progress per trial
    points = pd.read_csv(out / "points.csv")
    # hwnas pareto's columns, so that both kinds of search concatenate and plot together
    assert {"method", "target_ms", "arch", "accuracy", "predicted_ms"} <= set(points.columns)
    assert len(points) == 3 and set(points["method"]) == {"multi-trial (nsga2)"}
    front = json.loads((out / "pareto_front.json").read_text())
    assert front["trials"] == {"COMPLETE": 3} and front["front"]
    assert front["hypervolume"]["multi-trial (nsga2)"] > 0
    assert (out / "pareto.png").stat().st_size > 5000
    # a hwnas pareto run's points on the same plot and in the same summary
    other = points.assign(method="proxylessnas", measured_ms=points["predicted_ms"] * 1.1)
    other.to_csv(tmp_path / "pareto_points.csv", index=False)
    assert main(_args(table, out, "--n-trials", "3", "--compare", str(tmp_path / "pareto_points.csv"))) == 0
    assert set(pd.read_csv(out / "summary.csv")["method"]) == {"proxylessnas", "multi-trial (nsga2)"}
    assert "0 trial(s) ran here" in capsys.readouterr().out  # the study already had its 3: resumed, nothing redone


@pytest.mark.parametrize("extra, fragment", [
    (["--storage", "postgresql://u:pw@127.0.0.1:9/x"], "cannot reach the study storage|driver is not installed"),
    (["--storage", "sqlite:////nonexistent-dir/x/s.db"], "cannot reach the study storage"),
    (["--storage", "journal:/nonexistent-dir/s.log"], "does not exist"),
    (["--worker", "--study-name", "nobody-started-it"], "no study storage at .*study.db to join"),
    (["--storage", "sqlite:///"], "a database in memory"),
    (["--target-ms", "0.0001"], "below the fastest"),
    (["--compare", "/nonexistent/points.csv"], "no such file"),
])
def test_bad_input_is_one_line(table, tmp_path, capsys, extra, fragment):
    import re

    assert main(_args(table, tmp_path / "o", "--n-trials", "1", *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(fragment, err) and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:"])
def test_a_worker_that_cannot_join_leaves_no_empty_storage_behind(table, tmp_path, capsys, scheme):
    missing = tmp_path / "not-started.db"
    assert main(_args(table, tmp_path / "o", "--n-trials", "1", "--worker", "--storage", f"{scheme}{missing}")) == 2
    assert "start the study first without --worker" in capsys.readouterr().err
    assert not missing.exists()


def test_a_study_for_another_space_or_settings_is_refused_and_loses_nothing(table, tmp_path, capsys):
    out = tmp_path / "o"
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(_args(table, out, "--n-trials", "1", "--storage", url)) == 0
    capsys.readouterr()
    for extra, fragment in ((["--space", "tiny", "--kernels", "3"], "created for another space"),
                            (["--epochs", "2"], "other settings (epochs: 1 there, 2 here)")):
        assert main(_args(table, out, "--n-trials", "2", "--storage", url, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert fragment in err and len(err.splitlines()) == 1, err
    study = optuna.load_study(study_name="hwnas-multitrial", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"]


def test_without_optuna_hwnas_imports_and_multitrial_says_how_to_install_it(table, tmp_path):
    code = ("import contextlib, io, sys; sys.modules['optuna'] = None\n"
            "from hwnas.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as help_text:\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0 and 'multitrial' in help_text.getvalue()\n"
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *_args(table, tmp_path / "o", "--n-trials", "1")],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "hwnas: error: multi-trial search runs on Optuna, which is not installed: pip install optuna"]


def _wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _trials(url, name="hwnas-multitrial"):
    from hwnas.multitrial.study import make_storage

    try:
        return optuna.load_study(study_name=name, storage=make_storage(url, heartbeat_interval=None)).get_trials(
            deepcopy=False)
    except KeyError:  # not created yet
        return None


@pytest.mark.slow  # ~30 s: two processes, each importing torch and training
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_workers_share_one_study_and_none_is_lost_or_duplicated(table, tmp_path, storage):
    url = f"sqlite:///{tmp_path / 's.db'}" if storage == "sqlite" else f"journal:{tmp_path / 's.log'}"
    n = 6
    first = subprocess.Popen(_hwnas(*_args(table, tmp_path / "a", "--n-trials", str(n), "--storage", url,
                                           "--sampler", "random")),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    _wait(lambda: _trials(url) is not None, 120, "the study")
    second = subprocess.Popen(_hwnas(*_args(table, tmp_path / "b", "--n-trials", str(n), "--storage", url,
                                            "--sampler", "random", "--worker")),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [o[1] for o in outs]
    trials = _trials(url)
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") in (n, n + 1)  # a worker busy at the n-th may finish
    assert "RUNNING" not in states and "FAIL" not in states and "WAITING" not in states
    assert len({t.number for t in trials}) == len(trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2  # both did work
    # each worker's front has every trial of the study
    for d in ("a", "b"):
        front = json.loads((tmp_path / d / "pareto_front.json").read_text())
        assert sum(front["trials"].values()) >= n - 1


@pytest.mark.slow  # ~30 s: two processes, each importing torch and training
def test_a_worker_killed_mid_trial_has_its_trial_failed_and_retried_by_another(table, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    common = ("--n-trials", "3", "--storage", url, "--heartbeat", "1", "--epochs", "3")
    victim = subprocess.Popen(_hwnas(*_args(table, tmp_path / "a", *common)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        # inside the objective (its heartbeat thread started: a trial killed between Optuna's ask and the first beat
        # has no heartbeat record, and Optuna never finds it stale)
        running = _wait(lambda: [t for t in (_trials(url) or []) if t.state.name == "RUNNING" and
                                 "worker" in t.user_attrs], 120, "a trial")
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    killed = running[0].number
    time.sleep(2.5)  # past the grace period (2 heartbeats): the next worker's start finds the trial stale
    r = subprocess.run(_hwnas(*_args(table, tmp_path / "b", *common, "--worker")), capture_output=True, text=True,
                       env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    trials = {t.number: t for t in _trials(url)}
    assert trials[killed].state.name == "FAIL"
    retried = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].state.name in ("COMPLETE", "PRUNED")
    assert retried[0].params == trials[killed].params  # the same network, run again
    states = [t.state.name for t in trials.values()]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3 and "RUNNING" not in states
    if retried[0].state.name == "COMPLETE":  # points.csv names the trial it retried by its number
        import pandas as pd

        points = pd.read_csv(tmp_path / "b" / "points.csv", dtype=str)
        assert points.loc[points["trial"] == str(retried[0].number), "retry_of"].tolist() == [str(killed)]
