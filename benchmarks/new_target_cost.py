"""Issue 25: what does one more target (or device) cost on a trained supernet, against training it?

Takes a trained SPOS supernet run (default: one trained here on first use, with ``search_quality.py``'s SPOS recipe
and budget, in hwnas's default memory format; a killed training resumes) and searches it with
``--method evolution --supernet RUN`` at several targets in turn, with the inherited estimator as it is by default (every candidate scored by inherited accuracy) and with Once-for-All's
accuracy predictor (``predictor`` random architectures scored once per supernet, then ``top_k`` re-scored per
target). Each search's wall time is divided by the supernet's training time (its ``log.csv`` ``train_s``).
Another device (``--device``, default the ``torch`` backend): a latency table of the same space profiled here
(not counted: profiling a device is its own step), then one predictor-mode search at 0.4 of that device's range.
One more predictor-mode target (``--fresh-fraction``) runs in a fresh Python process, as ``hwnas search`` does: its
wall time counts starting Python, the imports and loading the data, which a target searched in a running process
does not pay. Run it on a quiet machine: both figures are wall times on the same cores.

    python benchmarks/new_target_cost.py                       # trains its supernet on first use (~1 min)
    python benchmarks/new_target_cost.py --supernet RUN --fractions 0.2 0.4 0.6
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from budget_study import BUDGETS, DEFAULT, fashion_mnist, space_for  # noqa: E402

HERE = Path(__file__).resolve().parent
SUPERNET = HERE.parent / ".work" / "new_target_cost" / "spos-supernet"  # trained here on first use
COSTS = HERE / "results" / "search_quality" / "costs.json"
MODES = {"default": {}, "predictor": {"predictor": 200, "top_k": 5}}
SUPERNET_EPOCHS = 9  # search_quality's SPOS recipe


def main(argv: list[str] | None = None) -> int:
    from hwnas.io import read_json
    from hwnas.search.run import RunDir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--supernet", type=Path, default=SUPERNET,
                   help="a trained SPOS supernet run (default: one trained here on first use with search_quality's "
                        "SPOS recipe in hwnas's default memory format; search_quality.py's own are contiguous)")
    p.add_argument("--fractions", type=float, nargs="*", default=[0.2, 0.4, 0.6])
    p.add_argument("--work", type=Path, default=HERE.parent / ".work" / "new_target_cost")
    p.add_argument("--device", default="torch", help="a second device for the predictor mode: its latency table "
                   "is profiled here with this hwnas backend (LUT-sum, not timed as search cost) and the supernet "
                   "searched once more under it ('' to skip)")
    p.add_argument("--modes", nargs="*", choices=list(MODES), default=list(MODES),
                   help="scoring modes to (re)measure, each on a fresh copy of the supernet; the other modes' rows "
                        "are kept from the last result")
    p.add_argument("--fresh-fraction", type=float, default=0.5,
                   help="predictor mode: one more target at this fraction of the range, searched in a fresh Python "
                        "process as `hwnas search` runs it (its wall time counts the interpreter, imports and data; "
                        "negative to skip)")
    p.add_argument("--train-supernet", action="store_true",
                   help="train --supernet first where it holds none (the default supernet is trained so anyway): "
                        "search_quality's SPOS recipe (9 epochs, batch 32, seed 0) in hwnas's default memory format")
    p.add_argument("--one-target", type=float, default=None, help=argparse.SUPPRESS)  # the fresh process's search
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.one_target is not None:
        return one_target(a.supernet, a.one_target, a.work)
    started = (a.supernet / "checkpoint.pt").exists()
    if (a.train_supernet or a.supernet == SUPERNET) and (not started or
                                                         len(RunDir(a.supernet).read_log()) < SUPERNET_EPOCHS):
        from hwnas.search import SearchConfig, run_search

        space, data, costs = setting()
        run_search(space, costs, data, SearchConfig(method="spos", supernet_weights="shared", n_epochs=SUPERNET_EPOCHS,
                                                    batch_size=32, seed=0, search_rounds=0, progress=False),
                   run_dir=a.supernet, resume=started, log=None)
    if not (a.supernet / "checkpoint.pt").exists():
        sys.exit(f"new_target_cost: no trained supernet in {a.supernet} (give --train-supernet to train "
                 "one, or run search_quality.py --methods spos-evolution first)")
    space, data, costs = setting()
    train_s = float(RunDir(a.supernet).read_log()["train_s"].fillna(0).sum())
    old = HERE / "results" / "new_target_cost.json"
    last = read_json(old, "last result", expect=dict) if old.exists() else {}
    when = last.get("environment", {}).get("finished")
    rows = [{"measured": when, **r} for r in last.get("rows", []) if r["mode"] not in a.modes]
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    devices = [("onnxruntime (the search's latency model)", costs, a.fractions)]
    if a.device:
        devices.append((f"{a.device} (another device)", other_device(space, a.device, a.work), [0.4]))
    for mode in a.modes:
        args = MODES[mode]
        # each mode on its own copy without the caches other searches left there (scores, the accuracy
        # predictor's weights), so the first target pays for what it needs; a mode re-measured starts afresh
        fresh = a.work / f"supernet-{mode}"
        for stale in [fresh, *a.work.glob(f"{mode}-T*")]:
            shutil.rmtree(stale, ignore_errors=True)
        shutil.copytree(a.supernet, fresh, ignore=shutil.ignore_patterns("scores-*.csv", "accuracy-mlp-*.npz"))
        searches = [(dev, model, f) for dev, model, fracs in devices[:1 if mode == "default" else None]
                    for f in fracs]
        for i, (dev, model, f) in enumerate(searches):
            t = round(model.min_ms() + f * (model.max_ms() - model.min_ms()), 5)
            run = a.work / f"{mode}-T{t:.5g}" if i < len(a.fractions) else a.work / f"{mode}-device-T{t:.5g}"
            shutil.rmtree(run, ignore_errors=True)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            res = search(space, model, data, fresh, t, args, run)
            s = time.perf_counter() - t0
            rows.append({"mode": mode, "order": i, "device": dev, "target_ms": t, "search_s": s,
                         "ratio_to_training": s / train_s,
                         "new_scores": int(sum(r.get("new_scores", 0) for r in res.history)),
                         "arch": res.arch_string, "predicted_ms": res.predicted_ms, "measured": now, "load": load})
            print(f"{mode:9s} {dev.split()[0]:11s} T={t:.4g} ms: {s:.1f} s = {s / train_s:.1%} of training "
                  f"({rows[-1]['new_scores']} new scores, load {load:.1f})", flush=True)
        if mode == "predictor" and a.fresh_fraction >= 0:
            t = round(costs.min_ms() + a.fresh_fraction * (costs.max_ms() - costs.min_ms()), 5)
            run = a.work / f"{mode}-fresh-T{t:.5g}"
            shutil.rmtree(run, ignore_errors=True)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--one-target", str(t), "--supernet", str(fresh),
                                  "--work", str(run)], capture_output=True, text=True, check=False)
            s = time.perf_counter() - t0
            if out.returncode != 0:
                sys.exit(f"new_target_cost: the fresh-process search failed:\n{out.stderr[-2000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"mode": mode, "order": len(searches), "device": devices[0][0], "fresh_process": True,
                         "target_ms": t, "search_s": s, "in_process_s": res["search_s"],
                         "ratio_to_training": s / train_s, "new_scores": res["new_scores"], "arch": res["arch"],
                         "predicted_ms": res["predicted_ms"], "measured": now, "load": load})
            print(f"{mode:9s} fresh process T={t:.4g} ms: {s:.1f} s = {s / train_s:.1%} of training (of which the "
                  f"search {res['search_s']:.1f} s; {res['new_scores']} new scores, load {load:.1f})", flush=True)
    cl = (RunDir(a.supernet).config().get("runtime") or {}).get("channels_last")
    out = write_result("new_target_cost", {"benchmark": "new_target_cost", "supernet": str(a.supernet),
                                           "supernet_train_s": train_s,
                                           "supernet_memory_format": {True: "channels-last", False: "contiguous"}
                                           .get(cl, "unknown"), "modes": MODES, "measured_modes": a.modes,
                                           "rows": sorted(rows, key=lambda r: (list(MODES).index(r["mode"]),
                                                                               r["order"]))})
    print(f"wrote {out}")
    return 0


def setting():
    """The benchmark's space, data and pinned latency model (search_quality's budget)."""
    from hwnas.io import read_json
    from hwnas.search.run import costs_from_dict

    budget = {**DEFAULT, **BUDGETS["r16-w25-n2k-e10-distort"]}
    return space_for(budget), fashion_mnist(budget), costs_from_dict(
        read_json(COSTS, "pinned block costs", expect=dict)["costs"])


def search(space, costs, data, supernet: Path, target_ms: float, args: dict, run: Path):
    """``hwnas search --method evolution --supernet RUN --target-ms T`` with the mode's scoring settings."""
    from hwnas.search import SearchConfig, run_search
    from hwnas.search.run import RunDir

    started = (RunDir(supernet).config().get("runtime") or {}).get("channels_last")
    return run_search(space, costs, data, SearchConfig(method="evolution", supernet=str(supernet),
                                                       channels_last=started,  # scored as the supernet trained
                                                       supernet_weights="shared", target_ms=target_ms, batch_size=32,
                                                       progress=False, search_args=args), run_dir=run, log=None)


