"""benchmarks/ofa_table_check.py: skips without a table; scores a published table against this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hwnas.profilers import build_table
from hwnas.profilers.ofa_yaml import export_yaml

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import ofa_table_check  # noqa: E402


def published_yaml(tmp_path: Path, space, backend, factor: float, drop: int = 0) -> Path:
    """A 'published' table of ``space``: this fake device's table with every latency times ``factor`` (another
    device), one entry the space cannot express, and optionally ``drop`` MBConv entries missing."""
    table = build_table(space, backend, tmp_path / "src.csv", progress=False)
    y = tmp_path / "published.yaml"
    export_yaml(table, y, dialect="proxyless")
    data = yaml.safe_load(y.read_text())
    for v in data.values():
        v["mean"] *= factor
    mb = [k for k in data if k.startswith("expanded_conv") and "expand:1-" not in k]
    for k in mb[:drop]:
        del data[k]
    data["expanded_conv-input:8x8x16-output:8x8x16-expand:64-kernel:3-stride:1-idskip:1-se:1-hs:1"] = {
        "count": 1, "mean": 0.1, "std": 0.0}
    y.write_text(yaml.safe_dump(data, sort_keys=False))
    return y


def test_skips_with_a_clear_message_without_a_table(monkeypatch, capsys):
    monkeypatch.delenv("HWNAS_OFA_TABLE", raising=False)
    assert ofa_table_check.main([]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "--table" in out


def test_cli_skip_exits_zero_and_writes_nothing(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if k != "HWNAS_OFA_TABLE"}
    out = subprocess.run([sys.executable, str(BENCH / "ofa_table_check.py"), "--results-dir", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "skipped" in out.stdout
    assert not list(tmp_path.iterdir())


def test_missing_table_file_is_an_error(tmp_path, capsys):
    assert ofa_table_check.main(["--table", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_another_devices_table_predicts_poorly_and_the_local_one_well(tmp_path, tiny, fake):
    y = published_yaml(tmp_path, tiny, fake, factor=2.0)
    res = ofa_table_check.check(y, tiny, backend_name="fake", n=8, rounds=2, log=lambda _m: None)
    assert res["imported"] == len(tiny.layer_keys()) and res["skipped"] == 1
    assert res["n"] == 8 and len(res["networks"]) == 8
    pub, local, resc = res["published_lut_sum"], res["local_lut_sum"], res["published_lut_sum_rescaled"]
    # twice as slow on paper: every network is over-predicted by far, none within ±10%
    assert pub["within_10pct"]["median"] == 0.0
    assert pub["bias"]["median"] > 0.5
    assert 0.4 < res["measured_over_published"]["median"] < 0.6
    # one scale factor fixes a uniformly slower device; this machine's own table is at least as good
    assert resc["mape"]["median"] < pub["mape"]["median"]
    assert local["mape"]["median"] <= pub["mape"]["median"]
    assert pub["spearman"]["median"] > 0.8
    # every figure is a median over the rounds with its spread
    assert pub["mape"]["n"] == 2 and pub["mape"]["min"] <= pub["mape"]["median"] <= pub["mape"]["max"]
    # the networks span the published range
    ms = sorted(x["published_ms"] for x in res["networks"])
    assert ms[0] < ms[-1]


def test_only_covered_networks_are_sampled(tmp_path, tiny, fake):
    y = published_yaml(tmp_path, tiny, fake, factor=1.0, drop=3)
    from hwnas.profilers.ofa_yaml import import_yaml

    table, _ = import_yaml(y, tiny)
    archs = ofa_table_check.sample_covered(table, tiny, 4, seed=1)
    for a in archs:
        assert all(k in table for k in tiny.arch_keys(a))


def test_a_table_for_another_space_is_refused(tmp_path, tiny, fake):
    from hwnas.space import get_space

    y = published_yaml(tmp_path, get_space("tiny", resolution=32), fake, factor=1.0)
    with pytest.raises(SystemExit, match="lacks layers"):
        ofa_table_check.check(y, tiny, backend_name="fake", n=3, rounds=1, local=False, log=lambda _m: None)


def test_cli_writes_the_result_with_its_environment(tmp_path, tiny, fake):
    y = published_yaml(tmp_path, tiny, fake, factor=3.0)
    assert ofa_table_check.main(["--table", str(y), "--space", "tiny", "--backend", "fake", "--n", "5",
                                 "--rounds", "2", "--no-local", "--results-dir", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "ofa_table_check.json").read_text())
    assert res["benchmark"] == "ofa_table_check" and "environment" in res
    assert res["published_lut_sum"]["within_10pct"]["median"] == 0.0
