"""benchmarks/landing.py (issue 25's latency goal): from made-up shards and measurements (nothing is searched or timed
here), how many networks land within ±5% of their target, and the SUMMARY.md rows built from it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
pytest.importorskip("pandas")
import landing  # noqa: E402
import run_all  # noqa: E402


def _write(folder: Path, measured: bool = True) -> None:
    (folder / "costs.json").write_text(json.dumps({"range_ms": [0.01, 0.05], "source": "made up", "costs": {}}))
    (folder / "archs_fit.meta.json").write_text(json.dumps({"environment": {"date": "2026-12-07T17:00:00+00:00"}}))
    found = {0: [("a", 0.0195), ("b", 0.0190)], 1: [("c", 0.0199), ("d", 0.0185)]}
    for seed, rows in found.items():
        (folder / f"seed{seed}.json").write_text(json.dumps({"seed": seed, "found": [
            {"method": m, "target_ms": 0.02, "arch": arch, "predicted_ms": pred, "search_s": 1.0}
            for m, (arch, pred) in zip(("spos-evolution", "grad"), rows, strict=True)]}))
    if measured:
        # the last pass: evolution -1% and +6% of the target (one miss), grad -4% and +2%
        (folder / "measured-20261207T190000.json").write_text(json.dumps({
            "measured_at": "2026-12-07T19:00:00+00:00", "drift": 1.01, "drift_p10_p90": [0.99, 1.03],
            "networks": {"a": 0.0198, "c": 0.0212, "b": 0.0192, "d": 0.0204}}))
        # an earlier pass (named to sort last by file name, first by time): every network within
        (folder / "measured-x.json").write_text(json.dumps({
            "measured_at": "2026-12-07T18:00:00+00:00", "drift": 0.99, "drift_p10_p90": [0.98, 1.0],
            "networks": {"a": 0.0198, "c": 0.0202, "b": 0.0192, "d": 0.0204}}))


def test_landing_counts_networks_within_five_percent_of_their_target(tmp_path):
    _write(tmp_path)
    res = landing.summarise(tmp_path)
    (t,) = res["targets"]
    evo, grad = t["methods"]["spos-evolution"], t["methods"]["grad"]
    assert evo["within"] == [1, 2] and grad["within"] == [2, 2]
    assert evo["measured_vs_target"][2] == pytest.approx(0.06)
    assert evo["predicted_vs_target"][0] == pytest.approx(-0.025)
    # the latency model's error on the networks found: 0.0212 measured against 0.0199 predicted
    assert evo["measured_vs_predicted"][2] == pytest.approx(0.0212 / 0.0199 - 1)
    assert res["machine_drift"]["median"] == 1.01  # the figures are the last pass's
    assert evo["within_each_pass"] == [[2, 2], [1, 2]] and len(res["passes"]) == 2

    text = run_all.section_landing(res)
    evo_row = next(ln for ln in text.splitlines() if "spos-evolution, measured" in ln)
    assert "1 of 2 within ±5%" in evo_row and "each pass: 2/2, 1/2" in evo_row and evo_row.rstrip(" |").endswith("miss")
    grad_row = next(ln for ln in text.splitlines() if "grad, measured" in ln)
    assert "2 of 2 within ±5%" in grad_row and grad_row.rstrip(" |").endswith("pass")
    assert "+1.0% against when it was made" in text and "2026-12-07T17:00:00+00:00" in text


def test_a_superseded_export_is_reported_not_judged_and_each_reference_listed_once(tmp_path):
    _write(tmp_path)
    for shard in tmp_path.glob("seed*.json"):  # the evolution rows as if kept from before the two-block fill
        shard.write_text(shard.read_text().replace('"spos-evolution"', '"grad-single-fill"'))
    text = run_all.section_landing(landing.summarise(tmp_path))
    old_row = next(ln for ln in text.splitlines() if "grad-single-fill, measured" in ln)
    assert "| reported |" in old_row and not old_row.rstrip(" |").endswith(("miss", "pass"))
    res = {"budget": "b", "range_ms": [0.01, 0.05], "latency_model": "m", "targets": [{"target_ms": 0.02, "methods": {
        "grad-single-fill": {"seeds": 2, "test_acc": [0.8, 0.79, 0.81], "predicted_vs_target": -0.03,
                             "minus_grad_pp": [-0.3, -0.5, -0.1], "minus_random_pp": [1.0, 0.5, 1.5]}}}]}
    rows = [ln for ln in run_all.section_search_quality_model(res).splitlines() if "grad-single-fill − grad" in ln]
    assert len(rows) == 1


def test_landing_before_measuring_reports_the_predicted_latency_only(tmp_path):
    _write(tmp_path, measured=False)
    res = landing.summarise(tmp_path)
    assert "within" not in res["targets"][0]["methods"]["grad"] and "machine_drift" not in res
    assert "not measured yet" in run_all.section_landing(res)
    assert run_all.section_landing({"targets": []}) is None


def test_grad_defaults_searches_with_hwnas_pareto_defaults_and_grad_pins_its_measured_epochs(monkeypatch):
    import argparse

    import search_quality_model as sqm

    from hwnas.pareto import experiment
    from hwnas.pareto.config import ParetoConfig

    seen = {}

    def fake(space, costs, data, cfg, target, run, log):
        seen[run.parent.name] = cfg
        return "arch", "argmax", None

    monkeypatch.setattr(experiment, "run_search_at", fake)
    args = argparse.Namespace(quick=False)
    for method in ("grad", sqm.GRAD_DEFAULTS):
        sqm.find(method, None, None, None, 0.02, 3, args, Path("work"))
    assert seen["grad"].search_epochs == 8 and seen["grad"].method == "grad"
    d = seen[sqm.GRAD_DEFAULTS]
    assert d.method == "grad" and d.search_epochs == ParetoConfig(targets_ms=()).search_epochs == 6 and d.seed == 3
