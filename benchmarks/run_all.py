"""Run every benchmark, each in its own process, and regenerate ``SUMMARY.md`` from the result JSONs.

    python benchmarks/run_all.py                 # full mode: results/ and results/SUMMARY.md (make bench)
    python benchmarks/run_all.py --quick         # CI-sized checks into results/quick/ (never touches results/)
    python benchmarks/run_all.py --table published.yaml [--table-args "--space proxyless-mobile"]
                                                 # also check a published OFA/ProxylessNAS table
    python benchmarks/run_all.py --only nni_proxyless,search_cost
    python benchmarks/run_all.py --summary-only  # just rebuild SUMMARY.md from whatever JSONs exist

Each benchmark writes ``<results>/<name>.json`` with its environment (``_common.write_result``; the results
directory is passed as ``$HWNAS_RESULTS_DIR``), its output goes to ``<results>/logs/<name>.log``, and
``<results>/run_all.json`` records every benchmark's status, wall time and budget.

Full-mode budget on this 2-core machine (``make bench`` must finish within 45 minutes = 2700 s, from a fresh
clone: the NNI venv and the demo folder are made on the way). The arguments below are cut to fit: the
predictor benchmark re-measures 40 of its 100 held-out networks for the noise floor and transfers to torch with
at most 20 networks; the constraint benchmark runs 4 searches (2 targets x grad/rl) of 2+4 epochs on 300
images; the NNI comparison runs 2 interleaved rounds. A benchmark over 2x its budget is stopped and reported as
a timeout, so one stuck benchmark cannot eat the others' time. Planned from the rates measured on 2026-11-25
(``results/run_all.json`` holds the last full run's own wall times; on 2026-11-30 a run from a fresh state took
1798 s: 30, 343, 232, 167, 68, 343 and 614 s in the order below):

    profile_cost          ~50 s    two builds of the proxyless-mobile ORT table                              60 s
    predictor_accuracy   ~420 s    ORT table; 60 + 100 + 40 ORT networks, 20 + 30 torch (3 passes, min)     480 s
    search_cost          ~300 s    12 configurations x 2 rounds (DARTS once), a fresh process each          330 s
    search_constraint    ~200 s    ORT table, 24 calibration networks, 4 searches, 4 exported networks      300 s
    search_ddp           ~200 s    1 vs 2 gloo processes, 8 steps per epoch                                 220 s
    nni_proxyless        ~450 s    NNI venv (first use ~60 s); 2 rounds x (hwnas, NNI), 1 + 2 epochs        480 s
    pareto_front         ~780 s    runs the demo when no ``hwnas-demo/`` exists (reuses it otherwise)       830 s
    ofa_table_check       ~90 s    20 networks x 2 rounds + this machine's table (only with --table)        120 s
                                                                              total without --table     2700 s

The host's speed varies from day to day: on 2026-11-25 one network's speed swung ±15% second to second and
search_cost took 1.9x its earlier wall time, and a full run from a fresh state took 3126 s (52 min; the demo alone
19 min against 10 min on 2026-11-30), so the same plan can overrun 45 minutes on a slow day.

Quick mode runs the same scripts with CI-sized arguments (tiny space, few networks, 1-epoch searches); its
budgets add up to about 20 minutes (measured here with the CPU shared: profile_cost 21 s, search_cost 212 s,
nni_proxyless 317 s, ofa_table_check 58 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS  # noqa: E402

FULL_BUDGET_S = 45 * 60


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full_args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    budget_s: int = 300
    quick_budget_s: int = 120
    needs_table: bool = False
    optional: bool = False      # run only when the script exists (written by another issue)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


BENCHMARKS: tuple[Bench, ...] = (
    Bench("profile_cost", "profile_cost.py", (), ("--space", "tiny"), 60, 30,
          notes="full proxyless-mobile ORT table built twice"),
    Bench("predictor_accuracy", "predictor_accuracy.py",
          ("--n-train", "60", "--n-test", "100", "--n-again", "40", "--k-max", "20", "--n-target-test", "30"),
          ("--quick",), 480, 240, notes="≥ 100 held-out networks (issue 3)"),
    Bench("search_cost", "search_cost.py", ("--rounds", "2"), ("--batch", "8", "--steps", "1", "--rounds", "1"),
          330, 240),
    Bench("search_constraint", "search_constraint.py",
          ("--epochs", "4", "--warmup-epochs", "2", "--data-limit", "300", "--fracs", "0.3,0.7"),
          ("--epochs", "1", "--warmup-epochs", "1", "--data-limit", "100", "--calibrate", "0", "--methods", "grad"),
          300, 180),
    Bench("search_ddp", "search_ddp.py", ("--steps-per-epoch", "8"), ("--quick",), 220, 120, optional=True),
    Bench("nni_proxyless", "peers/nni_proxyless.py", ("--repeats", "2"), ("--quick",), 480, 360,
          notes="creates benchmarks/peers/.venv-nni on first use (about a minute more)"),
    Bench("pareto_front", "pareto_front.py", ("-o", "hwnas-demo"), ("--quick", "-o", "hwnas-demo-quick"), 830, 60,
          notes="the demo's fronts; reuses (resumes) the folder `make demo` wrote, ~13 min when it must run it"),
    Bench("ofa_table_check", "ofa_table_check.py", ("--n", "20", "--rounds", "2"), ("--quick",), 120, 60,
          needs_table=True),
    Bench("multitrial", "multitrial.py", ("--budget", "reduced", "--trials", "12"), ("--quick",), 2400, 120,
          notes="issue 27: NSGA-II / TPE against random over 5 seeds (180 trained networks), 1 vs 2 workers"),
    Bench("memory_format", "memory_format.py", (), ("--quick",), 900, 60,
          notes="channels-last against NCHW on the CPU: retrain, search epochs, supernet scores"),
    Bench("model_spaces", "model_spaces.py", (), ("--quick",), 420, 120,
          notes="the two example model spaces (LayerChoice): predictor on held-out networks, a search vs its target"),
)


def _supports(script: Path, flag: str) -> bool:
    try:
        return f'"{flag}"' in script.read_text()
    except OSError:
        return False


def plan(a: argparse.Namespace) -> list[tuple[Bench, list[str] | None, str]]:
    """(benchmark, arguments or None when skipped, why skipped)."""
    only = set(a.only.split(",")) if a.only else None
    skip = set(a.skip.split(",")) if a.skip else set()
    known = {b.name for b in BENCHMARKS}
    unknown = ((only or set()) | skip) - known
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    out: list[tuple[Bench, list[str] | None, str]] = []
    for b in BENCHMARKS:
        script = HERE / b.script
        args = list(b.quick_args if a.quick else b.full_args)
        if only is not None and b.name not in only or b.name in skip:
            out.append((b, None, "not selected"))
        elif not script.exists():
            out.append((b, None, f"{b.script} does not exist yet"))
        elif b.needs_table and not a.table:
            out.append((b, None, "no published table given (--table FILE.yaml)"))
        else:
            if b.needs_table:
                args = ["--table", str(Path(a.table).resolve()), *args, *shlex.split(a.table_args or "")]
            if a.quick and "--quick" in args and not _supports(script, "--quick"):
                args.remove("--quick")
            out.append((b, args, ""))
    return out


def run_benchmarks(a: argparse.Namespace, results: Path) -> list[dict[str, Any]]:
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HWNAS_RESULTS_DIR": str(results), "PYTHONUNBUFFERED": "1"}
    records = []
    t_all = time.perf_counter()
    for b, args, why in plan(a):
        budget = b.quick_budget_s if a.quick else b.budget_s
        rec: dict[str, Any] = {"name": b.name, "script": b.script, "budget_s": budget, "args": args}
        if args is None:
            rec.update(status="skipped", reason=why)
            print(f"- {b.name}: skipped ({why})", flush=True)
            records.append(rec)
            continue
        cmd = [sys.executable, str(HERE / b.script), *args]
        print(f"- {b.name}: {' '.join(cmd[1:])} (budget {budget} s)", flush=True)
        t0 = time.perf_counter()
        log = logs / f"{b.name}.log"
        with open(log, "w") as fh:
            try:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                      timeout=budget * a.timeout_factor)
                rec["status"] = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
            except subprocess.TimeoutExpired:
                rec["status"] = f"timeout (> {budget * a.timeout_factor:.0f} s)"
        rec["wall_s"] = time.perf_counter() - t0
        rec["log"] = str(log.relative_to(results))
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        print(f"  {rec['status']} in {rec['wall_s']:.0f} s" + ("" if rec["status"] == "ok" else
                                                             "\n    " + "\n    ".join(tail)), flush=True)
        records.append(rec)
    total = time.perf_counter() - t_all
    from _common import write_result

    write_result("run_all", {"mode": "quick" if a.quick else "full", "benchmarks": records, "total_s": total,
                             "budget_total_s": FULL_BUDGET_S if not a.quick else None}, results)
    return records


# ---- SUMMARY.md: one table per goal, read from the result JSONs only ---------------------------------------------
def load_results(results: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` in ``results`` by file stem; unreadable files are reported, not fatal."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(results.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            out[path.stem] = {"_error": f"unreadable: {exc}"}
            continue
        if isinstance(data, dict):
            out[path.stem] = data
    return out


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _stats(v: Any) -> dict[str, Any] | None:
    """A spread dict (median/min/max/n) from a spread dict, a list of numbers or a number."""
    if isinstance(v, dict) and "median" in v:
        return v if not _nan(v["median"]) else None
    if isinstance(v, (list, tuple)):
        xs = [float(x) for x in v if isinstance(x, (int, float)) and not _nan(x)]
        if not xs:
            return None
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}
    if isinstance(v, (int, float)) and not isinstance(v, bool) and not _nan(v):
        return {"median": float(v), "n": 1}
    return None


def fmt_num(x: float, kind: str = "num") -> str:
    if kind == "pct":
        return f"{x * 100:.1f}%"
    if kind == "x":
        return f"{x:.2f}×"
    if kind == "s":
        return f"{x:.0f} s" if abs(x) >= 100 else f"{x:.3g} s"
    if kind == "ms":
        return f"{x:.0f} ms" if abs(x) >= 100 else f"{x:.3g} ms"
    if kind == "mb":
        return f"{x:.0f} MB"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def fmt(v: Any, kind: str = "num") -> str:
    """``median [min–max] (n=…)`` when there is a spread, the value alone otherwise, ``—`` when missing."""
    s = _stats(v)
    if s is None:
        return "—"
    text = fmt_num(s["median"], kind)
    if s.get("n", 1) > 1 and "min" in s and "max" in s:
        text += f" [{fmt_num(s['min'], kind)}–{fmt_num(s['max'], kind)}] (n={s['n']})"
    return text


def median_of(v: Any) -> float | None:
    s = _stats(v)
    return None if s is None else float(s["median"])


def verdict(value: float | None, goal: float, *, at_most: bool = True) -> str:
    if value is None:
        return "—"
    return "pass" if (value <= goal if at_most else value >= goal) else "miss"


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


HEADER = ["measure", "measured", "goal", "peer", "ratio", "result"]


def _section(title: str, source: str, rows: list[list[str]], note: str = "") -> str:
    out = [f"## {title}", f"Source: {source}." + (f" {note}" if note else ""), "", _table(HEADER, rows), ""]
    return "\n".join(out)


def _ratio(a: float | None, b: float | None, kind: str = "x") -> str:
    if a is None or b is None or b == 0:
        return "—"
    return fmt_num(a / b, kind)


def section_profile(res: dict[str, dict]) -> str | None:
    files = {k: v for k, v in res.items() if k.startswith("profile_cost_")}
    if not files:
        return None
    rows = []
    for r in files.values():
        walls = r.get("build_wall_s")
        goal = r.get("goal_wall_s", 120)
        m = median_of(walls)
        rows.append([f"table build wall time, {r.get('space')} on {r.get('backend')} ({r.get('entries')} entries)",
                     fmt(walls, "s"), f"≤ {goal} s", "—", _ratio(m, goal), verdict(m, goal)])
        rd = _get(r, "statistics", "median_ms", "median_rel_diff")
        g = r.get("goal_median_rel_diff", 0.03)
        rows.append([f"repeatability between builds: median relative difference ({r.get('space')})", fmt(rd, "pct"),
                     f"≤ {fmt_num(g, 'pct')}", "—", _ratio(median_of(rd), g), verdict(median_of(rd), g)])
    return _section("Profile a device (issue 2)", ", ".join(f"`{k}.json`" for k in files), rows,
                    "Ratio = measured ÷ goal. Build times are the separate builds (median [min–max]).")


def section_predictors(res: dict[str, dict]) -> str | None:
    files = {k: v for k, v in res.items() if k.startswith("predictor_accuracy")}
    if not files:
        return None
    rows = []
    peer = "nn-Meter 99.0%, LitePred 99.3% (published, their devices)"
    for name, r in files.items():
        backend = r.get("backend", "?")
        goal = r.get("goal_within_10pct", 0.99 if backend == "onnxruntime" else 0.95)
        for mode, preds in (r.get("predictors") or {}).items():
            if not isinstance(preds, dict) or not preds:
                continue
            best_name, best = max(((n, p) for n, p in preds.items() if isinstance(p, dict)),
                                  key=lambda kv: median_of(kv[1].get("within_10pct")) or -1.0)
            b = median_of(best.get("within_10pct"))
            quick = " (quick run)" if name.endswith("_quick") else ""
            rows.append([f"best predictor ({best_name}, {mode}) within ±10% — {r.get('space')}, {backend}, "
                         f"{r.get('n_test')} held-out{quick}", fmt(best.get("within_10pct"), "pct"),
                         f"≥ {fmt_num(goal, 'pct')}", peer, _ratio(b, goal), verdict(b, goal, at_most=False)])
            lut = preds.get("lut", {})
            rows.append([f"· LUT-sum (OFA/ProxylessNAS baseline, {mode})", fmt(lut.get("within_10pct"), "pct"), "—",
                         "—", "—", ""])
            nf = _get(r, "noise_floor", mode, "within_10pct")
            nn = r.get("noise_floor_n")
            rows.append([f"· noise floor: {f'{nn} of the held-out' if nn else 'same'} networks, two processes ({mode})",
                         fmt(nf, "pct"), "—", "—", "—", ""])
    return _section("Latency predictors (issues 3 and 6)", ", ".join(f"`{k}.json`" for k in files), rows,
                    "Ratio = measured ÷ goal. Issue 6 asks ≥ 95% on every backend; issue 3 ≥ 99% on ONNX Runtime.")


def section_search_cost(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("results"), list):
        return None
    recs = r["results"]
    darts = {x.get("candidates"): x for x in recs if x.get("mode") == "darts"}
    rows = []
    for x in recs:
        if x.get("mode") not in ("two", "full_v2"):
            continue
        n, d = x.get("candidates"), darts.get(x.get("candidates"), {})
        mem, tim = x.get("memory_vs_child"), x.get("time_vs_child")
        rows.append([f"`{x['mode']}` memory ÷ plain child step, {n} candidates", fmt(mem, "x"), "≤ 1.30×",
                     f"DARTS {fmt(d.get('memory_vs_child'), 'x')}", _ratio(median_of(mem), 1.3),
                     verdict(median_of(mem), 1.3)])
        rows.append([f"`{x['mode']}` step time ÷ plain child step, {n} candidates", fmt(tim, "x"), "≤ 1.50×",
                     f"DARTS {fmt(d.get('time_vs_child'), 'x')}", _ratio(median_of(tim), 1.5),
                     verdict(median_of(tim), 1.5)])
    others = ("index", "uniform", "gdas", "snas", "reinforce", "sandwich", "darts")  # issue 26's parts: no goal
    for x in sorted((x for x in recs if x.get("mode") in others),
                    key=lambda x: (others.index(x["mode"]), x.get("candidates") or 0)):
        rows.append([f"`{x['mode']}` step ÷ plain child step, {x.get('candidates')} candidates",
                     f"time {fmt(x.get('time_vs_child'), 'x')}, memory {fmt(x.get('memory_vs_child'), 'x')}", "—",
                     "—", "—", ""])
    rounds, darts_rounds = r.get("rounds"), r.get("darts_rounds")
    note = (f"Ratio = measured ÷ goal. Each figure is the lower of {rounds} rounds in fresh processes "
            "(the script keeps the best round, so no spread is stored)")
    if darts_rounds is not None and darts_rounds != rounds:
        note += f"; the DARTS reference ran {darts_rounds} round(s)"
    return _section("Search step cost (issue 4)", "`search_cost.json`", rows, note + ".")


def section_search_constraint(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("results"), list):
        return None
    rows = []
    for x in r["results"]:
        t, m = x.get("target_ms"), x.get("measured_ms")
        if t is None or m is None:
            continue
        ratio = m / t
        if x.get("method") == "rl":  # the hard preset: at most the target (+5% for measurement noise)
            goal, ok = "≤ 1.05× (hard preset)", ratio <= 1.05
        else:
            goal, ok = "0.95–1.05×", abs(ratio - 1) <= 0.05
        rows.append([f"{x.get('method')} search, target {t:.3g} ms: measured latency", f"{m:.3g} ms ({ratio - 1:+.1%})",
                     goal, "—", fmt_num(ratio, "x"), "pass" if ok else "miss"])
    met = sum(r_[-1] == "pass" for r_ in rows)
    rows.append([f"targets met ({r.get('space')}, {_get(r, 'data') or ''})", f"{met} of {len(rows)}", "all", "—",
                 "—", "pass" if rows and met == len(rows) else "miss"])
    note = "Ratio = measured latency ÷ target. One search per target (no repeats stored)."
    cal = r.get("calibration")
    if isinstance(cal, dict) and cal.get("n"):
        what = "hwnas's calibrated predictor" if cal.get("predictor") == "calibrated" else "a line a·LUT + b"
        note += (f" Latency model: {what} fitted on {cal['n']} measured networks (median error on them "
                 f"{fmt(cal.get('calibrated_median_error'), 'pct')} vs LUT-sum "
                 f"{fmt(cal.get('lut_median_error'), 'pct')}).")
    return _section("Search meets a latency target on this device (issue 4)", "`search_constraint.json`", rows, note)


def section_model_spaces(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("spaces"), dict):
        return None
    rows = []
    for x in r["spaces"].values():
        c, lut, s = x.get("calibrated") or {}, x.get("lut_sum") or {}, x.get("search") or {}
        n = c.get("n")
        rows.append([f"`{x.get('model')}`: calibrated predictor within ±10%, {n} networks ({x.get('protocol')})",
                     fmt(c.get("within_10pct"), "pct"), "≥ 95.0%", f"LUT-sum {fmt(lut.get('within_10pct'), 'pct')}",
                     _ratio(c.get("within_10pct"), 0.95), verdict(c.get("within_10pct"), 0.95, at_most=False)])
        if s.get("measured_ms") is not None:
            ratio = s["measured_ms"] / s["target_ms"]
            rows.append([f"`{x.get('model')}`: gradient search at {s['target_ms']:.4g} ms, exported network measured",
                         f"{s['measured_ms']:.4g} ms ({ratio - 1:+.1%})", "0.95–1.05×", "—", fmt_num(ratio, "x"),
                         "pass" if abs(ratio - 1) <= 0.05 else "miss"])
        rt = x.get("retrain") or {}
        if rt:
            diffs = [e.get("max_abs_diff") for e in rt.get("exported", []) if e.get("max_abs_diff") is not None]
            rows.append([f"`{x.get('model')}`: the searched network retrained on {rt.get('data')} ({rt.get('epochs')} "
                         f"epochs, inherited weights), exported to ONNX: largest absolute difference from torch",
                         f"{max(diffs):.1e} (accuracy {rt.get('test_acc', float('nan')):.3f})" if diffs else "—",
                         "≤ 1e-04", "—", "—", verdict(max(diffs), 1e-4) if diffs else "—"])
    note = ("ONNX Runtime, 1 thread, minimum over 3 interleaved passes of 10 runs; the calibrated predictor adds "
            "the layers outside the choices, which LUT-sum cannot see.")
    return _section("Your own model: LayerChoice spaces (issue 15)", "`model_spaces.json`", rows, note)


def section_data_pipeline(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("throughput"), dict):
        return None
    t, rss, fm = r["throughput"], r.get("rss") or {}, r.get("fashion_mnist") or {}
    ratio = _stats(t.get("ratio_new_over_old"))
    rows = [[f"search throughput, DataLoader ÷ old in-memory path ({t.get('data', '')}, batch {t.get('batch')})",
             fmt(t.get("ratio_new_over_old"), "x"), "≥ 0.90×", "—", "—",
             verdict(median_of(t.get("ratio_new_over_old")), 0.9, at_most=False)]]
    if rss:
        runs = rss.get("runs") or []
        sizes = " vs ".join(f"{x.get('images'):,}" for x in runs)
        rows.append([f"peak RSS of a search over a generated folder: data set of {sizes} images",
                     fmt_num(rss.get("ratio_largest_over_smallest"), "x"), "≤ 1.10×", "—", "—",
                     verdict(rss.get("ratio_largest_over_smallest"), 1.1)])
    if fm:
        rows.append(["exported ONNX vs torch on a batch: largest absolute difference", f"{fm.get('onnx_max_abs_diff', float('nan')):.1e}",
                     f"≤ {fm.get('onnx_tolerance', 1e-4):.0e}", "—", "—",
                     verdict(fm.get("onnx_max_abs_diff"), fm.get("onnx_tolerance", 1e-4))])
        rows.append([f"retrained Fashion-MNIST network: measured {fm.get('measured_ms', float('nan')):.3g} ms vs predicted "
                     f"{fm.get('predicted_ms', float('nan')):.3g} ms (test accuracy {fm.get('test_acc', float('nan')):.1%})",
                     fmt(fm.get("measured_vs_predicted"), "pct"), "within ±10%", "—", "—",
                     verdict(abs(fm.get("measured_vs_predicted", float("nan"))), 0.10)])
    note = ("New and old paths run in lockstep (same path per step, alternating order), ratio per repeat; "
            "no GPU was available for `gpu_check.py`." if ratio else "")
    return _section("Data through DataLoaders, deployable networks (issue 14)", "`data_pipeline.json`", rows, note)


def section_memory_format(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("cases"), dict):
        return None
    rows = []
    for space, case in r["cases"].items():
        for work, v in case.items():
            rows.append([f"{work}, {space}: contiguous (NCHW) ÷ channels-last time", fmt(v.get("speedup"), "x"),
                         "≥ 1.00×", "—", "—", verdict(median_of(v.get("speedup")), 1.0, at_most=False)])
    acc = r.get("accuracy") or {}
    if acc.get("ci95"):
        lo, hi = acc["ci95"]
        margin = acc.get("two_seeds_std", float("nan")) / math.sqrt(2)  # no worse than one retraining seed's std
        rows.append([f"retrained test accuracy, channels-last − NCHW, {len(acc.get('archs', []))} networks at "
                     f"search-quality's budget (mean [95% CI]; std {acc.get('std', float('nan')) * 100:.2f} pp, two "
                     f"seeds of one network {acc.get('two_seeds_std', float('nan')) * 100:.2f} pp)",
                     f"{acc['mean'] * 100:+.2f} pp [{lo * 100:+.2f}, {hi * 100:+.2f}]",
                     f"lower bound ≥ −{margin * 100:.2f} pp", "—", "—", "pass" if lo >= -margin else "miss"])
    grads = r.get("gradient_error") or []
    if grads:
        med = {k: statistics.median(g[k] for g in grads) for k in ("nchw", "channels_last")}
        rows.append([f"one step's gradient against float64's, relative error, median of {len(grads)} networks: "
                     f"NCHW / channels-last", f"{med['nchw']:.1e} / {med['channels_last']:.1e}", "—", "—", "—", "—"])
    note = (f"The CPU's default memory format for the built-in spaces: hwnas's own retrain, search epochs and "
            f"supernet scores, 1 torch thread, {r.get('images')} Fashion-MNIST images, the two formats alternating "
            f"over {r.get('repeats')} rounds (above 1×: channels-last, the default, is faster).")
    return _section("Memory format on the CPU", "`memory_format.json`", rows, note)


def section_nni(r: dict[str, Any] | None) -> str | None:
    if not r:
        return None
    if r.get("status") != "ok":
        err = str(r.get("error", "unknown error")).splitlines()
        return _section("Against NNI 3.0 `Proxyless` (issue 7)", "`nni_proxyless.json`",
                        [["NNI could not be set up or run", "; ".join(err[:3]), "—", "—", "—", "miss"]])
    t = r.get("tools", {})
    h, n = t.get("hwnas", {}), t.get("nni", {})
    ra = r.get("ratios_hwnas_over_nni", {})
    target = r.get("target_ms")
    eh, en = median_of(h.get("latency_error")), median_of(n.get("latency_error"))
    rows = [
        ["search epoch wall time, hwnas", fmt(h.get("search_epoch_s"), "s"), "ratio ≤ 1.0×",
         f"NNI {fmt(n.get('search_epoch_s'), 's')}", fmt(ra.get("search_epoch_time"), "x"),
         verdict(median_of(ra.get("search_epoch_time")), 1.0)],
        ["warm-up epoch wall time, hwnas", fmt(h.get("warmup_epoch_s"), "s"), "—",
         f"NNI {fmt(n.get('warmup_epoch_s'), 's')}", fmt(ra.get("warmup_epoch_time"), "x"), ""],
        ["peak memory (RSS of a fresh process), hwnas", fmt(h.get("peak_rss_mb"), "mb"), "ratio ≤ 1.0×",
         f"NNI {fmt(n.get('peak_rss_mb'), 'mb')}", fmt(ra.get("peak_rss"), "x"),
         verdict(median_of(ra.get("peak_rss")), 1.0)],
        ["· of which the search itself (peak − RSS before it)", fmt(h.get("search_rss_growth_mb"), "mb"), "—",
         f"NNI {fmt(n.get('search_rss_growth_mb'), 'mb')}", fmt(ra.get("search_rss_growth"), "x"), ""],
        [f"distance of the measured latency from the target, ÷ target ({target:.3g} ms)" if target
         else "distance of the measured latency from the target, ÷ target",
         fmt(h.get("latency_error"), "pct"), "closer than NNI", f"NNI {fmt(n.get('latency_error'), 'pct')}",
         _ratio(eh, en), "—" if eh is None or en is None else ("pass" if eh < en else "miss")],
        ["E[LAT] under the latency model at the end of the search (uniform α gives the middle of the range)",
         fmt([x.get("expected_ms") for x in _get(r, "runs", "hwnas", default=[])], "ms"), f"→ {target:.3g} ms"
         if target else "—", f"NNI {fmt(_get(r, 'nni_facts', 'expected_ms_at_end'), 'ms')}", "—", ""],
        ["test accuracy of the exported architecture (inherited weights)", fmt(h.get("test_acc"), "pct"), "—",
         f"NNI {fmt(n.get('test_acc'), 'pct')}", _ratio(median_of(h.get("test_acc")), median_of(n.get("test_acc"))),
         ""],
    ]
    facts = r.get("nni_facts", {})
    cfg = r.get("config", {})
    note = (f"Ratio = hwnas ÷ NNI, per interleaved round, median [min–max] over {cfg.get('repeats')} rounds; "
            f"{cfg.get('warmup_epochs')}+{cfg.get('epochs')} epochs, batch {cfg.get('batch_size')}, "
            f"{r.get('data')}. NNI's latency penalty carries a gradient to α: {facts.get('penalty_has_gradient')}; "
            f"NNI exports {facts.get('exports', '?')}.")
    cal = r.get("calibration")
    if isinstance(cal, dict) and "calibrated_median_error" in cal:
        what = "hwnas's calibrated predictor fitted" if cal.get("predictor") == "calibrated" else "LUT-sum calibrated"
        note += (f" Latency model: {what} on {cal.get('n')} networks (median error on them "
                 f"{fmt_num(cal['calibrated_median_error'], 'pct')} vs {fmt_num(cal['lut_median_error'], 'pct')} "
                 "uncalibrated).")
    return _section("Against NNI 3.0 `Proxyless` (issue 7)", "`nni_proxyless.json`", rows, note)


def section_ofa(r: dict[str, Any] | None) -> str | None:
    if not r:
        return None
    pub, loc, resc = r.get("published_lut_sum", {}), r.get("local_lut_sum"), r.get("published_lut_sum_rescaled", {})
    rows = [[f"published table ({Path(str(r.get('table'))).name}) LUT-sum within ±10% of {r.get('n')} networks "
             "measured here", fmt(pub.get("within_10pct"), "pct"), "— (another device: expected poor)",
             f"this machine's LUT-sum {fmt((loc or {}).get('within_10pct'), 'pct')}", "—", ""],
            ["· its MAPE", fmt(pub.get("mape"), "pct"), "—", f"this machine's {fmt((loc or {}).get('mape'), 'pct')}",
             "—", ""],
            ["· after one scale factor (measured ÷ published "
             f"{fmt(r.get('measured_over_published'))}): within ±10%", fmt(resc.get("within_10pct"), "pct"), "—",
             "—", "—", ""],
            ["· rank agreement (Spearman)", fmt(pub.get("spearman")), "—",
             f"this machine's {fmt((loc or {}).get('spearman'))}", "—", ""]]
    return _section("A published OFA/ProxylessNAS table on this machine (issue 7)", "`ofa_table_check.json`", rows,
                    f"{r.get('imported')} entries imported, {r.get('skipped')} skipped; median [min–max] over "
                    f"{r.get('rounds')} measurement rounds.")


def _find(d: Any, pred, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every entry whose key satisfies ``pred``."""
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            p = f"{path}.{k}" if path else str(k)
            if pred(str(k)) and _stats(v) is not None:
                out.append((p, v))
            elif isinstance(v, (dict, list)):
                out.extend(_find(v, pred, p))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.extend(_find(v, pred, f"{path}[{i}]"))
    return out


