"""Issue 16: at what retraining budget do the smallest and the largest ``proxyless-cifar`` networks differ on
Fashion-MNIST by clearly more than the seed-to-seed spread?

For each budget (training images, epochs, input resolution, width multiplier, learning rate, label smoothing,
head width, distorted images or not) it retrains ``smallest`` (hwnas.baselines.hand_designed: all k3e3, zero
where allowed), ``k3e6`` (all k3e6, MobileNetV2-like), ``mid`` (one fixed uniform random sample of the space,
``space.sample(1)``) and ``largest`` (all k7e6) with several seeds through ``hwnas.train.retrain.retrain`` and
records the test accuracy (the full 10,000-image Fashion-MNIST test set unless ``test`` says less) and the wall
time of each retrain. The training subset is fixed (data seed 0) per budget; the seed is the retrain's (weights
and batch order). Per budget the summary gives mean ± std over seeds per network and the gap largest − smallest
in units of the pooled seed std, sqrt((s_small² + s_large²) / 2).

One torch thread (the machine is shared). Results go to ``benchmarks/results/budget_study.json`` after every
retrain; runs already there are skipped, so the script resumes where it stopped.

    python benchmarks/budget_study.py [--budgets NAME ...] [--archs smallest largest] [--seeds 0 1 2]
    python benchmarks/budget_study.py --quick        # two tiny runs (< 1 minute) into a separate file
    python benchmarks/budget_study.py --list         # the named budgets
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hwnas.io import atomic_write_json  # noqa: E402
from hwnas.profilers.environment import environment  # noqa: E402
from hwnas.search.baselines import hand_designed  # noqa: E402
from hwnas.space.spaces import get_space  # noqa: E402
from hwnas.train.data import DataSplits, _labels, _split  # noqa: E402
from hwnas.train.data.datasets import distort as _distort  # noqa: E402
from hwnas.train.data.datasets import to_float as _to_float  # noqa: E402
from hwnas.train.retrain import RetrainConfig, retrain  # noqa: E402

FMNIST = Path("/usr/share/datasets/fashion-mnist")
RESULTS = Path(__file__).resolve().parent / "results"
ARCHS = ("smallest", "k3e6", "mid", "largest")

# A budget: n = training images (train + valid; retrain uses both), epochs, res (px), width (multiplier),
# lr, ls (label smoothing), bs (batch size), head (head channels; 1280 is the space's default),
# distort (fixed random affine / contrast / noise distortions of every train and test image, as digits-hard),
# test (test images; the first ``test`` of the 10,000).
DEFAULT = {"n": 8000, "epochs": 5, "res": 16, "width": 0.25, "lr": 0.05, "ls": 0.1, "bs": 64, "head": 1280,
           "distort": False, "test": 10000}
BUDGETS: dict[str, dict[str, Any]] = {
    "r16-w25-n2k-e10": {"n": 2000, "epochs": 10},
    "r16-w25-n4k-e5": {"n": 4000, "epochs": 5},
    "r16-w25-n2k-e10-distort": {"n": 2000, "epochs": 10, "distort": True},
    "r16-w25-n2k-e10-head256": {"n": 2000, "epochs": 10, "head": 256},
    "r16-w25-n4k-e5-distort": {"n": 4000, "epochs": 5, "distort": True},
    "r16-w25-n6k-e3": {"n": 6000, "epochs": 3},
    "r16-w50-n2k-e5": {"n": 2000, "epochs": 5, "width": 0.5},
    "r16-w25-n2k-e5": {"n": 2000, "epochs": 5},          # issue 25: a cheaper budget with slope?
    "r16-w25-n2k-e3": {"n": 2000, "epochs": 3},
    "r28-w25-n2k-e4": {"n": 2000, "epochs": 4, "res": 28},
    "r16-w25-n2k-e10-lr0.1": {"n": 2000, "epochs": 10, "lr": 0.1},
    "r16-w25-n2k-e10-ls0": {"n": 2000, "epochs": 10, "ls": 0.0},
    "r12-w25-n4k-e8": {"n": 4000, "epochs": 8, "res": 12},
    "r16-w25-n1k-e20": {"n": 1000, "epochs": 20},
    "r16-w25-n8k-e5": {"n": 8000, "epochs": 5},
    "r16-w25-n2k-e20": {"n": 2000, "epochs": 20},        # issue 25: a budget where the largest wins?
    # multitrial.py's reduced budget (issue 27): how much of a trial's accuracy repeats (ranking.py's ceiling)
    "r16-w25-n1k-e2-distort-t2k": {"n": 1000, "epochs": 2, "distort": True, "test": 2000},
}
QUICK = {"quick-tiny": {"n": 300, "epochs": 1, "res": 12, "test": 500}}


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file: labels (magic 2049, uint8 (N,)) or images (magic 2051, uint8 (N, rows, cols))."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic == 2049:
        n = int.from_bytes(raw[4:8], "big")
        out = np.frombuffer(raw, dtype=np.uint8, offset=8)
        shape: tuple[int, ...] = (n,)
    elif magic == 2051:
        n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
        out = np.frombuffer(raw, dtype=np.uint8, offset=16)
        shape = (n, rows, cols)
    else:
        raise ValueError(f"{path}: magic number {magic}, expected 2049 (labels) or 2051 (images)")
    if out.size != math.prod(shape):
        raise ValueError(f"{path}: {out.size} values for shape {shape}")
    return out.reshape(shape)


_RAW: dict[str, np.ndarray] = {}


def fashion_mnist(cfg: dict[str, Any], *, data_seed: int = 0, valid_fraction: float = 0.1) -> DataSplits:
    """``cfg['n']`` random training images (fixed by ``data_seed``) and the first ``cfg['test']`` test images,
    resized to ``cfg['res']``, as 3 channels, normalised with the training statistics."""
    if not _RAW:
        for part, prefix in (("train", "train"), ("test", "t10k")):
            _RAW[f"{part}_x"] = read_idx(FMNIST / f"{prefix}-images-idx3-ubyte.gz")
            _RAW[f"{part}_y"] = read_idx(FMNIST / f"{prefix}-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(data_seed)
    keep = rng.permutation(len(_RAW["train_y"]))[:cfg["n"]]
    x = torch.as_tensor(_RAW["train_x"][keep] / 255.0, dtype=torch.float32)[:, None]
    xt = torch.as_tensor(_RAW["test_x"][:cfg["test"]] / 255.0, dtype=torch.float32)[:, None]
    y, yt = _labels(_RAW["train_y"][keep].copy()), _labels(_RAW["test_y"][:cfg["test"]].copy())
    if cfg["distort"]:
        drng = np.random.default_rng(data_seed + 1)
        x, _, _ = _distort(x, y, copies=1, rng=drng)
        xt, _, _ = _distort(xt, yt, copies=1, rng=drng)
    return _split(_to_float(x, cfg["res"]), y, _to_float(xt, cfg["res"]), yt, name="fashion-mnist",
                  valid_fraction=valid_fraction, rng=rng, num_classes=10)


def space_for(cfg: dict[str, Any]):
    return get_space("proxyless-cifar", resolution=cfg["res"], width_mult=cfg["width"], num_classes=10,
                     head_channels=cfg["head"])


def architectures(space) -> dict[str, Any]:
    hd = hand_designed(space)
    return {"smallest": next(v for k, v in hd.items() if k.startswith("smallest")),
            "k3e6": space.uniform("k3e6"), "mid": space.sample(np.random.default_rng(1)),
            "largest": space.uniform("k7e6")}


def run_key(budget: str, arch: str, seed: int) -> str:
    return f"{budget}/{arch}/{seed}"


def summarise(cfg: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for arch in ARCHS:
        rs = [r for r in runs if r["arch_name"] == arch]
        if not rs:
            continue
        accs = [r["test_acc"] for r in rs]
        per[arch] = {"n": len(accs), "mean": statistics.fmean(accs),
                     "std": statistics.stdev(accs) if len(accs) > 1 else float("nan"),
                     "seconds_mean": statistics.fmean(r["seconds"] for r in rs),
                     "cpu_seconds_mean": (statistics.fmean(r["cpu_seconds"] for r in rs)
                                          if all("cpu_seconds" in r for r in rs) else None), "macs": rs[0]["macs"],
                     "params": rs[0]["params"], "arch": rs[0]["arch"]}
    out: dict[str, Any] = {"config": cfg, "archs": per}
    if "smallest" in per and "largest" in per and per["smallest"]["n"] > 1 and per["largest"]["n"] > 1:
        s, big = per["smallest"], per["largest"]
        pooled = math.sqrt((s["std"] ** 2 + big["std"] ** 2) / 2)
        gap = big["mean"] - s["mean"]
        out["gap_largest_minus_smallest"] = gap
        out["pooled_std"] = pooled
        out["gap_in_std"] = gap / pooled if pooled > 0 else float("inf")
        # Welch's t of the two means: the gap over the standard error of the difference
        se = math.sqrt(s["std"] ** 2 / s["n"] + big["std"] ** 2 / big["n"])
        out["welch_t"] = gap / se if se > 0 else float("inf")
    if len(per) > 1:
        means = {a: p["mean"] for a, p in per.items()}
        out["best"], out["worst"] = max(means, key=means.get), min(means, key=means.get)
        out["best_minus_worst"] = max(means.values()) - min(means.values())
    return out


def load(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"benchmark": "budget_study", "runs": [], "budgets": {}}


def save(path: Path, res: dict[str, Any], budgets: dict[str, dict[str, Any]]) -> None:
    env = environment()
    env["torch_threads"] = torch.get_num_threads()
    env["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    res["environment"] = env
    res["description"] = (__doc__ or "").strip().split("\n\n")[0]
    summary = {}
    for name in sorted({r["budget"] for r in res["runs"]}):
        runs = [r for r in res["runs"] if r["budget"] == name]
        summary[name] = summarise(runs[0]["config"], runs)
    res["budgets"] = summary
    atomic_write_json(path, res)


def table_of(res: dict[str, Any]) -> str:
    """Markdown: per budget, each network's test accuracy mean ± std (n seeds), the gap and the seconds."""
    rows = ["| budget | " + " | ".join(ARCHS) + " | gap L−S (pp) | gap / pooled std | Welch t | "
            "s per retrain S / L (wall; CPU) |", "|---" * (len(ARCHS) + 5) + "|"]
    for name, b in res["budgets"].items():
        cells = []
        for a in ARCHS:
            p = b["archs"].get(a)
            cells.append(f"{100 * p['mean']:.2f} ± {100 * p['std']:.2f} ({p['n']})" if p else "–")
        gap = f"{100 * b['gap_largest_minus_smallest']:+.2f}" if "gap_in_std" in b else "–"
        g = f"{b['gap_in_std']:+.1f}" if "gap_in_std" in b else "–"
        t = f"{b['welch_t']:+.1f}" if "welch_t" in b else "–"

        def sec(a: str, b: dict[str, Any] = b) -> str:
            p = b["archs"].get(a)
            if not p:
                return "–"
            cpu = f"; {p['cpu_seconds_mean']:.0f}" if p.get("cpu_seconds_mean") else ""
            return f"{p['seconds_mean']:.0f}{cpu}"

        rows.append(f"| {name} | " + " | ".join(cells) + f" | {gap} | {g} | {t} | {sec('smallest')} / "
                    f"{sec('largest')} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budgets", nargs="*", help="named budgets to run, in this order (default: all)")
    p.add_argument("--archs", nargs="*", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--quick", action="store_true", help="two tiny runs (< 1 min) into budget_study_quick.json")
    p.add_argument("--list", action="store_true")
    p.add_argument("--table", action="store_true", help="print the per-budget summary of the results file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--deadline", default=None,
                   help="UTC HH:MM: start no retrain whose expected time (from finished runs) would end after it")
    args = p.parse_args(argv)
    table = QUICK if args.quick else BUDGETS
    if args.list:
        for name, over in table.items():
            print(name, {**DEFAULT, **over})
        return 0
    if args.table:
        print(table_of(load(args.output or RESULTS / ("budget_study_quick.json" if args.quick else
                                                     "budget_study.json"))))
        return 0
    torch.set_num_threads(args.threads)
    if args.quick:
        args.archs, args.seeds = ["smallest", "largest"], [0]
    out = args.output or RESULTS / ("budget_study_quick.json" if args.quick else "budget_study.json")
    res = load(out)
    done = {run_key(r["budget"], r["arch_name"], r["seed"]) for r in res["runs"]}
    for name in args.budgets or list(table):
        if name not in table:
            raise SystemExit(f"unknown budget {name!r}; known: {', '.join(table)}")
        cfg = {**DEFAULT, **table[name]}
        todo = [(s, a) for s in args.seeds for a in args.archs if run_key(name, a, s) not in done]
        if not todo:
            continue
        data = fashion_mnist(cfg)
        space = space_for(cfg)
        archs = architectures(space)
        print(f"== {name}: {data.describe()}", flush=True)
        for seed, arch_name in todo:
            if args.deadline:
                prev = [r["seconds"] for r in res["runs"] if r["budget"] == name and r["arch_name"] == arch_name]
                hh, mm = map(int, args.deadline.split(":"))
                now = _dt.datetime.now(_dt.timezone.utc)
                left = (now.replace(hour=hh, minute=mm, second=0) - now).total_seconds()
                if prev and max(prev) > left:
                    print(f"   skip {arch_name} seed {seed}: ~{max(prev):.0f} s, {left:.0f} s to deadline", flush=True)
                    continue
            arch = archs[arch_name]
            t0, c0 = time.perf_counter(), time.process_time()
            r = retrain(arch, space, data, RetrainConfig(epochs=cfg["epochs"], batch_size=cfg["bs"], lr=cfg["lr"],
                                                         label_smoothing=cfg["ls"], seed=seed,
                                                         channels_last=False),  # as the kept runs (contiguous)
                        backend=None, progress=False, log=None)
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            run = {"budget": name, "config": cfg, "arch_name": arch_name, "arch": arch.to_string(), "seed": seed,
                   "test_acc": r.test_acc, "test_loss": r.test_loss, "train_acc_last": r.history[-1]["train_acc"],
                   "train_loss_last": r.history[-1]["train_loss"], "seconds": sec, "cpu_seconds": cpu,
                   "macs": space.macs(arch), "params": space.params(arch),
                   "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            res["runs"].append(run)
            save(out, res, table)
            print(f"   {arch_name:8s} seed {seed}: test {r.test_acc:.4f}  train {run['train_acc_last']:.4f}  "
                  f"{sec:6.1f} s ({cpu:.1f} s CPU)", flush=True)
        s = res["budgets"].get(name, {})
        if "gap_in_std" in s:
            print(f"   gap largest-smallest {100 * s['gap_largest_minus_smallest']:+.2f} pp = "
                  f"{s['gap_in_std']:.1f} pooled std", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
