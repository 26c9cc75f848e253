"""benchmarks/memory_format.py: both memory formats timed through hwnas's own paths, the accuracy pairs, and the
merge of other runs' results (refused where they timed another setting)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import memory_format  # noqa: E402


def test_quick_run_times_every_workload_in_both_formats(tmp_path):
    assert memory_format.main(["--quick", "-o", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "memory_format_quick.json").read_text())
    case = r["cases"]["tiny"]
    assert set(case) == {"retrain", "search grad", "search spos", "search darts", "score"}
    for v in case.values():
        assert len(v["nchw_s"]) == len(v["channels_last_s"]) == 1 and v["speedup"]["median"] > 0
    (row,) = r["accuracy"]["archs"]
    assert row["difference"] == pytest.approx(row["channels_last"] - row["nchw"])


def test_accuracy_summary_and_merge(tmp_path):
    rows = [{"index": i, "arch": f"a{i}", "nchw": 0.5, "channels_last": 0.5 + d, "difference": d}
            for i, d in enumerate([0.01, -0.02, 0.0, 0.01, -0.01, 0.02, 0.0])]
    s = memory_format.accuracy_summary(rows)
    assert s["mean"] == pytest.approx(0.01 / 7) and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    assert s["wilcoxon_p"] is not None and len(s["archs"]) == 7
    other = tmp_path / "other"
    other.mkdir()
    (other / "memory_format.json").write_text(json.dumps({"images": 1000, "repeats": 3, "cases": {"r16-w25": {}},
                                                          "accuracy": {"archs": rows[:3]}}))
    cases, got = memory_format.merged([other], 1000, 3)
    assert set(cases) == {"r16-w25"} and [r["index"] for r in got] == [0, 1, 2]
    with pytest.raises(SystemExit, match="not merged"):
        memory_format.merged([other], 500, 3)
