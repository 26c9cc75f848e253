"""Issue 25: does the supernet rank networks as training does?

1. ``--networks`` (≥ 40) networks of ``proxyless-cifar`` spread evenly over the MAC range (``plan_archs``), each
   retrained from scratch with two seeds at the budget (``budget_study.BUDGETS``; Fashion-MNIST, the 10,000 test
   images). The **ceiling** is Kendall's τ between the two seeds' test accuracies: no proxy can rank better than
   retraining repeats itself.
2. One weight-shared supernet per training recipe and seed, trained with ``hwnas search`` on the budget's
   training images for ``--supernet-epochs``: ``uniform`` (SPOS: one uniformly drawn path per step), ``sandwich``
   (largest, smallest and 2 random paths per step), ``distill`` (sandwich with in-place distillation from the
   largest path) and ``progressive`` (Once-for-All's progressive shrinking, with sandwich and distillation).
3. Every network scored on each supernet by its inherited accuracy (child cut out of the shared weights,
   BatchNorm statistics re-estimated on 10 training batches) on ``--score-images`` Fashion-MNIST training images
   that neither the supernet nor the retraining saw. τ and Spearman's ρ against the mean of the retraining seeds,
   per supernet seed and pooled, with 95% bootstrap intervals over networks (and seeds).

Goal: τ ≥ 0.6 with its interval above 0.4, at a budget whose ceiling is at least 0.7.

No budget of proxyless-cifar this CPU affords has that ceiling (docs/benchmarks.md). ``MODEL_BUDGETS`` run the
same steps on a model space whose networks retraining does tell apart (``chain-r16-n4k-e10``:
``examples/chain_space.py``, ceiling 0.74), with a choice's own weights (SPOS as published; ``progressive`` does
not apply). ``--supernet-epochs`` other than 12 makes its own recipe, ``<recipe>-e<epochs>``, and
``--calibration-batches`` other than 10 scores a trained supernet another way, ``<recipe>-bn<batches>``.

Each retrain and each supernet is a shard of ``benchmarks/results/ranking/`` written as it ends: run several
processes (one per ``--only`` part) and rerun to resume. One torch thread per process.

    python benchmarks/ranking.py --only retrain --retrain-seeds 0        # and 1, in another process
    python benchmarks/ranking.py --only supernet --recipes uniform distill --supernet-seeds 0 1 2
    python benchmarks/ranking.py --summary                                  # ranking.json (every budget measured)
    python benchmarks/ranking.py --budget chain-r16-n4k-e10 --recipes uniform --supernet-epochs 60
    python benchmarks/ranking.py --quick                                    # a minute, into a temporary folder
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # examples/ (the model-space budgets' factories)
from _common import RESULTS, write_result  # noqa: E402
from budget_study import _RAW, BUDGETS, DEFAULT, QUICK, fashion_mnist  # noqa: E402
from budget_study import space_for as builtin_space_for  # noqa: E402

from hwnas.io import atomic_write_json, output_lock, read_json  # noqa: E402
from hwnas.predictors.archs import plan_archs  # noqa: E402
from hwnas.train.retrain import RetrainConfig, retrain  # noqa: E402

RECIPES: dict[str, dict[str, Any]] = {
    "uniform": {"method": "spos"},
    "sandwich": {"method": "spos", "train_args": {"sandwich": True, "paths": 2}},
    "distill": {"method": "spos", "train_args": {"sandwich": True, "distill": True, "paths": 2}},
    "progressive": {"method": "ofa"},
}
BUDGET = "r16-w25-n2k-e3"
# Budgets on a model space (``space``: its factory), where the built-in space's budgets measure nothing: retraining
# on this CPU ranks proxyless-cifar's networks against itself at τ ≤ 0.46, and examples/chain_space.py's at ≥ 0.7.
# Each choice has its own weights there, so the recipes that shrink MBConv blocks (progressive) do not apply.
MODEL_BUDGETS: dict[str, dict[str, Any]] = {
    "chain-r16-n4k-e10": {"space": "examples.chain_space:ChainSpace", "n": 4000, "epochs": 10},
    "chain-quick": {"space": "examples.chain_space:ChainSpace", "n": 300, "epochs": 1, "test": 500},
}
BUILTIN_ONLY = {"progressive"}
SUPERNET_EPOCHS = 12  # the default; a supernet trained longer is its own recipe, ``<recipe>-e<epochs>``
CALIBRATION_BATCHES = 10  # BatchNorm re-estimated on this many batches of 64 before a score; others: ``-bn<N>``


def recipe_label(recipe: str, epochs: int, batches: int = CALIBRATION_BATCHES) -> str:
    return (recipe + ("" if epochs == SUPERNET_EPOCHS else f"-e{epochs}")
            + ("" if batches == CALIBRATION_BATCHES else f"-bn{batches}"))


def recipe_labels(out: Path, budget: str) -> list[str]:
    """The recipes with a scored supernet of ``budget`` in ``out``, as :func:`recipe_label` names them (another
    budget whose name starts with this one's is not mistaken for a recipe)."""
    pattern = re.compile(rf"supernet-{re.escape(budget)}-((\w+?)(?:-e\d+)?(?:-bn\d+)?)-seed\d+\.json")
    found = {m.group(1) for f in out.glob(f"supernet-{budget}-*-seed*.json")
             if (m := pattern.fullmatch(f.name)) and m.group(2) in RECIPES}
    return sorted(found, key=lambda lab: (list(RECIPES).index(lab.split("-")[0]), len(lab), lab))


def budget_of(name: str) -> dict[str, Any]:
    return {**DEFAULT, **(QUICK | BUDGETS | MODEL_BUDGETS)[name]}


def space_for(cfg: dict[str, Any]):
    """The budget's space: a model space where it names a factory, proxyless-cifar at its width otherwise."""
    if not cfg.get("space"):
        return builtin_space_for(cfg)
    from hwnas.space import ModelSpace

    return ModelSpace(cfg["space"], (1, 3, cfg["res"], cfg["res"]))


def size_costs(space) -> Any:
    """A size proxy per option, which orders each decision's options for the sandwich's largest and smallest paths
    (no latency target is involved in training a supernet): kernel² × expansion on the built-in space (zero costs
    nothing), the candidate's MACs on a model space."""
    from hwnas.predictors.block_costs import BlockCosts

    if getattr(space, "kind", None) != "model":
        return BlockCosts(0.0, tuple(tuple(0.0 if c.is_zero else float(c.kernel * c.kernel * c.expand)
                                           for c in p.choices) for p in space.positions()))
    first = space.indices(space.first())

    def macs_with(d: int, o: int) -> float:
        idx = list(first)
        idx[d] = o
        return float(space.macs(space.from_indices(idx)))

    per = [[macs_with(d, o) for o in range(len(labels))] for d, labels in enumerate(space.choice_labels())]
    return BlockCosts(0.0, tuple(tuple(m - min(row) for m in row) for row in per))


def score_set(cfg: dict[str, Any], n: int, data_seed: int = 0, valid_fraction: float = 0.1) -> Any:
    """``n`` Fashion-MNIST training images outside the budget's own, preprocessed as the budget's: resized and
    normalised with the budget's training split's statistics (as ``budget_study.fashion_mnist`` draws it)."""
    from hwnas.train.data import _labels
    from hwnas.train.data.datasets import ImageData
    from hwnas.train.data.datasets import to_float as _to_float

    if cfg["distort"]:
        raise SystemExit("ranking: the scoring split is not distorted; pick a budget without -distort")
    fashion_mnist(cfg, data_seed=data_seed)  # loads _RAW
    rng = np.random.default_rng(data_seed)
    order = rng.permutation(len(_RAW["train_y"]))
    own = _to_float(torch.as_tensor(_RAW["train_x"][order[:cfg["n"]]] / 255.0, dtype=torch.float32)[:, None],
                    cfg["res"])
    held = rng.permutation(cfg["n"])[:max(1, int(round(cfg["n"] * valid_fraction)))]  # _split's draw
    train = own[np.setdiff1d(np.arange(cfg["n"]), held)]
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    keep = order[cfg["n"]:cfg["n"] + n]  # the budget's images are order[:n]
    x = torch.as_tensor(_RAW["train_x"][keep] / 255.0, dtype=torch.float32)[:, None]
    return ImageData((_to_float(x, cfg["res"]) - mean) / std, _labels(_RAW["train_y"][keep].copy()))


def networks(space, n: int) -> list[Any]:
    return plan_archs(space, n, seed=100)


# ---- 1. retraining -----------------------------------------------------------------------------------------------
def run_retrain(out: Path, budget: str, n: int, seed: int, log=print) -> None:
    cfg = budget_of(budget)
    space, data = space_for(cfg), fashion_mnist(cfg)
    path = out / f"retrain-{budget}-seed{seed}.json"
    shard = read_json(path, "shard", expect=dict) if path.exists() else {"budget": budget, "seed": seed, "runs": {}}
    for arch in networks(space, n):
        key = str(arch)
        if key in shard["runs"]:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        r = retrain(arch, space, data, RetrainConfig(epochs=cfg["epochs"], batch_size=cfg["bs"], lr=cfg["lr"],
                                                     label_smoothing=cfg["ls"], seed=seed, channels_last=False),
                    progress=False, log=None)  # contiguous: as the shards kept from before (docs/benchmarks.md)
        shard["runs"][key] = {"test_acc": r.test_acc, "seconds": time.perf_counter() - t0,
                              "cpu_seconds": time.process_time() - c0, "macs": space.macs(arch)}
        atomic_write_json(path, shard)
        log(f"retrain seed {seed} {len(shard['runs'])}/{n}: {r.test_acc:.4f} ({time.perf_counter() - t0:.0f} s)")


# ---- 2, 3. supernets and their scores ------------------------------------------------------------------------
def supernet_config(cfg: dict[str, Any], recipe: str, seed: int, epochs: int, weights: str) -> Any:
    """The search settings a recipe's supernet trains with at budget ``cfg`` (training only: no search rounds)."""
    from hwnas.search import SearchConfig

    return SearchConfig(**{**RECIPES[recipe], "seed": seed, "n_epochs": epochs, "batch_size": cfg["bs"],
                           "init_lr": cfg["lr"], "label_smoothing": cfg["ls"], "supernet_weights": weights,
                           "search_rounds": 0, "progress": False, "channels_last": False})


def supernet_scorer(run: Path, space, weights: str, data, scoring, seed: int, batches: int = CALIBRATION_BATCHES):
    """arch -> inherited accuracy on ``scoring`` of the supernet trained in ``run``, BatchNorm recalibrated on
    ``batches`` training batches of 64 (one draw per seed)."""
    from hwnas.search.estim.inherited import inherited_accuracy
    from hwnas.search.run import RunDir
    from hwnas.search.supernet import build_supernet
    from hwnas.train.data import make_loader
    from hwnas.train.device import Runtime
    from hwnas.train.training import generator

    net = build_supernet(space, weights=weights)
    net.load_state_dict(RunDir(run).load_checkpoint()["net"])
    rt = Runtime.create("cpu")
    plain = data.train_all()
    calib = make_loader(plain.with_augment(False) if hasattr(plain, "with_augment") else plain, 64,
                        generator=generator(seed + 5))
    return lambda arch: inherited_accuracy(net, arch, calib, scoring, rt, batches)


def run_supernet(out: Path, work: Path, budget: str, n: int, recipe: str, seed: int, epochs: int,
                 score_images: int, log=print, batches: int = CALIBRATION_BATCHES) -> None:
    from dataclasses import replace

    from hwnas.search import run_search
    from hwnas.search.run import RunDir

    label = recipe_label(recipe, epochs, batches)
    path = out / f"supernet-{budget}-{label}-seed{seed}.json"
    shard = read_json(path, "shard", expect=dict) if path.exists() else {}
    if shard.get("scores") and len(shard["scores"]) >= n:
        return
    cfg = budget_of(budget)
    if cfg.get("space") and recipe in BUILTIN_ONLY:
        log(f"supernet {recipe}: not on a model space ({budget}), skipped")
        return
    space, data = space_for(cfg), fashion_mnist(cfg)
    costs = size_costs(space)
    weights = "separate" if cfg.get("space") else "shared"
    run = work / f"{budget}-{recipe_label(recipe, epochs)}-seed{seed}"  # scored other ways, trained once
    search = supernet_config(cfg, recipe, seed, epochs, weights)
    t0, c0 = time.perf_counter(), time.process_time()
    if not (run / "checkpoint.pt").exists() or len(RunDir(run).read_log()) < epochs:
        run_search(space, costs, data, search, run_dir=run, resume=(run / "checkpoint.pt").exists(), log=None)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    base = out / f"supernet-{budget}-{recipe_label(recipe, epochs)}-seed{seed}.json"
    if train_s < 1 and base.exists():  # trained before and scored another way here: the training's own times
        trained = read_json(base, "shard", expect=dict)
        train_s, train_cpu = trained["train_s"], trained["train_cpu_s"]
    score = supernet_scorer(run, space, weights, data, score_set(cfg, score_images), seed, batches)
    t1 = time.perf_counter()
    scores = {str(a): score(a) for a in networks(space, n)}
    own = float(RunDir(run).read_log()["valid_acc"].iloc[-1])
    median = float(np.median(list(scores.values())))
    # the children must be scored on images preprocessed as the supernet trained on (without recalibration their
    # BatchNorm statistics are the supernet's mix of paths, and scores that low are what is measured)
    if batches and median < 0.5 * own:
        raise SystemExit(f"ranking: {label} seed {seed}: median inherited accuracy {median:.3f} against the "
                         f"supernet's own validation {own:.3f}: the scoring split is not preprocessed as its images")
    shard = {"budget": budget, "recipe": recipe, "seed": seed, "epochs": epochs, "search": replace(search).to_dict(),
             "train_s": shard.get("train_s", train_s), "train_cpu_s": shard.get("train_cpu_s", train_cpu),
             "supernet_valid_acc": own,
             "score_s": time.perf_counter() - t1, "score_images": score_images,
             "calibration_batches": batches, "scores": scores}
    atomic_write_json(path, shard)
    log(f"supernet {label} seed {seed}: trained {train_s:.0f} s, scored {n} networks {shard['score_s']:.0f} s")


# ---- the summary -------------------------------------------------------------------------------------------------
def kendall(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def bootstrap(fn, cols: list[np.ndarray], reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(cols[0])
    vals = []
    for _ in range(reps):
        idx = rng.integers(n, size=n)
        v = fn(*[c[idx] for c in cols])
        if v == v:
            vals.append(v)
    if not vals:  # every resample tied (a budget too small to tell networks apart)
        return float("nan"), float("nan")
    return float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))


def mean_ceiling(a0: np.ndarray, a1: np.ndarray) -> dict[str, float]:
    """What the goal's τ (a score against the mean of the two seeds) can reach at most. With r the correlation
    between the two seeds' accuracies (the share of their variance that is the network's own), the mean of two
    seeds correlates with the network's own accuracy as √(2r / (1 + r)) (Spearman–Brown), and for normal scores
    τ = (2/π)·asin(ρ): an estimate, since the seeds measured τ only between themselves. The seed std is that of one
    network's accuracy, from the paired differences."""
    r = max(0.0, float(np.corrcoef(a0, a1)[0, 1]))
    return {"pearson_r": r, "seed_std": float(np.std(a0 - a1, ddof=1) / np.sqrt(2)),
            "tau_perfect_vs_mean_estimate": 2 / np.pi * float(np.arcsin(np.sqrt(2 * r / (1 + r)))) if r > 0 else 0.0}


def kendall_within_size(x: np.ndarray, y: np.ndarray, size: np.ndarray, bins: int = 5) -> float:
    """Kendall's τ over the pairs of networks of about the same size only: the networks cut into ``bins`` equal
    groups by ``size`` (MACs), τ = (concordant − discordant) / (concordant + discordant) over pairs inside a group.
    What a score says beyond "bigger is better" (or "smaller is better"): a score that orders by size alone gets
    about 0 here, whatever its plain τ."""
    groups = np.array_split(np.argsort(size, kind="stable"), bins)
    con = dis = 0
    for g in groups:
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                s = np.sign(x[g[i]] - x[g[j]]) * np.sign(y[g[i]] - y[g[j]])
                con, dis = con + (s > 0), dis + (s < 0)
    return float((con - dis) / (con + dis)) if con + dis else float("nan")


def pooled_tau(scores: np.ndarray, mean: np.ndarray, macs: np.ndarray) -> dict[str, Any]:
    """τ of each supernet seed's scores (rows of ``scores``) against the retrained ``mean``, averaged over seeds,
    with its interval over networks and seeds resampled together; Spearman's ρ and τ within one size likewise."""
    n = scores.shape[1]
    rng = np.random.default_rng(1)
    boots = []
    for _ in range(2000):
        idx = rng.integers(n, size=n)
        sd = rng.integers(len(scores), size=len(scores))
        v = np.mean([kendall(scores[k][idx], mean[idx]) for k in sd])
        if v == v:
            boots.append(v)
    boots = boots or [float("nan")]
    return {"kendall_tau_mean": float(np.mean([kendall(sc, mean) for sc in scores])),
            "kendall_ci": [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))],
            "spearman_rho_mean": float(np.mean([spearman(sc, mean) for sc in scores])),
            "kendall_tau_within_size_mean": float(np.mean([kendall_within_size(sc, mean, macs) for sc in scores]))}