def section_ddp(r: dict[str, Any] | None) -> str | None:
    if not r:
        return None
    rows = []
    recs = r.get("results")
    if isinstance(recs, list) and recs and all(isinstance(x, dict) and "config" in x for x in recs):
        for x in recs:
            rows.append([f"{x['config']} (global batch {x.get('global_batch', '?')})",
                         f"{fmt(x.get('samples_per_s'))} samples/s, step {fmt(x.get('step_ms'), 'ms')}",
                         "reported (issue 8 states no number)", "—",
                         f"efficiency {fmt(x.get('efficiency'), 'pct')}" if "efficiency" in x else "1 process", ""])
    else:  # another layout: list whatever step-time / throughput / efficiency figures the file holds
        keys = ("efficiency", "samples_per_s", "step_s", "step_ms", "speedup")
        found = _find({k: v for k, v in r.items() if k != "environment"}, lambda k: any(s in k for s in keys))
        rows = [[p, fmt(v), "reported (issue 8 states no number)", "—", "—", ""] for p, v in found[:12]]
    if not rows:
        rows = [["(no step-time / efficiency figures found in the file)", "—", "—", "—", "—", ""]]
    note = (f"Space {r.get('space')}, {r.get('backend')}, {r.get('threads_per_process')} thread(s) per process"
            + (", quick run" if r.get("quick") else "") + (f"; {r['note']}" if r.get("note") else "") + ".")
    return _section("Distributed search, 1 vs 2 processes (issue 8)", "`search_ddp.json`", rows,
                    "Ratio column: scaling efficiency against 1 process. " + note)


