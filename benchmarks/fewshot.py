"""Issue 25, a pilot: do few-shot supernets rank the chain space's networks better than one supernet trained as
long?

Few-shot NAS (Zhao et al., ICML 2021) splits a trained one-shot supernet on one decision into one sub-supernet per
option of it, each trained further with that option fixed, and scores a network on the sub-supernet of its option:
fewer paths share each sub-supernet's weights. The issue cites it at τ 0.61–0.69 on NAS-Bench-201. Here, on
``ranking.py``'s ``chain-r16-n4k-e10`` budget, for each supernet seed, starting from ranking.py's 60-epoch uniform
supernet (``--work``: the folder ranking.py trained it in):

- ``fewshot-d<D>``: per option k of decision D, a copy trained ``--extra`` more epochs with D fixed to k (uniform
  single paths over the other decisions);
- ``uniform-more``: a copy trained ``--extra`` × (D's options) more epochs uniformly: the same training steps;

each of ranking.py's 40 networks scored as ranking.py scores (2,000 held-out images, BatchNorm recalibrated on 10
batches), τ against the mean of its two retraining seeds, and τ within one size. Results in
``results/fewshot.json``; the sub-supernets in ``--work``.

    python benchmarks/fewshot.py --work /tmp/rk/work --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from _common import write_result  # noqa: E402
from budget_study import fashion_mnist  # noqa: E402
from ranking import budget_of, pooled_tau, score_set, size_costs, space_for, supernet_config, supernet_scorer  # noqa: E402

from hwnas.io import atomic_write_json, read_json  # noqa: E402

BUDGET = "chain-r16-n4k-e10"
BASE_EPOCHS = 60


def train_copy(base: Path, dst: Path, space, costs, data, cfg: dict[str, Any], seed: int, epochs: int,
               fixed: tuple[int, int] | None) -> float:
    """``base`` copied to ``dst`` and trained on to ``epochs`` (resumed), with decision ``fixed[0]`` held at option
    ``fixed[1]``; the seconds it took."""
    from hwnas.search import run_search
    from hwnas.search.estim.oneshot import SinglePathOneShot
    from hwnas.search.run import RunDir, costs_to_dict

    if (dst / "checkpoint.pt").exists() and len(RunDir(dst).read_log()) >= epochs:
        return 0.0
    if not dst.exists():
        shutil.copytree(base, dst)
        # ranking.py sized the options from the first one then (negative costs, refused on resume now); uniform
        # paths do not read them
        atomic_write_json(dst / "block_costs.json", costs_to_dict(costs))
    search = supernet_config(cfg, "uniform", seed, epochs, "separate")
    original = SinglePathOneShot.allowed

    def allowed(self, st, stage_epoch):  # the uniform paths, with one decision held
        sizes = [d.n for d in st.net.decisions()]
        return [[fixed[1]] if i == fixed[0] else list(range(n)) for i, n in enumerate(sizes)]

    t0 = time.perf_counter()
    if fixed is not None:
        SinglePathOneShot.allowed = allowed
    try:
        run_search(space, costs, data, search, run_dir=dst, resume=True, log=None)
    finally:
        SinglePathOneShot.allowed = original
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="ranking.py's supernet folders")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--decision", type=int, default=0, help="the decision to split on (default: the first)")
    p.add_argument("--extra", type=int, default=12, help="epochs each sub-supernet trains on")
    a = p.parse_args()
    torch.set_num_threads(1)
    cfg = budget_of(BUDGET)
    space, data = space_for(cfg), fashion_mnist(cfg)
    costs = size_costs(space)
    scoring = score_set(cfg, 2000)
    retrain = [read_json(HERE / "results" / "ranking" / f"retrain-{BUDGET}-seed{s}.json", "shard", expect=dict)["runs"]
               for s in (0, 1)]
    archs = sorted(set(retrain[0]) & set(retrain[1]))
    mean = np.array([(retrain[0][x]["test_acc"] + retrain[1][x]["test_acc"]) / 2 for x in archs])
    macs = np.array([retrain[0][x]["macs"] for x in archs])
    parsed = [space.parse(x) for x in archs]
    labels = space.choice_labels()[a.decision]
    k_of = [space.indices(x)[a.decision] for x in parsed]
    out = HERE / "results" / "fewshot"
    out.mkdir(parents=True, exist_ok=True)
    for seed in a.seeds:
        path = out / f"seed{seed}.json"
        shard = read_json(path, "shard", expect=dict) if path.exists() else {"seed": seed, "scores": {}, "train_s": {}}
        base = a.work / f"{BUDGET}-uniform-e{BASE_EPOCHS}-seed{seed}"
        if not (base / "checkpoint.pt").exists():
            raise SystemExit(f"no 60-epoch uniform supernet in {base}: train it with ranking.py --work {a.work}")
        name = f"fewshot-d{a.decision}-e{a.extra}"
        if name not in shard["scores"]:
            subs, spent = {}, 0.0
            for k in range(len(labels)):
                dst = a.work / f"{name}-k{k}-seed{seed}"
                spent += train_copy(base, dst, space, costs, data, cfg, seed, BASE_EPOCHS + a.extra, (a.decision, k))
                subs[k] = supernet_scorer(dst, space, "separate", data, scoring, seed)
            shard["scores"][name] = [subs[k](x) for k, x in zip(k_of, parsed, strict=True)]
            shard["train_s"][name] = spent
            atomic_write_json(path, shard)
            print(f"seed {seed} {name}: {spent:.0f} s")
        ctrl = f"uniform-more-e{a.extra * len(labels)}"
        if ctrl not in shard["scores"]:
            dst = a.work / f"{ctrl}-seed{seed}"
            spent = train_copy(base, dst, space, costs, data, cfg, seed, BASE_EPOCHS + a.extra * len(labels), None)
            score = supernet_scorer(dst, space, "separate", data, scoring, seed)
            shard["scores"][ctrl] = [score(x) for x in parsed]
            shard["train_s"][ctrl] = spent
            atomic_write_json(path, shard)
            print(f"seed {seed} {ctrl}: {spent:.0f} s")
    shards = [read_json(f, "shard", expect=dict) for f in sorted(out.glob("seed*.json"))]
    res: dict[str, Any] = {"budget": BUDGET, "networks": len(archs), "options": [list(o) for o in space.choice_labels()],
                           "base_epochs": BASE_EPOCHS, "recipes": {}}
    for name in sorted({n for s in shards for n in s["scores"]}):
        have = [s for s in shards if name in s["scores"]]
        scores = np.array([s["scores"][name] for s in have])
        res["recipes"][name] = {"seeds": [s["seed"] for s in have], **pooled_tau(scores, mean, macs),
                                "train_s": [s["train_s"][name] for s in have]}
        r = res["recipes"][name]
        print(f"{name:22s} tau {r['kendall_tau_mean']:.3f} [{r['kendall_ci'][0]:.2f}, {r['kendall_ci'][1]:.2f}]  "
              f"within size {r['kendall_tau_within_size_mean']:+.3f}  ({len(have)} seeds)")
    print(f"wrote {write_result('fewshot', res)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