def summarise(out: Path, budget: str) -> dict[str, Any]:
    seeds = {}
    for f in sorted(out.glob(f"retrain-{budget}-seed*.json")):
        shard = json.loads(f.read_text())
        seeds[shard["seed"]] = shard["runs"]
    if len(seeds) < 2:
        raise SystemExit(f"ranking: need two retraining seeds of {budget} in {out}")
    s0, s1 = sorted(seeds)[:2]
    archs = sorted(set(seeds[s0]) & set(seeds[s1]))
    if len(archs) < 5:
        raise SystemExit(f"ranking: {budget}: only {len(archs)} networks retrained with both seeds so far; "
                         "a τ needs 5 or more")
    a0 = np.array([seeds[s0][a]["test_acc"] for a in archs])
    a1 = np.array([seeds[s1][a]["test_acc"] for a in archs])
    macs = np.array([seeds[s0][a]["macs"] for a in archs])
    mean = (a0 + a1) / 2
    res: dict[str, Any] = {"budget": budget, "config": budget_of(budget), "networks": len(archs),
                           "retrain_cpu_s_mean": float(np.mean([seeds[s][a]["cpu_seconds"] for s in (s0, s1)
                                                                for a in archs])),
                           "accuracy_range": [float(mean.min()), float(mean.max())],
                           # the landscape's direction at this budget: does training favour the bigger networks?
                           "retrain_vs_macs": kendall(mean, macs),
                           "ceiling": {"kendall_tau": kendall(a0, a1), "kendall_ci": bootstrap(kendall, [a0, a1]),
                                       "spearman_rho": spearman(a0, a1), **mean_ceiling(a0, a1),
                                       "kendall_tau_within_size": kendall_within_size(a0, a1, macs)},
                           "recipes": {}}
    for recipe in recipe_labels(out, budget):
        shards = [json.loads(f.read_text()) for f in sorted(out.glob(f"supernet-{budget}-{recipe}-seed*.json"))]
        shards = [s for s in shards if all(a in s.get("scores", {}) for a in archs)]
        if not shards:
            continue
        per_seed = []
        for s in shards:
            sc = np.array([s["scores"][a] for a in archs])
            per_seed.append({"seed": s["seed"], "kendall_tau": kendall(sc, mean), "spearman_rho": spearman(sc, mean),
                             "kendall_tau_vs_macs": kendall(sc, macs),
                             "kendall_tau_within_size": kendall_within_size(sc, mean, macs),
                             "kendall_ci": bootstrap(kendall, [sc, mean]), "train_cpu_s": s["train_cpu_s"],
                             "score_s": s["score_s"], "epochs": s["epochs"]})
        scores = np.array([[s["scores"][a] for a in archs] for s in shards])
        res["recipes"][recipe] = {"seeds": per_seed, **pooled_tau(scores, mean, macs)}
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default=BUDGET)
    p.add_argument("--networks", type=int, default=40)
    p.add_argument("--retrain-seeds", type=int, nargs="*", default=[0, 1])
    p.add_argument("--supernet-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--supernet-epochs", type=int, default=SUPERNET_EPOCHS)
    p.add_argument("--score-images", type=int, default=2000)
    p.add_argument("--calibration-batches", type=int, default=CALIBRATION_BATCHES,
                   help="BatchNorm re-estimated on this many batches before each score (0: the supernet's own)")
    p.add_argument("--only", choices=["retrain", "supernet"])
    p.add_argument("--summary", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "ranking")
    p.add_argument("--work", type=Path, default=None, help="supernet run folders (default: a temporary folder)")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.quick:
        a.budget, a.networks, a.supernet_seeds, a.supernet_epochs, a.score_images = "quick-tiny", 6, [0], 2, 200
        a.recipes = ["uniform", "progressive"]
        a.out = Path(tempfile.mkdtemp(prefix="hwnas-ranking-"))
    a.out.mkdir(parents=True, exist_ok=True)
    work = a.work or Path(tempfile.mkdtemp(prefix="hwnas-ranking-work-"))
    if not a.summary:
        # one writer per shard: a second process on the same shard is refused, naming the first
        if a.only in (None, "retrain"):
            for s in a.retrain_seeds:
                with output_lock(a.out / f"retrain-{a.budget}-seed{s}.json", "ranking shard"):
                    run_retrain(a.out, a.budget, a.networks, s)
        if a.only in (None, "supernet"):
            for s in a.supernet_seeds:
                for r in a.recipes:
                    label = recipe_label(r, a.supernet_epochs, a.calibration_batches)
                    with output_lock(a.out / f"supernet-{a.budget}-{label}-seed{s}.json", "ranking shard"):
                        run_supernet(a.out, work, a.budget, a.networks, r, s, a.supernet_epochs, a.score_images,
                                     batches=a.calibration_batches)
    budgets = {a.budget: summarise(a.out, a.budget)}  # the one asked for must have its two retraining seeds
    for other in sorted(budgets_in(a.out) - {a.budget}):  # and every other budget measured here is kept beside it
        budgets[other] = summarise(a.out, other)
    path = write_result("ranking", {"budgets": budgets}, directory=a.out if a.quick else None)
    for name, res in budgets.items():
        c = res["ceiling"]
        print(f"{name}: ceiling τ {c['kendall_tau']:.2f} [{c['kendall_ci'][0]:.2f}, {c['kendall_ci'][1]:.2f}] "
              f"(within a size group {c['kendall_tau_within_size']:+.2f}) over {res['networks']} networks (accuracy "
              f"{res['accuracy_range'][0]:.3f}..{res['accuracy_range'][1]:.3f}, retrained vs MACs "
              f"{res['retrain_vs_macs']:+.2f}, {res['retrain_cpu_s_mean']:.0f} CPU-s a network)")
        for r, v in res["recipes"].items():
            n = len(v["seeds"])
            print(f"  {r:12s} τ {v['kendall_tau_mean']:.2f} [{v['kendall_ci'][0]:.2f}, {v['kendall_ci'][1]:.2f}]  "
                  f"ρ {v['spearman_rho_mean']:.2f}  within size {v['kendall_tau_within_size_mean']:+.2f}  "
                  f"({n} supernet seed{'s' if n > 1 else ''})")
    print(f"wrote {path}")
    return 0


def budgets_in(out: Path) -> set[str]:
    """The budgets in ``out`` whose first two retraining seeds are done: both hold the same networks (5 or more),
    so a budget still being retrained is left out until it ends."""
    nets: dict[str, dict[int, set[str]]] = {}
    for f in out.glob("retrain-*-seed*.json"):
        shard = json.loads(f.read_text())
        nets.setdefault(shard["budget"], {})[shard["seed"]] = set(shard["runs"])
    done = set()
    for budget, seeds in nets.items():
        first = [seeds[k] for k in sorted(seeds)[:2]]
        if len(first) == 2 and first[0] == first[1] and len(first[0]) >= 5:
            done.add(budget)
    return done


if __name__ == "__main__":
    from hwnas.errors import HwnasError

    try:
        sys.exit(main())
    except HwnasError as exc:  # a shard in use by another process, a damaged file: one line
        sys.exit(f"ranking: {exc}")
