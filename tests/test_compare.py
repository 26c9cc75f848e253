from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from hwnas.profilers import LatencyTable, TableError, build_table, create_backend
from hwnas.profilers.compare import compare_tables
from hwnas.space import get_space


@pytest.fixture
def pair(tmp_path, tiny, fake):
    """Table A from the fake device; table B: the same rows with k5 candidates 3x and everything else 1.5x."""
    a = build_table(tiny, fake, tmp_path / "a.csv", progress=False)
    rows = a.rows.copy()
    k5 = (rows.op == "expanded_conv") & (rows.kernel == 5)
    rows.loc[k5, "median_ms"] *= 3.0
    rows.loc[~k5, "median_ms"] *= 1.5
    b = LatencyTable({**a.meta, "settings": {**a.meta["settings"], "backend": "other"}}, rows)
    b.save(tmp_path / "b.csv")
    return a, b, k5


def test_ratios_per_key_and_per_op_type(pair):
    a, b, k5 = pair
    c = compare_tables(a, b)
    assert len(c.per_key) == len(a) and c.only_a == c.only_b == 0
    k5_keys = c.per_key[(c.per_key.op == "expanded_conv") & (c.per_key.kernel == 5)]
    assert k5_keys.ratio.to_numpy() == pytest.approx(3.0)
    assert c.per_key[~c.per_key.index.isin(k5_keys.index)].ratio.to_numpy() == pytest.approx(1.5)
    g = c.groups.set_index(["grouping", "group"])
    assert g.loc[("kernel", "depthwise k5"), "ratio"] == pytest.approx(3.0)
    assert g.loc[("kernel", "depthwise k3"), "ratio"] == pytest.approx(1.5)
    assert g.loc[("kernel", "depthwise k5"), "rel"] > 1 > g.loc[("kernel", "depthwise k3"), "rel"]
    expect = b.rows.median_ms.sum() / a.rows.median_ms.sum()
    assert c.overall_ratio == pytest.approx(expect) and 1.5 < c.overall_ratio < 3.0


def test_only_common_keys_are_compared(pair):
    a, b, _ = pair
    part = LatencyTable(b.meta, b.rows.iloc[:5].copy())
    c = compare_tables(a, part)
    assert len(c.per_key) == 5 and c.only_a == len(a) - 5 and c.only_b == 0


def test_tables_with_nothing_in_common_are_refused(tmp_path, pair, fake):
    a, _, _ = pair
    cifar = get_space("proxyless-cifar")
    other = build_table(cifar, fake, tmp_path / "c.csv", keys=cifar.layer_keys()[:3], progress=False)
    with pytest.raises(TableError, match="no layer configuration in common"):
        compare_tables(a, other)


def test_cli_prints_and_writes_csv_and_plot(tmp_path, pair):
    cmd = [sys.executable, "-m", "hwnas", "table", "compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
           "--csv", str(tmp_path / "cmp.csv"), "--plot", str(tmp_path / "cmp.png")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "depthwise k5" in r.stdout and "A: fake" in r.stdout and "B: other" in r.stdout
    df = pd.read_csv(tmp_path / "cmp.csv")
    assert set(df.level) == {"key", "group"}
    assert df[(df.level == "group") & (df.group == "depthwise k5")].ratio.iloc[0] == pytest.approx(3.0)
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_missing_table_is_a_clear_error(tmp_path, pair):
    r = subprocess.run([sys.executable, "-m", "hwnas", "table", "compare", str(tmp_path / "a.csv"),
                        str(tmp_path / "nope.csv")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "not found" in r.stderr and "nope.csv" in r.stderr


def test_real_runtimes_differ_per_op(tmp_path, tiny):
    """Two real runtimes on a few layers: every ratio is finite and positive and the groups cover them."""
    keys = tiny.layer_keys()[:6]
    from hwnas.profilers import Protocol

    fast = Protocol(warmup=2, warmup_s=0.0, repeats=10, min_time_s=0.0)
    a = build_table(tiny, create_backend("onnxruntime", protocol=fast), tmp_path / "o.csv", keys=keys,
                    progress=False)
    b = build_table(tiny, create_backend("torch", protocol=fast), tmp_path / "t.csv", keys=keys, progress=False)
    c = compare_tables(a, b)
    assert len(c.per_key) == 6 and (c.per_key.ratio > 0).all()
    assert c.groups[c.groups.grouping == "op"].n.sum() == 6
