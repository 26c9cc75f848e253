"""Issue 25: what scoring one candidate on a trained supernet costs, and how much of the ranking a cheaper score
keeps.

A new target on a trained supernet costs its evolution's new scores (about 100: the first generation), and each
score is a BatchNorm recalibration (10 batches of 64 training images) plus an evaluation of the held-out split.
On ``examples/chain_space.py`` at ``chain-r16-n4k-e10`` that is 17-21% of a 60-epoch supernet's training per
target (``search_quality_model.py``); the goal is 2%. This measures the score's parts and the ranking each way of
scoring keeps, on the same supernets and the same 40 networks:

- the networks: ``ranking.py``'s 40 (spread over the MAC range), each retrained with two seeds
  (``results/ranking/retrain-chain-r16-n4k-e10-seed{0,1}.json``); τ is against their mean;
- the supernets: ``search_quality_model.py``'s 60-epoch uniform SPOS supernets (``--work``, one per seed);
- the score: accuracy on the search's own held-out split (400 images), as ``hwnas search --method evolution``
  scores, with the BatchNorm statistics:

  - ``calib<N>``: re-estimated on N batches of 64 of the search's fixed calibration draw, in the child cut out of
    the supernet (``calib10``: ``bn=recalibrate``, the default before);
  - ``batch``: not re-estimated: the path run inside the supernet, each held-out batch of 64 normalised by its own
    statistics (``bn=batch``, the default);
  - ``batch400``: the same with the held-out split in one batch;
  - ``child-batch400``: the same in the child, the held-out split in one batch;
  - ``heldout``: re-estimated in the child on the held-out images themselves, then evaluated (two passes).

Per mode: τ (and within one size) per supernet seed and pooled with its bootstrap interval, the paired difference
of τ to ``calib10`` over seeds, and the median milliseconds of a score (one torch thread; building the child
included). Writes ``results/scoring_cost.json``.

    python benchmarks/scoring_cost.py --seeds 0 1 2 3 4
    python benchmarks/scoring_cost.py --quick          # one supernet, 8 networks, two modes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, write_result  # noqa: E402
from budget_study import fashion_mnist  # noqa: E402
from ranking import budget_of, kendall, kendall_within_size, networks, pooled_tau, space_for  # noqa: E402

BUDGET = "chain-r16-n4k-e10"
MODES = ("calib10", "calib5", "calib3", "calib2", "calib1", "batch", "batch400", "child-batch400", "heldout")
WORK = HERE.parent / ".work" / "search_quality_model"


def scorer(run: Path, space, data, mode: str):
    """arch -> (held-out accuracy, seconds) on the supernet of ``run``, scored as ``mode`` says."""
    from torch.utils.data import Subset

    from hwnas.search.estim.inherited import CALIBRATION_SEED, batch_stat_accuracy
    from hwnas.search.run import RunDir
    from hwnas.search.supernet import build_supernet
    from hwnas.space.builder import build_model
    from hwnas.train.data import ImageSet, make_loader
    from hwnas.train.deploy import recalibrate_bn
    from hwnas.train.device import Runtime
    from hwnas.train.training import evaluate, generator

    rd = RunDir(run)
    net = build_supernet(space, weights=rd.config()["search"].get("supernet_weights") or "separate")
    net.load_state_dict(rd.load_checkpoint()["net"])
    rt = Runtime.create("cpu")
    train = data.train.with_augment(False) if isinstance(data.train, ImageSet) else data.train
    gb = 64
    valid = make_loader(data.valid, gb, shuffle=False, workers=0)
    whole = make_loader(data.valid, len(data.valid), shuffle=False, workers=0)
    if mode.startswith("calib"):
        batches = int(mode[5:])
        keep = torch.randperm(len(train), generator=generator(CALIBRATION_SEED))[:batches * gb].tolist()
        calib = make_loader(Subset(train, keep), gb, shuffle=False, workers=0)

    def score(arch) -> tuple[float, float]:
        t0 = time.perf_counter()
        if mode in ("batch", "batch400"):  # what hwnas search --search-arg bn=batch does
            acc = batch_stat_accuracy(net, space.indices(arch), valid if mode == "batch" else whole, rt,
                                      batch_size=gb)
            return acc, time.perf_counter() - t0
        child = build_model(arch, space)
        child.load_state_dict(net.child_state_dict(arch))
        if mode.startswith("calib"):
            recalibrate_bn(child, calib, batches, rt)
            acc = evaluate(child, valid, gb, runtime=rt)[1]
        elif mode == "heldout":
            recalibrate_bn(child, valid, len(valid), rt)
            acc = evaluate(child, valid, gb, runtime=rt)[1]
        else:
            acc = evaluate(child, whole, gb, batch_stats=True, runtime=rt)[1]
        return float(acc), time.perf_counter() - t0

    return score


def retrained(budget: str, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    runs = [json.loads((RESULTS / "ranking" / f"retrain-{budget}-seed{s}.json").read_text())["runs"] for s in (0, 1)]
    archs = sorted(set(runs[0]) & set(runs[1]))
    if len(archs) < n:
        raise SystemExit(f"scoring_cost: {len(archs)} networks retrained with both seeds, not {n}: run ranking.py "
                         f"--only retrain --budget {budget} first")
    mean = np.array([(runs[0][a]["test_acc"] + runs[1][a]["test_acc"]) / 2 for a in archs])
    return archs, mean, np.array([runs[0][a]["macs"] for a in archs])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--modes", nargs="*", default=list(MODES))
    p.add_argument("--work", type=Path, default=WORK, help="search_quality_model.py's folders (seed<N>/spos-supernet)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = budget_of(BUDGET)
    space, data = space_for(cfg), fashion_mnist(cfg)
    archs, mean, macs = retrained(BUDGET, 40)
    planned = {str(x) for x in networks(space, 40)}
    if set(archs) != planned:
        raise SystemExit("scoring_cost: the retrained networks are not ranking.py's 40")
    if a.quick:
        archs, mean, macs, a.seeds, a.modes = archs[::5], mean[::5], macs[::5], a.seeds[:1], ["calib10", "batch"]
    runs = {s: a.work / f"seed{s}" / "spos-supernet" for s in a.seeds}
    missing = [str(r) for r in runs.values() if not (r / "checkpoint.pt").exists()]
    if missing:
        raise SystemExit(f"scoring_cost: no trained supernet in {missing[0]}: run search_quality_model.py first")
    scores: dict[str, dict[int, list[float]]] = {m: {} for m in a.modes}
    secs: dict[str, list[float]] = {m: [] for m in a.modes}
    for s, run in runs.items():
        for m in a.modes:
            score = scorer(run, space, data, m)
            out = [score(space.parse(x)) for x in archs]
            scores[m][s] = [v for v, _ in out]
            secs[m] += [t for _, t in out]
            print(f"seed {s} {m:8s}: tau {kendall(np.array(scores[m][s]), mean):+.3f}, "
                  f"{1000 * np.median([t for _, t in out]):.1f} ms a score", flush=True)
    res: dict[str, Any] = {"budget": BUDGET, "networks": len(archs), "supernet_seeds": a.seeds,
                           "held_out_images": len(data.valid), "modes": {}}
    base = "calib10" if "calib10" in a.modes else None
    for m in a.modes:
        sc = np.array([scores[m][s] for s in a.seeds])
        row = {**pooled_tau(sc, mean, macs), "ms_per_score_median": 1000 * float(np.median(secs[m])),
               "per_seed_tau": [kendall(np.array(v), mean) for v in sc],
               "per_seed_tau_within_size": [kendall_within_size(np.array(v), mean, macs) for v in sc],
               "median_score": float(np.median(sc))}
        if base and m != base:
            d = np.array(row["per_seed_tau"]) - np.array(res["modes"][base]["per_seed_tau"])
            row["tau_minus_calib10"] = {"mean": float(d.mean()), "min": float(d.min()), "max": float(d.max())}
            row["cost_ratio_to_calib10"] = row["ms_per_score_median"] / res["modes"][base]["ms_per_score_median"]
        res["modes"][m] = row
    path = write_result("scoring_cost", res, None if not a.quick else Path("/tmp"))
    for m, r in res["modes"].items():
        print(f"{m:8s} tau {r['kendall_tau_mean']:.3f} [{r['kendall_ci'][0]:.2f}, {r['kendall_ci'][1]:.2f}] "
              f"within size {r['kendall_tau_within_size_mean']:+.2f}  {r['ms_per_score_median']:.1f} ms"
              + (f"  minus calib10 {r['tau_minus_calib10']['mean']:+.3f}" if "tau_minus_calib10" in r else ""))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