def section_pareto(r: dict[str, Any] | None) -> str | None:
    if not r:
        return None
    hv = {row["method"]: row["hypervolume"] for row in r.get("summary", [])}
    rows = []
    for name, ratio in (r.get("hypervolume_ratios") or {}).items():
        peer = name.split("/", 1)[1]
        rows.append([f"hypervolume ratio {name} (equal evaluation budget)", fmt_num(ratio, "x"), "≥ 1.00×",
                     f"{peer} {hv.get(peer, float('nan')):.4f}", fmt_num(ratio, "x"), verdict(ratio, 1.0, at_most=False)])
    for row in r.get("search_vs_target", []):
        err = row.get("vs_target")
        rows.append([f"searched network at {row['target_ms']:.3g} ms: measured vs target", f"{err:+.1%}", "±5%", "—",
                     "—", verdict(abs(err), 0.05)])
    wall = r.get("demo_wall_s")
    if wall:
        rows.append(["demo wall time", f"{wall / 60:.1f} min", "≤ 15 min", "—", fmt_num(wall / 900, "x"),
                     verdict(wall, 900)])
    f = r.get("flatness") or {}
    note = ("One demo run: 3 targets, one retrained network per method and target; hypervolume above chance "
            "accuracy, so single runs are noisy.")
    if f.get("seed_std") is not None:
        rows.append([f"accuracy range across the evaluated networks ÷ seed-to-seed std ({r.get('data') or 'data'})",
                     f"{f.get('accuracy_range', float('nan')):.1%} ÷ {f['seed_std']:.1%} = "
                     f"{f.get('range_over_seed_std', float('nan')):.1f}", "reported", "—", "—", ""])
        rows.append(["front flat (best network within 2 seed spreads of the fastest)",
                     "yes" if f.get("flat") else "no", "reported", "—", "—", ""])
        rec = f.get("recommended") or {}
        note += (f" Recommended by the demo: `{rec.get('arch')}` ({rec.get('measured_ms', float('nan')):.3g} ms, "
                 f"accuracy {rec.get('accuracy', float('nan')):.3f}), the fastest network within the noise of the best.")
    return _section("Accuracy–latency fronts of the demo (issues 5, 16)", "`pareto_front.json`", rows, note)