def one_target(supernet: Path, target_ms: float, run: Path) -> int:
    """One predictor-mode search of ``supernet`` at ``target_ms`` in this (fresh) process, as a user's
    ``hwnas search --method evolution --supernet RUN`` runs it; prints its figures as one JSON line."""
    space, data, costs = setting()
    t0 = time.perf_counter()
    res = search(space, costs, data, supernet, target_ms, MODES["predictor"], run)
    print(json.dumps({"search_s": time.perf_counter() - t0, "arch": res.arch_string, "predicted_ms": res.predicted_ms,
                      "new_scores": int(sum(r.get("new_scores", 0) for r in res.history))}))
    return 0


def other_device(space, backend_name: str, work: Path):
    """Another device's latency model for the same space: a table measured here with ``backend_name`` (1 thread,
    hwnas's quick protocol; resumed if killed), read as LUT-sum block costs."""
    from hwnas.predictors.block_costs import lut_block_costs
    from hwnas.profilers import QUICK, build_table, create_backend

    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    table = build_table(space, create_backend(backend_name, threads=1, protocol=QUICK),
                        work / f"table-{backend_name}.csv", progress=False)
    print(f"{backend_name} table: {len(table.rows)} layers ({time.perf_counter() - t0:.0f} s, not counted)", flush=True)
    return lut_block_costs(table, space)


if __name__ == "__main__":
    sys.exit(main())
