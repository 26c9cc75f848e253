"""Issue 25's last goal, measured as a user meets it: is every searched network measured within ±5% of its target
when the latency model was made on the machine that runs the network?

``search_quality_model.py`` pins its latency model (``costs.json``) so that every seed and session searches under
the same one; measured sessions later, on another VM, its networks carry that machine's drift (47.5% slower on the
last). A user profiles the device they ship to, then searches and measures there. This benchmark does the same in
one sitting, on ``examples/chain_space.py`` at ``chain-r16-n4k-e10``:

1. a latency model made here and now: ONNX Runtime (1 thread), the robust protocol, a per-candidate table and a
   predictor calibrated on 40 measured networks (``search_quality_model.latency_model``), in ``results/landing/``;
2. per seed, each method searches at the three targets (0.2, 0.4 and 0.6 of the latency range) with its defaults:
   ``spos-evolution`` (a 60-epoch uniform SPOS supernet, then ``--method evolution --supernet RUN``) and ``grad``
   (gradient ProxylessNAS as ``search_quality_model.py`` runs it: ``hwnas pareto``'s settings with 8 search epochs;
   ``darts``, ``gdas``, ``enas`` and ``grad-defaults``, ``hwnas pareto``'s defaults as they are (6 search epochs),
   with ``--methods``); nothing is retrained, only latency is asked. Rows of a method
   kept from before the export's two-block fill are named ``<method>-single-fill``;
3. every network found and the latency model's 40 networks measured again in one interleaved pass
   (``--measure``; alone, on a quiet machine): the 40 say how far the machine moved since step 1. Each pass is
   kept (``measured-<time>.json``); the figures are the last one's, with each pass's count beside them.

Per method and target: how many networks measure within ±5% of the target, their spread, where the latency model
put them (the search's band is 5% under the target), and the latency model's error on the networks found.
Writes ``results/landing.json``.

    python benchmarks/landing.py --seeds 0 1 2 3 4 5 6 7 8 9    # the latency model, then the searches
    python benchmarks/landing.py --measure                        # afterwards, alone
    python benchmarks/landing.py --quick                          # a tiny run into a temporary folder
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import search_quality_model as sqm  # noqa: E402
from _common import measure_networks, write_result  # noqa: E402
from budget_study import fashion_mnist  # noqa: E402
from ranking import budget_of, space_for  # noqa: E402

from hwnas.io import atomic_write_json, read_json  # noqa: E402

NAME = "landing"
METHODS = ("spos-evolution", "grad")
WITHIN = 0.05  # the goal: measured within ±5% of the target


def search_seed(seed: int, args: argparse.Namespace, folder: Path, log=print) -> None:
    cfg = budget_of(args.budget)
    space, data = space_for(cfg), fashion_mnist(cfg)
    costs = sqm.latency_model(space, folder, args.quick)
    path = folder / f"seed{seed}.json"
    mine = {"budget": args.budget, "supernet_epochs": args.supernet_epochs}
    shard = read_json(path, "shard", expect=dict) if path.exists() else {"seed": seed, **mine, "found": []}
    other = {k: shard[k] for k in mine if k in shard and shard[k] != mine[k]}
    if other:  # its networks were found under other settings: mixing them would compare unlike searches
        raise SystemExit(f"{path} holds a run with {other}, not {mine}: give another results folder")
    work = args.work / f"seed{seed}"
    for method in args.methods:
        for t in sqm.targets_of(costs):
            if any(r["method"] == method and abs(r["target_ms"] - t) < 1e-9 for r in shard["found"]):
                continue
            t0 = time.perf_counter()
            arch, _ = sqm.find(method, space, costs, data, t, seed, args, work)
            shard["found"].append({"method": method, "target_ms": t, "arch": str(arch),
                                   "predicted_ms": costs.arch_ms(arch, space), "search_s": time.perf_counter() - t0})
            atomic_write_json(path, shard)
            log(f"seed {seed} {method:15s} T={t:.4g} ms: {costs.arch_ms(arch, space):.4g} ms predicted "
                f"({time.perf_counter() - t0:.0f} s)")


def measure(space, folder: Path, quick: bool, log=print) -> None:
    """Every network found and the latency model's 40, in one interleaved pass with its backend and protocol."""
    from hwnas.predictors.archs import ArchDataset
    from hwnas.profilers import QUICK, ROBUST, create_backend

    found = sorted({r["arch"] for p in folder.glob("seed*.json") for r in read_json(p, "shard", expect=dict)["found"]})
    if not found:
        raise SystemExit(f"no network found yet in {folder}: run the searches first")
    backend = create_backend("onnxruntime", threads=1, protocol=QUICK if quick else ROBUST)
    fit = ArchDataset.load(folder / "archs_fit.csv")
    if fit.meta["settings"]["protocol"] != backend.protocol.to_dict():  # a drift across protocols mixes them in
        raise SystemExit(f"the latency model's networks were timed with {fit.meta['settings']['protocol']}, this pass "
                         f"would use {backend.protocol.to_dict()}: measure with the same protocol")
    anchors = fit.arch_strings
    log(f"measuring {len(found)} networks and the latency model's {len(anchors)} networks in one pass")
    ms = measure_networks(backend, [space.parse(a) for a in found + anchors], space)
    ratio = np.array(ms[len(found):]) / fit.latencies(backend.protocol.column)
    now = datetime.now(timezone.utc)
    # one file per pass: a second pass later says how far the figures move between passes
    atomic_write_json(folder / f"measured-{now:%Y%m%dT%H%M%S}.json", {
        "measured_at": now.isoformat(timespec="seconds"),
        "networks": dict(zip(found, ms[:len(found)], strict=True)),
        # now / when the latency model was made, over its own networks
        "drift": float(np.median(ratio)), "drift_p10_p90": [float(v) for v in np.percentile(ratio, [10, 90])]})