def section_search_quality(r: dict[str, Any] | None) -> str | None:
    """Issue 16: retrained accuracy of each method against random and NNI per target, with 95% bootstrap intervals
    over seeds; hypervolume ratios; the one-shot supernet's ranking (Kendall τ)."""
    if not r or not r.get("per_target"):
        return None
    rows = []
    for e in r["per_target"]:
        t, m = e["target_ms"], e["method"]
        ci = e.get("acc_ci95") or [float("nan")] * 2
        rows.append([f"T={t:.3g} ms, {m}: retrained accuracy (n={e['n_seeds']} seeds)",
                     f"{e['acc_mean']:.3f} [{ci[0]:.3f}–{ci[1]:.3f}]", "reported", "—", "—", ""])
        for ref, key, how in (("random", "minus_random", "paired by seed"), ("nni", "minus_nni", "paired by seed"),
                              ("random", "minus_random_fresh_seeds", "seeds run after the recipe was chosen")):
            d = e.get(key)
            if d and m not in ("random", "nni") and d.get("n", 0) > 0:
                lo, hi = d["ci95"]
                rows.append([f"· {m} − {ref}, {how} (n={d['n']})", f"{100 * d['mean']:+.2f} pp [{100 * lo:+.2f}, "
                             f"{100 * hi:+.2f}]", "interval > 0", ref, "—",
                             "" if d["n"] < 2 else "pass" if lo > 0 else "miss" if m.startswith(("grad", "rl")) else ""])
        vs = e.get("measured_vs_target_max")
        if vs is not None and vs == vs:
            rows.append([f"· {m}: measured latency vs target (worst seed)", f"{vs:+.1%}", "≤ +5%", "—", "—",
                         verdict(vs, 0.05)])
    for m, h in (r.get("hypervolume_ratio_to_random") or {}).items():
        rows.append([f"hypervolume ratio {m} / random (per seed, n={h['n']})",
                     f"{h['mean']:.3f} [{h['ci_lo']:.3f}–{h['ci_hi']:.3f}]", "≥ 1.00×", "random", "—",
                     verdict(h["ci_lo"], 1.0, at_most=False) if h["n"] > 1 else ""])
    for key, how in (("kendall_tau", "one-shot, shared weights, per-batch BatchNorm"),
                     ("kendall_tau_recalibrated_bn", "one-shot, shared weights, recalibrated BatchNorm"),
                     ("kendall_tau_spos", "SPOS supernet of spos-evolution, recalibrated BatchNorm")):
        tau = r.get(key) or {}
        if tau:
            ci = tau.get("ci95") or [float("nan")] * 2
            rows.append([f"Kendall τ, inherited ({how}) vs retrained accuracy, "
                         f"{tau['n_pairs']} networks", f"{tau['tau']:.3f} [{ci[0]:.3f}–{ci[1]:.3f}]", "reported", "—",
                         "—", ""])
            c = (r.get("ceiling") or {}).get(key)
            if c:
                rows.append([f"· its ceiling, estimated ({100 * c['network_share']:.0f}% of these networks' accuracy "
                             "variance is the network's, the rest seed noise): τ between two retraining seeds / "
                             "τ of a perfect score against one", f"{c['tau_two_seeds']:.2f} / "
                             f"{c['tau_perfect_score']:.2f}", "reported", "—", "—", ""])
    nz = r.get("noise") or {}
    if nz.get("seed_std_same_network") == nz.get("seed_std_same_network"):
        at = ", ".join(f"{100 * v:.2f}" for v in (nz.get("accuracy_std_at_target") or {}).values())
        rows.append(["accuracy std of one network over seeds (budget study) / of all networks found at each target",
                     f"{100 * nz['seed_std_same_network']:.2f} pp / {at} pp", "reported", "—", "—", ""])
        rows.append([f"smallest paired difference {nz.get('n_seeds')} seeds resolve at 95% (1.96·√2·σ/√n)",
                     f"{100 * nz['detectable_difference']:.2f} pp", "reported", "—", "—", ""])
    arch = nz.get("architecture_std_at_target") or {}
    if arch:
        rows.append(["architecture's std at a fixed latency, from the networks found within each seed, per target",
                     ", ".join(f"{100 * v['arch_std']:.2f}" for v in arch.values()) + " pp", "reported", "—", "—",
                     ""])
    for t, h in (r.get("headroom") or {}).items():
        rows.append([f"T={float(t):.3g} ms: {h['n_archs']} random networks × {len(h['seeds'])} seeds — "
                     "architecture std / seed std / best network above their average",
                     f"{100 * h['arch_std']:.2f} / {100 * h['seed_std']:.2f} / {100 * h['best_minus_mean']:+.2f} pp",
                     "reported", "—", "—", ""])
    for t, h in ((r.get("ceiling") or {}).get("headroom") or {}).items():
        rows.append([f"T={float(t):.3g} ms: ceiling measured, Kendall τ between retraining seeds over the "
                     f"{h['n_archs']} networks, each pair of seeds", ", ".join(f"{v:+.2f}" for v in h["seed_pairs"])
                     + f" (mean {h['tau_two_seeds']:+.2f})", "reported", "—", "—", ""])
    b = r.get("budget") or {}
    note = (f"{len(r.get('seeds', []))} seeds; budget `{b.get('name')}` ({b.get('n')} distorted Fashion-MNIST images, "
            f"{b.get('res')} px, width {b.get('width')}, {b.get('epochs')} retrain epochs); intervals are 95% "
            "bootstrap over seeds. Issue 16's goal: ProxylessNAS above random and NNI at every target.")
    return _section("Search quality over seeds (issue 16)", "`search_quality.json`", rows, note)


