"""Channels-last against contiguous (NCHW) memory on the CPU: which should be the CPU's default?

Every workload runs through hwnas's own code, once in each memory format, the two alternating over ``--repeats``
rounds (the order flips each round), with one torch thread as the multi-trial workers and the benchmarks use:

- ``retrain``: one epoch of ``hwnas retrain`` (``hwnas.train.retrain``) of a mid-size architecture (its wall time);
- ``search <method>``: one epoch of ``hwnas search --method <method>`` on a fresh supernet (its ``train_s``);
- ``score``: one inherited-accuracy score of a SPOS supernet's child (``--method evolution --supernet``: BatchNorm
  re-estimated on 10 batches, then the held-out split).

Precision: one training step's gradient in each format against float64's, for 5 networks at initialisation.
Accuracy (``--accuracy-archs``): networks retrained at search-quality's budget in both formats, the test accuracy
of each pair, to be read against what two retraining seeds of one network differ by (√2 × 1.15 pp).

Spaces: the demo's and search-quality's (``proxyless-cifar`` at 16 px, width 0.25) and the full-size CIFAR one
(32 px, width 1.0), each on ``--images`` Fashion-MNIST training images. The figure is contiguous ÷ channels-last
time (above 1: channels-last is faster), median over rounds with the range.

    python benchmarks/memory_format.py                 # ~25 min here
    python benchmarks/memory_format.py --quick         # the tiny space on synthetic data: the plumbing
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import markdown_table, spread, write_result  # noqa: E402

NAME = "memory_format"
SPACES = {"r16-w25": {"resolution": 16, "width_mult": 0.25}, "r32-w100": {"resolution": 32, "width_mult": 1.0}}
METHODS = ("grad", "spos", "darts")
SLOW_METHODS = {"r32-w100": ("darts",)}  # left out where one epoch takes minutes here
SEED_STD = 0.0115  # one network's test accuracy over retraining seeds at search-quality's budget


def setting(label: str, images: int, quick: bool) -> tuple[Any, Any, Any]:
    """(space, costs, data) of one case: the space, made-up block costs (timing needs no latency model) and
    ``images`` training images."""
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.space import get_space
    from hwnas.train.data import data_for_space

    space = get_space("tiny") if quick else get_space("proxyless-cifar", num_classes=10, **SPACES[label])
    costs = BlockCosts(0.2, tuple(tuple(0.0 if c.is_zero else 0.1 * c.kernel * c.expand / 9 for c in p.choices)
                                  for p in space.positions()))
    data = data_for_space("synthetic", space, n=images) if quick else data_for_space("fashion-mnist", space,
                                                                                      limit=images)
    return space, costs, data


def workloads(label: str, space: Any, costs: Any, data: Any, work: Path) -> dict[str, Any]:
    """name -> function(channels_last) -> seconds."""
    from hwnas.search import SearchConfig, run_search
    from hwnas.search.estim.inherited import inherited_accuracy
    from hwnas.search.supernet import build_supernet
    from hwnas.train.data import make_loader
    from hwnas.train.device import Runtime
    from hwnas.train.retrain import RetrainConfig, retrain

    arch = space.sample(np.random.default_rng(1))

    def do_retrain(cl: bool) -> float:
        t0 = time.perf_counter()
        retrain(arch, space, data, RetrainConfig(epochs=1, device="cpu", channels_last=cl), progress=False, log=None)
        return time.perf_counter() - t0

    def do_search(method: str) -> Any:
        def run(cl: bool) -> float:
            folder = work / f"{method}-{cl}"
            shutil.rmtree(folder, ignore_errors=True)
            cfg = SearchConfig(method=method, n_epochs=1, warmup_epochs=0, device="cpu", channels_last=cl,
                               progress=False, export="argmax", search_rounds=0 if method == "spos" else 10)
            res = run_search(space, costs, data, cfg, run_dir=folder, log=None)
            return float(sum(r.get("train_s") or 0 for r in res.history))
        return run

    net = build_supernet(space, weights="shared")
    archs = [space.sample(np.random.default_rng(i)) for i in range(3)]

    def do_score(cl: bool) -> float:
        rt = Runtime.create("cpu", "off", cl)
        calib = make_loader(data.train, 32, shuffle=False)
        valid = make_loader(data.valid, 32, shuffle=False)
        t0 = time.perf_counter()
        for a in archs:
            inherited_accuracy(net, a, calib, valid, rt, 10, batch_size=32)
        return (time.perf_counter() - t0) / len(archs)

    methods = [m for m in METHODS if m not in SLOW_METHODS.get(label, ())]
    return {"retrain": do_retrain, **{f"search {m}": do_search(m) for m in methods}, "score": do_score}


def accuracy_check(k: int, quick: bool, offset: int = 0) -> dict[str, Any]:
    """``k`` architectures retrained at search-quality's budget (2,000 distorted Fashion-MNIST images at 16 px,
    10 epochs, seed 0) in each format: the formats round differently, so the networks differ, but no more than
    one seed from another does."""
    from hwnas.train.retrain import RetrainConfig, retrain

    if quick:
        space, _, data = setting("tiny", 96, True)
        epochs = 1
    else:
        from budget_study import BUDGETS, DEFAULT, fashion_mnist, space_for

        cfg = {**DEFAULT, **BUDGETS["r16-w25-n2k-e10-distort"]}
        space, data, epochs = space_for(cfg), fashion_mnist(cfg), cfg["epochs"]
    rows = []
    for i in range(offset, offset + k):
        arch = space.sample(np.random.default_rng(100 + i))
        acc = {}
        for cl in (False, True):
            res = retrain(arch, space, data, RetrainConfig(epochs=epochs, batch_size=64, lr=0.05, device="cpu",
                                                           channels_last=cl), progress=False, log=None)
            acc["channels_last" if cl else "nchw"] = res.test_acc
        rows.append({"index": i, "arch": arch.to_string(), **acc, "difference": acc["channels_last"] - acc["nchw"]})
        print(f"accuracy {i}: NCHW {acc['nchw']:.4f}, channels-last {acc['channels_last']:.4f}", flush=True)
    return accuracy_summary(rows)


def gradient_check(k: int, quick: bool) -> list[dict[str, Any]]:
    """How far one training step's gradient is from float64's, in each format: ``k`` architectures of the
    search-quality space at initialisation, one batch of 64 (relative error of the whole gradient vector)."""
    import copy

    from hwnas.space import get_space
    from hwnas.space.builder import build_model

    space = get_space("tiny") if quick else get_space("proxyless-cifar", num_classes=10, **SPACES["r16-w25"])
    out = []
    for i in range(k):
        arch = space.sample(np.random.default_rng(100 + i))
        torch.manual_seed(i)
        base = build_model(arch, space)
        x, y = torch.randn(64, *space.input_shape[1:]), torch.randint(0, space.num_classes, (64,))
        ref = _gradient(copy.deepcopy(base).double(), x.double(), y)
        out.append({"arch": arch.to_string(), "nchw": _rel(_gradient(copy.deepcopy(base), x, y), ref),
                    "channels_last": _rel(_gradient(copy.deepcopy(base).to(memory_format=torch.channels_last),
                                                    x.contiguous(memory_format=torch.channels_last), y), ref)})
    return out


def _gradient(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    torch.nn.functional.cross_entropy(net(x), y).backward()
    return torch.cat([p.grad.double().flatten() for p in net.parameters()])


def _rel(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).norm() / ref.norm())


def accuracy_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The paired differences (channels-last − NCHW test accuracy): mean with a 95% bootstrap interval, their std
    against what two seeds of one network differ by (√2 × search_quality's seed std), a Wilcoxon test."""
    from scipy.stats import wilcoxon

    rows = sorted(rows, key=lambda r: r["index"])
    d = np.array([r["difference"] for r in rows])
    boot = np.random.default_rng(0).choice(d, size=(10000, d.size)).mean(axis=1)
    return {"archs": rows, "difference": spread(d.tolist()), "mean": float(d.mean()),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "std": float(d.std(ddof=1)) if d.size > 1 else None,
            "wilcoxon_p": float(wilcoxon(d).pvalue) if d.size > 5 else None,
            "two_seeds_std": SEED_STD * 2 ** 0.5, "seed_std_source": "search_quality.json noise.seed_std_same_network"}


