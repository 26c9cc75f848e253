"""benchmarks/multitrial.py (issue 27): its statistics, and its quick mode end to end (tiny space, synthetic data)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import multitrial as bench  # noqa: E402


def test_bootstrap_interval_brackets_the_mean():
    lo, hi = bench.bootstrap_ci([0.1, 0.2, 0.3, 0.4, 0.5])
    assert lo < 0.3 < hi and 0.1 <= lo and hi <= 0.5
    assert all(math.isnan(v) for v in bench.bootstrap_ci([1.0]))  # one seed has no interval


def test_quick_mode_writes_hypervolumes_paired_with_random(tmp_path):
    assert bench.main(["--quick", "--seeds", "0", "--samplers", "nsga2", "random", "--worker-trials", "0",
                       "-o", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "multitrial_quick.json").read_text())
    fronts = res["fronts"]
    assert set(fronts["per_seed"]["0"]) == {"nsga2", "random"}
    assert all(v["trials"] == 4 and v["hypervolume"] > 0 for v in fronts["per_seed"]["0"].values())
    d = fronts["summary"]["nsga2"]["minus_random"]
    assert d["values"] == [pytest.approx(fronts["per_seed"]["0"]["nsga2"]["hypervolume"]
                                         - fronts["per_seed"]["0"]["random"]["hypervolume"])]
    assert "environment" in res
    # re-measuring one part keeps the other from the last result, with the date it was measured
    assert bench.main(["--quick", "--skip-fronts", "--worker-trials", "0", "-o", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "multitrial_quick.json").read_text())
    assert again["fronts"]["per_seed"] == fronts["per_seed"] and again["fronts"]["measured"]


def test_more_seeds_keep_the_seeds_already_measured(tmp_path, capsys):
    args = ["--quick", "--samplers", "nsga2", "random", "--worker-trials", "0", "-o", str(tmp_path)]
    assert bench.main([*args, "--seeds", "0"]) == 0
    first = json.loads((tmp_path / "multitrial_quick.json").read_text())["fronts"]
    for db in (tmp_path / "multitrial" / "quick").glob("seed0-*.db"):
        db.unlink()  # seed 0 can only come from the result now, not by resuming its studies
    capsys.readouterr()
    assert bench.main([*args, "--seeds", "0", "1"]) == 0
    assert "seed 0: kept from the last result" in capsys.readouterr().out
    fronts = json.loads((tmp_path / "multitrial_quick.json").read_text())["fronts"]
    assert fronts["per_seed"]["0"] == first["per_seed"]["0"] and set(fronts["per_seed"]) == {"0", "1"}
    assert fronts["seed_measured"]["0"] == first["measured"] and fronts["seed_measured"]["1"] == fronts["measured"]
    assert fronts["summary"]["nsga2"]["minus_random"]["n"] == 2
    # a result measured with other settings (here another latency model's reference point), or --remeasure, keeps
    # nothing
    path = tmp_path / "multitrial_quick.json"
    res = json.loads(path.read_text())
    res["fronts"]["reference_point"]["latency_ms"] *= 2
    path.write_text(json.dumps(res))
    capsys.readouterr()
    assert bench.main([*args, "--seeds", "1"]) == 0
    assert "kept" not in capsys.readouterr().out
    assert bench.main([*args, "--seeds", "1"]) == 0
    assert "seed 1: kept" in capsys.readouterr().out
    assert bench.main([*args, "--seeds", "1", "--remeasure"]) == 0
    assert "kept" not in capsys.readouterr().out
    # a sampler the last result lacks measures the seed again
    capsys.readouterr()
    assert bench.main(["--quick", "--samplers", "tpe", "random", "--worker-trials", "0", "-o", str(tmp_path),
                       "--seeds", "0"]) == 0
    assert "kept" not in capsys.readouterr().out


def test_two_processes_seeds_are_merged_into_one_result(tmp_path, capsys):
    args = ["--quick", "--samplers", "nsga2", "random", "--worker-trials", "0"]
    a, b, main = tmp_path / "a", tmp_path / "b", tmp_path / "main"
    assert bench.main([*args, "--seeds", "0", "-o", str(a)]) == 0
    assert bench.main([*args, "--seeds", "1", "-o", str(b)]) == 0
    capsys.readouterr()
    assert bench.main([*args, "--seeds", "0", "1", "-o", str(main), "--merge", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "seed 0: kept from the last result" in out and "seed 1: kept from the last result" in out
    fronts = json.loads((main / "multitrial_quick.json").read_text())["fronts"]
    for seed, part in (("0", a), ("1", b)):
        assert fronts["per_seed"][seed] == json.loads((part / "multitrial_quick.json").read_text())[
            "fronts"]["per_seed"][seed]
    # a run measured with other settings is refused, not mixed in
    res = json.loads((b / "multitrial_quick.json").read_text())
    res["fronts"]["trials"] = 99
    (b / "multitrial_quick.json").write_text(json.dumps(res))
    with pytest.raises(SystemExit, match="other settings; not merged"):
        bench.main([*args, "--seeds", "0", "1", "-o", str(tmp_path / "c"), "--merge", str(a), str(b)])