def section_ranking(r: dict[str, Any] | None) -> str | None:
    """Issue 25: per budget, Kendall τ of each supernet recipe's inherited accuracy against the mean of two
    retraining seeds, beside the ceiling (τ between the two seeds)."""
    budgets = (r or {}).get("budgets") or ({r["budget"]: r} if r and r.get("ceiling") else {})
    if not budgets:
        return None
    rows, notes = [], []
    for name, b in budgets.items():
        c = b["ceiling"]
        rows.append([f"`{name}` ceiling: τ between two retraining seeds, {b['networks']} networks "
                     f"({b['retrain_cpu_s_mean']:.0f} CPU-s a network"
                     + (f"; within networks of one size {c['kendall_tau_within_size']:+.2f}"
                        if "kendall_tau_within_size" in c else "") + ")",
                     f"{c['kendall_tau']:.3f} [{c['kendall_ci'][0]:.3f}–{c['kendall_ci'][1]:.3f}]", "≥ 0.70", "—",
                     "—", verdict(c["kendall_tau"], 0.7, at_most=False)])
        if "tau_perfect_vs_mean_estimate" in c:
            rows.append([f"· a perfect score against the mean of the two seeds (estimated; seed std "
                         f"{100 * c['seed_std']:.2f} pp, accuracy {100 * b['accuracy_range'][0]:.1f}–"
                         f"{100 * b['accuracy_range'][1]:.1f}%)", f"{c['tau_perfect_vs_mean_estimate']:.3f}",
                         "reported", "—", "—", ""])
        for recipe, v in (b.get("recipes") or {}).items():
            lo, hi = v["kendall_ci"]
            size = [p["kendall_tau_vs_macs"] for p in v["seeds"] if "kendall_tau_vs_macs" in p]
            n = len(v["seeds"])
            rows.append([f"· {recipe}: τ inherited vs mean retrained accuracy ({n} supernet seed{'s' * (n > 1)}"
                         + (f"; its τ vs MACs {statistics.mean(size):+.2f}" if size else "")
                         + (f", within networks of one size {v['kendall_tau_within_size_mean']:+.2f}"
                            if "kendall_tau_within_size_mean" in v else "") + ")",
                         f"{v['kendall_tau_mean']:.3f} [{lo:.3f}–{hi:.3f}]", "≥ 0.60, interval > 0.40",
                         "SPOS 0.50–0.54 (NAS-Bench-201, published)", "—", verdict(lo, 0.4, at_most=False)])
        if "retrain_vs_macs" in b:
            rows.append(["· τ of mean retrained accuracy vs MACs", f"{b['retrain_vs_macs']:.3f}", "reported", "—",
                         "—", ""])
        cfg = b.get("config") or {}
        what = (f"the model space {cfg['space']} (a choice's own weights)" if cfg.get("space")
                else f"proxyless-cifar, width {cfg.get('width')}")
        notes.append(f"`{name}`: {what}, {cfg.get('res')} px, {cfg.get('n')} images, {cfg.get('epochs')} retrain "
                     "epochs")
    note = ("Fashion-MNIST (" + "; ".join(notes) + "), tested on the 10,000 test images; networks scored on 2,000 "
            "held-out training images with recalibrated BatchNorm. A recipe `-eN` is its supernet trained N epochs "
            "(12 otherwise). Intervals: 95% bootstrap over networks (and supernet seeds).")
    return _section("Does the supernet rank networks? (issue 25)", "`ranking.json`", rows, note)


