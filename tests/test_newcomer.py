"""What a newcomer trips on (issue 28): the README's and the guides' paths as a new user follows them, with the
defaults a new user gets. Each test is fast (the tiny space, a fake backend, a few dozen images)."""

from __future__ import annotations

import json

import pytest

from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.predictors.block_costs import BlockCosts
from hwnas.search import SearchConfig, run_search
from hwnas.search.run import RunDir, RunError, costs_from_dict
from hwnas.train.data import load_synthetic


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=96, seed=1)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "tiny.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "-o", str(path)]) == 0
    return path


def _quick(**kw):
    base = dict(n_epochs=1, warmup_epochs=1, batch_size=16, progress=False)
    return SearchConfig(**{**base, **kw})


# ---- 1. a calibrated predictor's negative per-candidate corrections ---------------------------------------------
def test_block_costs_with_negative_corrections_but_positive_totals_are_read_back(tmp_path, space):
    """The calibrated predictor's per-candidate corrections may be negative; only each network's total is a
    latency. ``hwnas retrain RUN`` reads block_costs.json back: it must accept what the search wrote."""
    costs = BlockCosts(0.5, tuple((0.1, -0.0124) + (0.05,) * (len(p.choices) - 2) for p in space.positions()))
    assert costs.min_ms() > 0
    rd = RunDir(tmp_path)
    (tmp_path / RunDir.COSTS).write_text(json.dumps({"const_ms": 0.5, "costs": [list(c) for c in costs.costs]}))
    assert rd.costs() == costs


def test_block_costs_whose_fastest_network_is_below_zero_are_refused():
    with pytest.raises(RunError, match="fastest network.*below 0"):
        costs_from_dict({"const_ms": 0.01, "costs": [[0.1, -0.2], [0.0, 0.05]]})
    with pytest.raises(RunError, match="not a number of ms"):
        costs_from_dict({"const_ms": 0.01, "costs": [[0.1, float("nan")]]})


# ---- 2. the default latency loss at sub-millisecond targets -----------------------------------------------------
def test_default_latency_loss_works_below_one_millisecond(space, costs, data, tmp_path):
    target = (costs.min_ms() + costs.max_ms()) / 2
    assert target < 1.0
    res = run_search(space, costs, data, _quick(target_ms=target), run_dir=tmp_path / "r", log=None)
    assert res.predicted_ms > 0
    assert any(r.get("arch_loss") == r.get("arch_loss") for r in res.history if "arch_loss" in r)


def test_default_latency_loss_is_the_official_one_above_one_millisecond(space):
    from hwnas.search.latency_loss import resolve_latency_loss

    big = BlockCosts(20.0, tuple(tuple(1.0 + i for i in range(len(p.choices))) for p in space.positions()))
    assert resolve_latency_loss("auto", 30.0, big.min_ms()) == "mul#log"
    assert resolve_latency_loss("auto", 0.45, 0.2) == "add#abs"
    assert resolve_latency_loss("mul#pow", 0.45, 0.2) == "mul#pow"


def test_an_undefined_latency_loss_from_python_names_no_command_line_flag(space, costs, data):
    with pytest.raises(UsageError) as err:
        run_search(space, costs, data, _quick(target_ms=0.6, latency_loss="mul#log"), log=None)
    assert "--" not in str(err.value) and "latency_loss=" in str(err.value)


def test_cli_search_at_a_sub_millisecond_target_with_the_default_loss(table, tmp_path, capsys):
    assert main(["search", "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--epochs", "1",
                 "--warmup-epochs", "1", "--data", "synthetic", "--data-limit", "64", "--batch-size", "16",
                 "--quiet", "-o", str(tmp_path / "r")]) == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["search"]["latency_loss"] == "auto"
    assert saved["latency_model"]["latency_loss"] == "add#abs"
