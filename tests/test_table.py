from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from hwnas.predictors.block_costs import lut_block_costs
from hwnas.profilers import LatencyTable, TableError, TableMismatchError, build_table, create_backend
from hwnas.profilers.table import meta_path
from hwnas.space import get_space


def test_build_covers_space_and_reads_with_pandas(tmp_path, tiny, fake):
    path = tmp_path / "t.csv"
    table = build_table(tiny, fake, path, progress=False)
    assert len(table) == len(tiny.layer_keys()) and not table.missing(tiny)
    df = pd.read_csv(path)
    assert {"op", "in_hw", "kernel", "expand", "median_ms", "p90_ms", "std_ms", "n"} <= set(df.columns)
    assert (df.median_ms > 0).all()
    loaded = LatencyTable.load(path)
    assert loaded.meta["settings"]["backend"] == "fake" and loaded.meta["environment"]["hwnas"]
    arch = tiny.sample(3)
    expect = sum(loaded.latency_ms(k) for k in tiny.arch_keys(arch))
    assert lut_block_costs(loaded, tiny).arch_ms(arch, tiny) == pytest.approx(expect) and expect > 0


def test_resume_measures_only_missing_rows(tmp_path, tiny, fake, monkeypatch):
    path = tmp_path / "t.csv"
    keys = tiny.layer_keys()
    build_table(tiny, fake, path, keys=keys[:7], progress=False)
    before = pd.read_csv(path)
    measured = []
    orig = fake.measure
    monkeypatch.setattr(fake, "measure", lambda m, shape: measured.append(shape) or orig(m, shape))
    table = build_table(tiny, fake, path, progress=False)
    assert len(measured) == len(keys) - 7 and set(table.keys()) == set(keys)
    after = pd.read_csv(path)
    pd.testing.assert_frame_equal(after.iloc[:7], before)  # finished rows kept untouched


def test_killed_profile_run_resumes(tmp_path):
    """A real interruption: kill the CLI mid-table, then the same command finishes it."""
    path = tmp_path / "t.csv"
    cmd = [sys.executable, "-m", "hwnas", "profile", "--space", "tiny", "--backend", "fake", "--quiet",
           "-o", str(path)]
    env = {**os.environ, "HWNAS_FAKE_DELAY_S": "0.02"}  # 5 runs x 20 ms = 0.1 s per row
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.exists() and len(pd.read_csv(path)) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = pd.read_csv(path)
    n_total = len(get_space("tiny").layer_keys())
    assert 3 <= len(kept) < n_total
    done = subprocess.run(cmd, env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    final = pd.read_csv(path)
    assert len(final) == n_total
    pd.testing.assert_frame_equal(final.iloc[: len(kept)], kept)


def test_other_settings_are_refused_not_mixed(tmp_path, tiny, fake):
    path = tmp_path / "t.csv"
    build_table(tiny, fake, path, keys=tiny.layer_keys()[:3], progress=False)
    snapshot = path.read_bytes()
    with pytest.raises(TableMismatchError, match="threads: table has 1, requested 2"):
        build_table(tiny, create_backend("fake", threads=2), path, progress=False)
    with pytest.raises(TableMismatchError, match="backend: table has 'fake', requested 'onnxruntime'"):
        build_table(tiny, create_backend("onnxruntime"), path, progress=False)
    with pytest.raises(TableMismatchError, match="space.resolution: table has 16, requested 32"):
        build_table(get_space("tiny", resolution=32), fake, path, progress=False)
    assert path.read_bytes() == snapshot  # nothing lost or mixed in


def test_corrupt_or_incomplete_files_are_clear_errors(tmp_path, tiny, fake):
    path = tmp_path / "t.csv"
    build_table(tiny, fake, path, keys=tiny.layer_keys()[:3], progress=False)
    meta_path(path).write_text("{truncated")
    with pytest.raises(TableError, match="corrupt"):
        LatencyTable.load(path)
    meta_path(path).unlink()
    with pytest.raises(TableError, match="no metadata"):
        LatencyTable.load(path)
    with pytest.raises(TableError, match="not found"):
        LatencyTable.load(tmp_path / "nope.csv")


def test_lookup_of_a_missing_layer_names_it(tmp_path, tiny, fake):
    table = build_table(tiny, fake, tmp_path / "t.csv", keys=tiny.layer_keys()[:3], progress=False)
    with pytest.raises(TableError, match="does not cover space 'tiny'"):
        table.check_covers(tiny)
    with pytest.raises(TableError, match="no entry for expanded_conv"):
        table.latency_ms(tiny.arch_keys(tiny.sample(0))[2])


def test_summary_names_slowest_layers(tmp_path, tiny, fake):
    table = build_table(tiny, fake, tmp_path / "t.csv", progress=False)
    text = table.summary()
    assert f"{len(tiny.layer_keys())} entries" in text and "slowest" in text and "k5e6" in text


def test_shards_merge_into_the_full_table_and_other_devices_are_refused(tmp_path, tiny, fake):
    from hwnas.profilers.table import merge_tables

    parts = [build_table(tiny, fake, tmp_path / f"s{i}.csv", shard=(i, 3), progress=False) for i in range(3)]
    assert sum(len(p) for p in parts) == len(tiny.layer_keys())
    merged, dropped = merge_tables([*parts, parts[0]])
    assert dropped == len(parts[0]) and not merged.missing(tiny)
    full = build_table(tiny, fake, tmp_path / "full.csv", progress=False)
    for k in full.keys():
        assert merged.latency_ms(k) == pytest.approx(full.latency_ms(k))
    other = build_table(tiny, create_backend("fake", threads=2), tmp_path / "o.csv", shard=(0, 3), progress=False)
    with pytest.raises(TableMismatchError, match="(?s)cannot merge.*threads"):
        merge_tables([parts[0], other])
    with pytest.raises(ValueError, match="shard"):
        build_table(tiny, fake, tmp_path / "x.csv", shard=(3, 3), progress=False)