def section_fewshot(r: dict[str, Any] | None) -> str | None:
    """Issue 25's pilot: few-shot sub-supernets against one supernet trained the same steps longer."""
    if not r or not r.get("recipes"):
        return None
    rows = []
    for name, v in r["recipes"].items():
        lo, hi = v["kendall_ci"]
        rows.append([f"{name}: τ inherited vs mean retrained accuracy ({len(v['seeds'])} supernet seeds; within "
                     f"networks of one size {v['kendall_tau_within_size_mean']:+.2f})",
                     f"{v['kendall_tau_mean']:.3f} [{lo:.3f}–{hi:.3f}]", "reported", "—", "—", ""])
    note = (f"`{r.get('budget')}`, {r.get('networks')} networks, each started from ranking.py's "
            f"{r.get('base_epochs')}-epoch uniform supernet: `fewshot-dD-eE` splits it on decision D into one "
            "sub-supernet per option, each trained E more epochs with that option fixed; `uniform-more-eN` trains it "
            "N more epochs (the same steps in all).")
    return _section("Few-shot supernets, a pilot (issue 25)", "`fewshot.json`", rows, note)


def section_scoring_cost(r: dict[str, Any] | None) -> str | None:
    """Issue 25: what a score on a trained supernet costs, and how each way of scoring ranks."""
    if not r or not r.get("modes"):
        return None
    rows = []
    for name, v in r["modes"].items():
        lo, hi = v["kendall_ci"]
        rel = (f"; {v['cost_ratio_to_calib10']:.2f}x calib10's time, τ {v['tau_minus_calib10']['mean']:+.3f} against it"
               if "cost_ratio_to_calib10" in v else "")
        rows.append([f"{name}: τ inherited vs mean retrained accuracy, {v['ms_per_score_median']:.1f} ms a score "
                     f"(within one size {v['kendall_tau_within_size_mean']:+.2f}{rel})",
                     f"{v['kendall_tau_mean']:.3f} [{lo:.3f}–{hi:.3f}]", "reported", "—", "—", ""])
    note = (f"`{r.get('budget')}`, {r.get('networks')} networks scored on the 60-epoch SPOS supernets of "
            f"search_quality_model.py (seeds {', '.join(map(str, r.get('supernet_seeds', [])))}) on the search's "
            f"{r.get('held_out_images')} held-out images. calibN: BatchNorm re-estimated on N training batches of 64 "
            "(calib10: bn=recalibrate); batch: each held-out batch's own statistics in the supernet (bn=batch, the "
            "default).")
    return _section("What a score on a trained supernet costs (issue 25)", "`scoring_cost.json`", rows, note)


SINGLE_FILL = "-single-fill"  # search_quality_model.py / landing.py: a method's rows from before the two-block fill