def _within(rows: list[dict[str, Any]], nets: dict[str, float], t: float) -> list[int]:
    off = [nets[r["arch"]] / t - 1 for r in rows if r["arch"] in nets]
    return [sum(abs(v) <= WITHIN for v in off), len(off)]


def summarise(folder: Path) -> dict[str, Any]:
    shards = [read_json(p, "shard", expect=dict) for p in sorted(folder.glob("seed*.json"))]
    pinned = read_json(folder / "costs.json", "latency model", expect=dict)
    passes = sorted((read_json(p, "measured latencies", expect=dict) for p in folder.glob("measured-*.json")),
                    key=lambda m: m["measured_at"])
    measured = passes[-1] if passes else {}  # the figures are the last pass's; each pass's count is kept beside
    nets = measured.get("networks", {})
    rows = [{**r, "seed": s["seed"], "measured_ms": nets.get(r["arch"])} for s in shards for r in s["found"]]
    # when the latency model's networks were measured (their dataset's own record, which a clone keeps)
    made = read_json(folder / "archs_fit.meta.json", "latency model data", expect=dict).get("environment", {})
    out: dict[str, Any] = {"range_ms": pinned["range_ms"], "latency_model": pinned.get("source"),
                           "latency_model_made_at": made.get("date"),
                           "measured_at": measured.get("measured_at"), "within": WITHIN, "targets": []}
    if measured:
        out["machine_drift"] = {"median": measured["drift"], "p10_p90": measured["drift_p10_p90"]}
        out["passes"] = [{"measured_at": m["measured_at"], "drift": m["drift"]} for m in passes]
    for t in sorted({round(r["target_ms"], 9) for r in rows}):
        entry: dict[str, Any] = {"target_ms": t, "methods": {}}
        for m in sorted({r["method"] for r in rows}):
            at = [r for r in rows if r["method"] == m and abs(r["target_ms"] - t) < 1e-9]
            if not at:
                continue
            pred = [r["predicted_ms"] / t - 1 for r in at]
            e: dict[str, Any] = {"seeds": len(at), "predicted_vs_target": [min(pred), float(np.median(pred)),
                                                                           max(pred)]}
            done = [r for r in at if r["measured_ms"] is not None]
            if done:
                off = [r["measured_ms"] / t - 1 for r in done]
                err = [r["measured_ms"] / r["predicted_ms"] - 1 for r in done]
                e.update(measured_vs_target=[min(off), float(np.median(off)), max(off)],
                         within=[sum(abs(v) <= WITHIN for v in off), len(off)],
                         # the latency model's error on the networks the search chose
                         measured_vs_predicted=[min(err), float(np.median(err)), max(err)],
                         within_each_pass=[_within(at, m["networks"], t) for m in passes])
            entry["methods"][m] = e
        out["targets"].append(entry)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="*", default=list(range(10)))
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=[*METHODS, sqm.GRAD_DEFAULTS, *sqm.ONESHOT])
    sqm.add_shard_args(p, NAME)
    a = p.parse_args()
    folder = sqm.results_folder(a, NAME)
    if not a.summary and not a.measure:
        sqm.for_each_seed(a, folder, NAME, search_seed)
    if a.measure or a.quick:
        measure(space_for(budget_of(a.budget)), folder, a.quick)
    res = summarise(folder)
    path = write_result(NAME, res, directory=folder if a.quick else None)
    for e in res["targets"]:
        for m, v in e["methods"].items():
            line = f"T={e['target_ms']:.4g} ms {m:15s} predicted {100 * v['predicted_vs_target'][1]:+.1f}%"
            if "within" in v:
                lo, med, hi = (100 * x for x in v["measured_vs_target"])
                line += (f"; measured {med:+.1f}% [{lo:+.1f}, {hi:+.1f}], {v['within'][0]} of {v['within'][1]} "
                         f"within ±{WITHIN:.0%}; model error {100 * v['measured_vs_predicted'][1]:+.1f}%")
            print(line)
    if "machine_drift" in res:
        print(f"the latency model's own networks measure {100 * (res['machine_drift']['median'] - 1):+.1f}% "
              "against when it was made")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    from hwnas.errors import HwnasError

    try:
        sys.exit(main())
    except HwnasError as exc:
        sys.exit(f"landing: {exc}")