def merged(folders: list[Path], images: int, repeats: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The timing cases and accuracy rows other runs (their ``-o``) measured; timings measured with other
    ``--images`` or ``--repeats`` are refused."""
    from hwnas.io import read_json

    cases: dict[str, Any] = {}
    rows: dict[int, dict[str, Any]] = {}
    for folder in folders:
        r = read_json(folder / f"{NAME}.json", "memory_format result", expect=dict)
        if r.get("cases") and (r.get("images"), r.get("repeats")) != (images, repeats):
            raise SystemExit(f"memory_format: {folder} timed {r.get('images')} images over {r.get('repeats')} "
                             f"rounds, this run {images} over {repeats}; not merged")
        cases.update(r.get("cases", {}))
        rows.update({row["index"]: row for row in r.get("accuracy", {}).get("archs", [])})
    return cases, list(rows.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", nargs="*", choices=sorted(SPACES), default=sorted(SPACES))
    p.add_argument("--images", type=int, default=1000, help="Fashion-MNIST training images per case")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--accuracy-archs", type=int, default=4, help="networks retrained at search-quality's budget in "
                   "both formats (0: skip)")
    p.add_argument("--accuracy-offset", type=int, default=0, help="first architecture of the accuracy check (two "
                   "processes can measure two sets)")
    p.add_argument("--merge", type=Path, nargs="*", default=[], help="results folders of other runs (their -o): "
                   "their spaces and accuracy networks are taken in where this run did not measure them")
    p.add_argument("--quick", action="store_true")
    p.add_argument("-o", "--out", type=Path, help="results folder (default benchmarks/results)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.quick:
        a.spaces, a.images, a.repeats, a.accuracy_archs = ["tiny"], 96, 1, min(a.accuracy_archs, 1)
    rows, record = [], {"images": a.images, "repeats": a.repeats, "threads": 1, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for label in a.spaces:
            space, costs, data = setting(label, a.images, a.quick)
            jobs = workloads(label, space, costs, data, Path(tmp))
            case: dict[str, Any] = {}
            for name, fn in jobs.items():
                times: dict[bool, list[float]] = {False: [], True: []}
                fn(False)  # warm-up: first-call costs (allocator, oneDNN kernels) fall on neither side
                for r in range(a.repeats):
                    for cl in ((False, True) if r % 2 == 0 else (True, False)):
                        times[cl].append(fn(cl))
                ratio = [n / c for n, c in zip(times[False], times[True], strict=True)]
                case[name] = {"nchw_s": times[False], "channels_last_s": times[True], "speedup": spread(ratio)}
                s = case[name]["speedup"]
                rows.append([label, name, f"{np.median(times[False]):.3g}", f"{np.median(times[True]):.3g}",
                             f"{s['median']:.2f}× [{s['min']:.2f}, {s['max']:.2f}]"])
                print(" | ".join(rows[-1]), flush=True)
            record["cases"][label] = case
    theirs, acc_rows = merged(a.merge, a.images, a.repeats)
    for label, case in theirs.items():  # a space measured elsewhere and not here
        if label not in record["cases"]:
            record["cases"][label] = case
            rows += [[label, name, f"{np.median(v['nchw_s']):.3g}", f"{np.median(v['channels_last_s']):.3g}",
                      f"{v['speedup']['median']:.2f}× [{v['speedup']['min']:.2f}, {v['speedup']['max']:.2f}]"]
                     for name, v in case.items()]
    if a.accuracy_archs:
        acc_rows = [r for r in acc_rows if not a.accuracy_offset <= r["index"] < a.accuracy_offset + a.accuracy_archs]
        acc_rows += accuracy_check(a.accuracy_archs, a.quick, a.accuracy_offset)["archs"]
    record["gradient_error"] = gradient_check(1 if a.quick else 5, a.quick)
    for g in record["gradient_error"]:
        print(f"gradient vs float64: NCHW {g['nchw']:.1e}, channels-last {g['channels_last']:.1e} ({g['arch']})")
    if acc_rows:
        record["accuracy"] = accuracy_summary(acc_rows)
        acc = record["accuracy"]
        print(f"accuracy, channels-last − NCHW over {len(acc_rows)} networks: {acc['mean'] * 100:+.2f} pp "
              f"[{acc['ci95'][0] * 100:+.2f}, {acc['ci95'][1] * 100:+.2f}], std {(acc['std'] or 0) * 100:.2f} pp "
              f"(two seeds of one network: {acc['two_seeds_std'] * 100:.2f} pp)")
    table = markdown_table(["space", "workload", "NCHW s", "channels-last s", "NCHW ÷ channels-last"], rows)
    print(table)
    record["table"] = table
    path = write_result(NAME + ("_quick" if a.quick else ""), record, directory=a.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