def section_search_quality_model(r: dict[str, Any] | None) -> str | None:
    """Issue 25 on the model space whose ranking is measurable: each method's retrained accuracy at each target,
    paired with random (and with random within 5% under the target, and with the gradient search) over seeds."""
    if not r or not r.get("targets"):
        return None
    rows = []
    for e in r["targets"]:
        for m, v in e["methods"].items():
            if m.startswith("random"):
                continue
            # the last four: a search without a supernet (size alone), and a variant against a default search (the
            # defaults, the defaults before the cost study, those with the plain pick)
            for ref in dict.fromkeys(("random", "random-band", "grad", "largest", "spos-evolution",
                                      "spos-evolution-recal100", "spos-evolution-tie0",
                                      m.removesuffix(SINGLE_FILL))):  # once each (grad-single-fill: grad)
                d = v.get(f"minus_{ref}_pp")
                if not d or m == ref:
                    continue
                # the goals are evolution's: above random with the interval above 0, level with grad
                goal = "> 0, interval > 0" if ref.startswith("random") else "≥ 0 (level)"
                ok = d[1] > 0 if ref.startswith("random") else d[2] >= 0
                evo = m.startswith("spos-evolution") and ref in ("random", "random-band", "grad")
                rows.append([f"T={e['target_ms']:.4g} ms: {m} − {ref} ({v['seeds']} seeds; {m} "
                             f"{100 * v['test_acc'][0]:.2f}%, {100 * v['predicted_vs_target']:+.1f}% of the target"
                             + (f", {100 * v['param_free_share']:.0f}% pool/skip" if "param_free_share" in v else "")
                             + ")",
                             f"{d[0]:+.2f} pp [{d[1]:+.2f}, {d[2]:+.2f}]", goal if evo else "reported", "—", "—",
                             ("pass" if ok else "miss") if evo else ""])
        for m, v in e["methods"].items():
            if "measured_vs_target" in v and not m.startswith("random"):
                lo, mean, hi = v["measured_vs_target"]
                k, n = v["measured_within_5pct"]
                drifted = ""
                if "measured_vs_drifted_target" in v:  # the machine's drift since the latency model was made
                    kd, dm = v["measured_within_5pct_of_drifted"][0], v["measured_vs_drifted_target"][1]
                    drifted = f"; {kd} of {n} (mean {100 * dm:+.1f}%) against the target moved by the drift"
                old = m.endswith(SINGLE_FILL)  # superseded networks: reported, not judged
                rows.append([f"T={e['target_ms']:.4g} ms: {m}, measured latency against the target ({n} networks; "
                             f"{100 * lo:+.1f}% to {100 * hi:+.1f}%)", f"{k} of {n} within ±5% (mean "
                             f"{100 * mean:+.1f}%){drifted}", "reported" if old else "all within ±5%", "—", "—",
                             "" if old else "pass" if k == n else "miss"])
        first = e is r["targets"][0]  # searched first on each seed's supernet (the goal is for the targets after it)
        for m, ev in e["methods"].items():
            if m.startswith("spos-evolution") and ev.get("supernet_train_s"):
                rows.append([f"T={e['target_ms']:.4g} ms: {m}, a target's search on the trained supernet / its "
                             f"training ({ev['target_s']:.1f} s / {ev['supernet_train_s']:.0f} s"
                             + ("; the first search of each supernet" if first else "") + ")",
                             f"{100 * ev['target_s'] / ev['supernet_train_s']:.1f}%", "reported" if first else "≤ 2%",
                             "—", "—", "" if first else verdict(ev["target_s"] / ev["supernet_train_s"], 0.02)])
    note = (f"Budget `{r.get('budget')}` (ranking.py: examples/chain_space.py on Fashion-MNIST); targets 0.2, 0.4 and "
            f"0.6 of the latency range {r['range_ms'][0]:.4g}–{r['range_ms'][1]:.4g} ms ({r.get('latency_model')}). "
            "Differences are paired by seed, 95% bootstrap intervals over seeds.")
    drift = r.get("machine_drift")
    if drift:
        note += (f" Latency measured in one pass with the latency model's {drift['anchors']} own networks, which "
                 f"measured {100 * (drift['median'] - 1):+.1f}% against when the model was made (the machine's "
                 "drift; `hwnas measure-archs --reference` removes it from a predictor's data).")
    return _section("Search on a supernet that ranks (issue 25, model space)", "`search_quality_model.json`", rows,
                    note)


def section_landing(r: dict[str, Any] | None) -> str | None:
    """Issue 25's latency goal as a user meets it: a latency model made on this machine, searches under it, and the
    networks measured in the same sitting."""
    if not r or not r.get("targets"):
        return None
    rows = []
    for e in r["targets"]:
        for m, v in e["methods"].items():
            lo, med, hi = (100 * x for x in v["predicted_vs_target"])
            if "within" not in v:
                rows.append([f"T={e['target_ms']:.4g} ms: {m}, predicted latency against the target ({v['seeds']} "
                             "networks; not measured yet)", f"{med:+.1f}% [{lo:+.1f}, {hi:+.1f}]", "reported", "—",
                             "—", ""])
                continue
            k, n = v["within"]
            mlo, mmed, mhi = (100 * x for x in v["measured_vs_target"])
            err = 100 * v["measured_vs_predicted"][1]
            rows.append([f"T={e['target_ms']:.4g} ms: {m}, measured latency against the target ({n} seeds; predicted "
                         f"{med:+.1f}% [{lo:+.1f}, {hi:+.1f}], the latency model off by {err:+.1f}% on them)",
                         f"{k} of {n} within ±{100 * r['within']:.0f}% (median {mmed:+.1f}%, {mlo:+.1f}% to "
                         f"{mhi:+.1f}%" + (f"; each pass: {', '.join(f'{p[0]}/{p[1]}' for p in v['within_each_pass'])}"
                                           if len(v.get("within_each_pass", [])) > 1 else "") + ")",
                         *(["reported", "—", "—", ""] if m.endswith(SINGLE_FILL)  # superseded: not judged
                           else [f"all within ±{100 * r['within']:.0f}%", "—", "—", "pass" if k == n else "miss"])])
    note = (f"examples/chain_space.py; targets 0.2, 0.4 and 0.6 of the latency range {r['range_ms'][0]:.4g}–"
            f"{r['range_ms'][1]:.4g} ms of a latency model made on this machine ({r.get('latency_model')}, "
            f"{r.get('latency_model_made_at')}); evolution with its defaults, the gradient search (and DARTS, GDAS, "
            "ENAS) as search_quality_model.py runs it (hwnas pareto's settings, 8 search epochs; `grad-defaults`: "
            "hwnas pareto's defaults as they are, 6); one network per seed and target. "
            f"`{SINGLE_FILL}`: exported with the fill before it took two-block changes.")
    drift = r.get("machine_drift")
    if drift:
        note += (f" Measured {r.get('measured_at')} in one pass with the latency model's own networks, which measured "
                 f"{100 * (drift['median'] - 1):+.1f}% against when it was made")
        earlier = r.get("passes", [])[:-1]
        note += (" (earlier passes: " + ", ".join(f"{p['measured_at']}, {100 * (p['drift'] - 1):+.1f}%"
                                                 for p in earlier) + ")." if earlier else ".")
    return _section("Searched networks measured on the machine the latency model was made on (issue 25)",
                    "`landing.json`", rows, note)


def section_multitrial(r: dict[str, Any] | None, source: str = "multitrial_reduced.json", variant: str = ""
                       ) -> str | None:
    if not r or "fronts" not in r:
        return None
    rows = []
    summ = _get(r, "fronts", "summary", default={}) or {}
    for sampler, v in sorted(summ.items()):
        hv = v.get("hypervolume") or {}
        if hv:
            rows.append([f"{sampler}: front hypervolume (n={hv.get('n')} seeds)",
                         f"{hv['median']:.4f} [{hv['min']:.4f}–{hv['max']:.4f}]", "reported", "—", "—", ""])
        d = v.get("minus_random")
        if d:
            lo, hi = d["ci95"]
            rows.append([f"· {sampler} − random, paired by seed (n={d['n']}, wins {d.get('wins')})",
                         f"{d['mean']:+.5f} [{lo:+.5f}, {hi:+.5f}]", "interval > 0", "random", "—",
                         verdict(lo, 0.0, at_most=False) if lo == lo else "—"])
    one = r.get("oneshot") or {}
    for sampler, v in sorted((one.get("summary") or {}).items()):
        d, fit = v.get("minus_oneshot") or {}, v.get("trials_in_oneshot_time") or {}
        if not d:
            continue
        lo, hi = d["ci95"]
        rows.append([f"· {sampler} − one-shot ProxylessNAS (3 targets) at equal wall-clock time, paired by seed "
                     f"(n={d['n']}, wins {d.get('wins')}; {fit.get('median', 0):.0f} of {r.get('trials')} trials fit "
                     "in its time, median)", f"{d['mean']:+.5f} [{lo:+.5f}, {hi:+.5f}]", "reported", "one-shot",
                     "—", ""])
    w = r.get("workers") or {}
    if "speedup" in w:
        one, two = w.get("1", {}), w.get("2", {})
        load = w.get("load_before")
        rows.append(["trials per hour, 2 workers / 1 worker (SQLite storage, one torch thread each"
                     + (f"; load {load:.1f} before" if load is not None else "") + ")",
                     f"{w['speedup']:.2f}× ({two.get('trials_per_hour', 0):.0f} / {one.get('trials_per_hour', 0):.0f})",
                     "≥ 1.7×", "—", "—", verdict(w["speedup"], 1.7, at_most=False)])
    st = _get(r, "fronts", "settings", default={}) or {}
    note = (f"Budget `{r.get('budget')}` ({st.get('n')} distorted Fashion-MNIST images at {st.get('res')} px, "
            f"{st.get('epochs')} epochs, {st.get('test')} test images, {st.get('memory_format', 'contiguous')} "
            f"memory); seeds {r.get('seeds')}; {r.get('trials')} trials per sampler and seed, each one network of "
            "proxyless-cifar trained with `hwnas multitrial`'s code"
            + ("; each study's first trial is the fastest network" if st.get("first_trial") == "fastest" else
               "; every trial sampled (before the fastest network became each study's first trial)")
            + ". Worker timings on this shared 2-core machine.")
    title = f"Multi-trial search on Optuna, {r.get('budget')} budget" + (f", {variant}" if variant else "") \
        + " (issue 27)"
    return _section(title, f"`{source}`", rows, note)


def section_new_target_cost(r: dict[str, Any] | None) -> str | None:
    if not r or not r.get("rows"):
        return None
    rows = []
    for mode in r.get("modes", {}):
        mine = sorted((x for x in r["rows"] if x["mode"] == mode), key=lambda x: x["order"])
        opts = ", ".join(f"{k}={v}" for k, v in (r["modes"][mode] or {}).items()) or "defaults"
        for x in mine:
            later = x["order"] > 0  # the goal is for every search after the first (which scores the predictor's set)
            dev = x.get("device", "")
            rows.append([f"{mode} ({opts}): search {x['order'] + 1}, T={x['target_ms']:.3g} ms"
                         + (f" on {dev.split(' (')[0]}" if dev else "")
                         + (" in a fresh process (wall time from its start)" if x.get("fresh_process") else "")
                         + " — search time / "
                         f"supernet training ({x['new_scores']} new scores"
                         + (f"; load average {x['load']:.1f} on 2 cores" if x.get("load") else "") + ")",
                         f"{100 * x['ratio_to_training']:.1f}%",
                         "≤ 2%" if later else "reported", "—", "—",
                         verdict(x["ratio_to_training"], 0.02) if later else ""])
    tr = r.get("supernet_train_s")
    fmt = r.get("supernet_memory_format")
    note = ("Targets searched one after another on one trained SPOS supernet (search_quality's SPOS recipe and budget"
            + (f", {fmt} memory" if fmt and fmt != "unknown" else "")
            + (f", trained in {tr:.0f} s" if isinstance(tr, (int, float)) else "") + "); the goal is for a target "
            "or device after the first, when the scores cached by earlier searches are reused. Another device: a "
            "latency table of the same space profiled with that backend (not counted), searched once more.")
    return _section("What a new target costs on a trained supernet (issue 25)", "`new_target_cost.json`", rows, note)


def section_runs(r: dict[str, Any] | None) -> str | None:
    if not r or not isinstance(r.get("benchmarks"), list):
        return None
    rows = []
    for b in r["benchmarks"]:
        w = b.get("wall_s")
        rows.append([b.get("name"), b.get("status", "?") + (f" ({b['reason']})" if b.get("reason") else ""),
                     f"{w:.0f} s" if isinstance(w, (int, float)) else "—", f"{b.get('budget_s')} s"])
    total, budget = r.get("total_s"), r.get("budget_total_s")
    rows.append(["total", r.get("mode", ""), f"{total:.0f} s" if isinstance(total, (int, float)) else "—",
                 f"{budget} s" if budget else "—"])
    env = r.get("environment", {})
    return "\n".join([f"## The last `run_all.py` ({r.get('mode')} mode, {env.get('finished', '?')})", "",
                      _table(["benchmark", "status", "wall time", "budget"], rows), ""])


def build_summary(results: Path) -> str:
    """SUMMARY.md text from the result JSONs in ``results`` (nothing is measured here)."""
    res = load_results(results)
    envs = [v.get("environment", {}) for v in res.values() if isinstance(v, dict)]
    machines = sorted({f"{e.get('cpu_model', '?')} ({e.get('cpu_count', '?')} cores)" for e in envs if e})
    parts = ["# Benchmark summary", "",
             f"Generated by `benchmarks/run_all.py` from the result JSONs in `{results.name}/` (each JSON holds the "
             "environment and settings it was measured with). Figures are medians with [min–max] and the number of "
             "repeats where a benchmark repeats; timings against a peer are ratios from interleaved runs. "
             f"Machine(s): {', '.join(machines) or 'unknown'}. This machine's 2 cores are shared, so timings "
             "drift between runs.", ""]
    sections = [section_profile(res), section_predictors(res), section_search_cost(res.get("search_cost")),
                section_search_constraint(res.get("search_constraint")), section_model_spaces(res.get("model_spaces")),
                section_data_pipeline(res.get("data_pipeline")), section_memory_format(res.get("memory_format")),
                section_nni(res.get("nni_proxyless")),
                section_ofa(res.get("ofa_table_check")), section_ddp(res.get("search_ddp")),
                section_pareto(res.get("pareto_front")), section_search_quality(res.get("search_quality")),
                section_ranking(res.get("ranking")), section_search_quality_model(res.get("search_quality_model")),
                section_landing(res.get("landing")),
                section_fewshot(res.get("fewshot")), section_scoring_cost(res.get("scoring_cost")),
                section_multitrial(res.get("multitrial_reduced")),
                section_multitrial(res.get("multitrial_search-quality"), "multitrial_search-quality.json"),
                section_multitrial(res.get("multitrial_search-quality-sampled-first"),
                                   "multitrial_search-quality-sampled-first.json", "every trial sampled"),
                section_new_target_cost(res.get("new_target_cost")), section_runs(res.get("run_all"))]
    missing = []
    for name, sec in zip(("profile_cost", "predictor_accuracy", "search_cost", "search_constraint", "model_spaces",
                          "data_pipeline", "memory_format", "nni_proxyless",
                          "ofa_table_check", "search_ddp", "pareto_front", "search_quality", "ranking",
                          "search_quality_model", "landing", "fewshot", "scoring_cost", "multitrial_reduced", "multitrial_search-quality",
                          "multitrial_search-quality-sampled-first", "new_target_cost"), sections,
                         strict=False):
        if sec is None:
            missing.append(name)
    parts += [s for s in sections if s]
    bad = [k for k, v in res.items() if "_error" in v]
    if missing:
        parts.append(f"No results yet for: {', '.join(missing)}.")
    if bad:
        parts.append(f"Unreadable result files: {', '.join(bad)}.")
    return "\n".join(parts).rstrip() + "\n"


def write_summary(results: Path) -> Path:
    from hwnas.io import atomic_write_text

    path = results / "SUMMARY.md"
    atomic_write_text(path, build_summary(results))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized arguments; results go to results/quick/")
    p.add_argument("--table", default=os.environ.get("HWNAS_OFA_TABLE"),
                   help="a published OFA/ProxylessNAS YAML table for ofa_table_check (default $HWNAS_OFA_TABLE)")
    p.add_argument("--table-args", help="extra arguments for ofa_table_check, e.g. \"--space proxyless-mobile "
                                        "--widths 32,40,80,96,192,320\" (the published ProxylessNAS-Mobile widths)")
    p.add_argument("--only", help="comma-separated benchmark names to run")
    p.add_argument("--skip", help="comma-separated benchmark names to leave out")
    p.add_argument("--results-dir", type=Path, help="default: benchmarks/results (full) or results/quick (quick)")
    p.add_argument("--timeout-factor", type=float, default=2.0, help="stop a benchmark after this x its budget")
    p.add_argument("--summary-only", action="store_true", help="only regenerate SUMMARY.md from existing JSONs")
    p.add_argument("--list", action="store_true", help="print the plan (arguments, budgets) and exit")
    a = p.parse_args(argv)
    results = a.results_dir or (RESULTS / "quick" if a.quick else RESULTS)
    results.mkdir(parents=True, exist_ok=True)
    if a.list:
        for b, args, why in plan(a):
            budget = b.quick_budget_s if a.quick else b.budget_s
            print(f"{b.name:20s} {budget:5d} s  " + (" ".join(args) if args is not None else f"skipped: {why}"))
        return 0
    failed = []
    if not a.summary_only:
        recs = run_benchmarks(a, results)
        failed = [r["name"] for r in recs if r["status"] not in ("ok", "skipped")]
    path = write_summary(results)
    print(f"wrote {path}")
    if failed:
        print(f"failed: {', '.join(failed)} (see {results / 'logs'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
