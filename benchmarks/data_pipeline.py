"""The streamed data pipeline (issue 14) against the in-memory one it replaced, on this CPU.

1. ``throughput``: Fashion-MNIST (Debian's ``dataset-fashion-mnist``), the same training images through the old
   in-memory path (``git show aaa7e53:hwnas/train/data.py``: every image resized, normalised and held as float
   tensors, then indexed per batch) and the new one (uint8 IDX source, ``ImageSet`` view, seeded DataLoader),
   feeding the same supernet weight steps (a random single path of ``proxyless-cifar`` at 32 px, width 0.25,
   batch 64, 1 thread), in lockstep: every step draws one path and times fetching a batch and training on it for
   each pipeline, alternating which goes first, so the machine's drift lands on both. ``--repeats`` repeats of
   ``steps`` steps; images/s and the ratio new/old with its spread. Goal: ratio ≥ 0.9. The loaders alone (no
   training) are timed too: the new path does more per batch (uint8 → float, resize, normalise), which the
   training step hides.
2. ``rss``: peak RSS (``VmHWM``) of a search (``tiny`` space at 16 px, 1 warm-up epoch + 1 search epoch over every
   image, ``cifar`` augmentation, DataLoader workers 0 so that every byte is in the measured process) over generated
   ``folder:`` data sets of 1,000 and 20,000 32×32 PNGs, each in a fresh process. Goal: ratio ≤ 1.1.
3. ``fashion_mnist``: search + retrain on Fashion-MNIST through the new pipeline: an ONNX Runtime latency table of
   the space (1 thread), a gradient search at a target between the fastest and slowest architecture, retraining
   with ``-o`` (model.pt, model.onnx checked against torch), the retrained network measured on the table's
   backend beside the latency model's prediction. Goals: max |ONNX − torch| ≤ 1e-4, measured within ±10% of
   predicted.

    PYTHONPATH=. python benchmarks/data_pipeline.py [--quick]

Writes ``benchmarks/results/data_pipeline.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import spread, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "aaa7e53"


def _old_data_module():
    src = subprocess.run(["git", "show", f"{OLD_COMMIT}:hwnas/train/data.py"], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    path = Path(tempfile.mkdtemp()) / "old_data.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("hwnas.search._old_data", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---- 1. throughput ---------------------------------------------------------------------------------------------
def throughput(limit: int, repeats: int, steps: int) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from hwnas.search.supernet import Supernet
    from hwnas.space import get_space
    from hwnas.train.data import FASHION_MNIST_DIR, load_data, make_loader, read_idx
    from hwnas.train.training import seeded

    torch.set_num_threads(1)
    space = get_space("proxyless-cifar", resolution=32, width_mult=0.25)
    batch = 64
    new = load_data("fashion-mnist", resolution=32, limit=limit, valid_fraction=0.1)
    # the old path on the very same training images: read once, converted to float tensors as it did
    old_mod = _old_data_module()
    images = read_idx(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz")
    idx = new.train.indices
    t0 = time.perf_counter()
    x_old = old_mod._to_float(images[idx] / 255.0, 32)
    x_old = (x_old - x_old.mean(dim=(0, 2, 3), keepdim=True)) / x_old.std(dim=(0, 2, 3), keepdim=True)
    old = old_mod.ImageData(x_old, torch.as_tensor(labels[idx].astype(np.int64)))
    old_prepare_s = time.perf_counter() - t0

    net = seeded(lambda: Supernet(space), 0).train()
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.01, momentum=0.9)

    def step(x, y) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    def lockstep(old_iter, new_iter, n_steps: int) -> dict:
        """Old and new in lockstep: each step draws one random single path, then times (fetch a batch + train on
        it) for the old pipeline and for the new one, alternating which goes first; a slow spell of this shared
        machine lands on both. Images/s = images / summed time of each."""
        gen = torch.Generator().manual_seed(0)
        t_old = t_new = 0.0
        n_old = n_new = 0
        for i in range(n_steps):
            net.sample(gen, uniform=True)
            for which in (("old", "new") if i % 2 == 0 else ("new", "old")):
                it = old_iter if which == "old" else new_iter
                t = time.perf_counter()
                x, y = next(it)
                step(x, y)
                dt = time.perf_counter() - t
                if which == "old":
                    t_old, n_old = t_old + dt, n_old + len(y)
                else:
                    t_new, n_new = t_new + dt, n_new + len(y)
        return {"old_images_s": n_old / t_old, "new_images_s": n_new / t_new}

    def loader_only(batches_iter, n_batches: int) -> float:
        t, n = time.perf_counter(), 0
        for i, (_x, y) in enumerate(batches_iter):
            if i >= n_batches:
                break
            n += len(y)
        return n / (time.perf_counter() - t)

    loader = make_loader(new.train, batch, generator=torch.Generator().manual_seed(1), workers=0)
    rows = []
    lockstep(old_mod.batches(old, batch, generator=torch.Generator().manual_seed(1)), iter(loader), 2)  # warm-up
    for r in range(repeats):
        row = lockstep(old_mod.batches(old, batch, generator=torch.Generator().manual_seed(r)), iter(loader), steps)
        row["old_loader_only_images_s"] = loader_only(
            old_mod.batches(old, batch, generator=torch.Generator().manual_seed(r)), steps * 4)
        row["new_loader_only_images_s"] = loader_only(iter(loader), steps * 4)
        row["ratio"] = row["new_images_s"] / row["old_images_s"]
        rows.append(row)
        print(f"  repeat {r + 1}: old {row['old_images_s']:7.1f} img/s  new {row['new_images_s']:7.1f} img/s  "
              f"ratio {row['ratio']:.3f}  (loaders alone: old {row['old_loader_only_images_s']:.0f}, new "
              f"{row['new_loader_only_images_s']:.0f} img/s)", flush=True)
    ratio = spread([r["ratio"] for r in rows])
    return {"data": new.describe(), "space": "proxyless-cifar 32px width 0.25", "batch": batch,
            "steps_per_repeat": steps, "method": "lockstep, same path per step, alternating order", "repeats": rows, "ratio_new_over_old": ratio,
            "old_images_s": spread([r["old_images_s"] for r in rows]),
            "new_images_s": spread([r["new_images_s"] for r in rows]),
            "old_loader_only_images_s": statistics.median(r["old_loader_only_images_s"] for r in rows),
            "new_loader_only_images_s": statistics.median(r["new_loader_only_images_s"] for r in rows),
            "old_prepare_s": old_prepare_s,
            "old_float_tensor_mb": x_old.numel() * 4 / 2**20,
            "goal_ratio_at_least": 0.9, "goal_met": ratio["median"] >= 0.9}


# ---- 2. peak RSS over folder data sets ------------------------------------------------------------------------------
def make_folder(root: Path, n: int, classes: int = 10) -> Path:
    import numpy as np
    from PIL import Image

    if (root / "done").exists():
        return root
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 256, (classes, 8, 8, 3), dtype=np.uint8)
    for i in range(n):
        c = i % classes
        img = np.kron(base[c], np.ones((4, 4, 1), dtype=np.uint8)).astype(np.int16)
        img = np.clip(img + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"c{c}" / f"{i}.png")
    (root / "done").write_text(str(n))
    return root


def rss_worker(folder: str, batch: int) -> dict:
    import torch

    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.search import SearchConfig, run_search
    from hwnas.space import get_space
    from hwnas.train.data import data_for_space

    torch.set_num_threads(1)
    space = get_space("tiny", resolution=16)  # a small supernet: what is measured is the data path's memory
    costs = BlockCosts(0.0, tuple(tuple(0.0 if c.is_zero else c.kernel * c.expand / 10 for c in p.choices)
                                  for p in space.positions()))
    data = data_for_space(f"folder:{folder}", space, augment="cifar")
    cfg = SearchConfig(n_epochs=1, warmup_epochs=1, batch_size=batch, workers=0, progress=False, device="cpu",
                       supernet_weights="separate")  # the timings recorded before the default became auto
    t0 = time.perf_counter()
    run_search(space, costs, data, cfg, log=None)
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a child would report its parent's size
    hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmHWM:"))
    return {"images": len(data.train) + len(data.valid) + len(data.test), "train": len(data.train),
            "search_s": time.perf_counter() - t0, "peak_rss_mb": hwm / 1024,
            "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def rss(sizes: tuple[int, ...], batch: int, keep: Path | None) -> dict:
    base = keep or Path(tempfile.mkdtemp(prefix="hwnas-rss-"))
    out = {"sizes": list(sizes), "runs": []}
    for n in sizes:
        t0 = time.perf_counter()
        folder = make_folder(base / f"png{n}", n)
        gen_s = time.perf_counter() - t0
        res = subprocess.run([sys.executable, __file__, "--rss-worker", str(folder), "--batch", str(batch)],
                             capture_output=True, text=True, check=True, cwd=ROOT,
                             env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
        row = {**json.loads(res.stdout.strip().splitlines()[-1]), "generate_s": gen_s}
        out["runs"].append(row)
        print(f"  folder of {n} PNGs: peak RSS {row['peak_rss_mb']:.1f} MB (search {row['search_s']:.0f} s)",
              flush=True)
    out["ratio_largest_over_smallest"] = out["runs"][-1]["peak_rss_mb"] / out["runs"][0]["peak_rss_mb"]
    out["goal_ratio_at_most"] = 1.1
    out["goal_met"] = out["ratio_largest_over_smallest"] <= 1.1
    return out


# ---- 3. Fashion-MNIST search + retrain + export -------------------------------------------------------------------
def fashion_mnist(quick: bool, work: Path) -> dict:
    import io
    from contextlib import redirect_stdout

    from hwnas.cli import main as hwnas

    space = ["--space", "proxyless-cifar", "--resolution", "32", "--width-mult", "0.25"]
    table = work / "table.csv"
    limit = "2000" if quick else "5000"
    t0 = time.perf_counter()

    def call(argv):
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = hwnas(argv)
        text = buf.getvalue()
        print("    " + text.strip().replace("\n", "\n    "), flush=True)
        if rc != 0:
            raise RuntimeError(f"hwnas {' '.join(argv)} exited {rc}")
        return text

    call(["profile", *space, "--backend", "onnxruntime", "--threads", "1", "--rounds", "2", "--statistic", "min",
          "--quiet", "-o", str(table)])
    profile_s = time.perf_counter() - t0
    # a calibrated predictor (the per-block sum corrected on whole networks measured end to end): what a user
    # searches with on this CPU, where the plain LUT-sum under-predicts whole networks by ~8%
    archs = work / "archs.csv"
    call(["measure-archs", *space, "--n", "12" if quick else "40", "--seed", "1", "--backend", "onnxruntime",
          "--threads", "1", "--rounds", "2", "--statistic", "min", "--quiet", "-o", str(archs)])
    pred = work / "calibrated.joblib"
    call(["predictor", "fit", "--table", str(table), "--archs", str(archs), "--kind", "calibrated", "-o", str(pred)])
    from hwnas.predictors.loader import load_latency_model

    costs = load_latency_model(predictor=str(pred)).costs
    target = round(costs.min_ms() + 0.4 * (costs.max_ms() - costs.min_ms()), 4)
    run = work / "run"
    epochs = ["--warmup-epochs", "1", "--epochs", "1"] if quick else ["--warmup-epochs", "1", "--epochs", "3"]
    t1 = time.perf_counter()
    call(["search", *space, "--num-classes", "10", "--predictor", str(pred), "--data", "fashion-mnist", "--data-limit",
          limit, "--target-ms", str(target), "--latency-loss", "add#abs", "--loss-lambda", "1", "--arch-lr", "0.05",
          "--binary-mode", "two", "--arch-every", "5", "--device", "cpu", *epochs, "--quiet", "-o", str(run)])
    search_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    call(["retrain", str(run), "--data", "fashion-mnist", "--data-limit", limit, "--epochs", "1" if quick else "2",
          "--inherit", "--device", "cpu", "--backend", "onnxruntime", "--threads", "1", "--rounds", "3",
          "--statistic", "min", "--quiet", "-o", str(work / "model")])
    retrain_s = time.perf_counter() - t2
    rec = json.loads((work / "model" / "retrain.json").read_text())
    onnx = next(e for e in rec["exported"] if e["path"].endswith(".onnx"))
    rel = rec["measured_ms"] / rec["predicted_ms"] - 1
    return {"data_limit": int(limit), "target_ms": target, "arch": rec["arch"], "test_acc": rec["test_acc"],
            "retrain_epochs": rec["epochs"], "recalibrated_images": rec["recalibrated_images"],
            "predicted_ms": rec["predicted_ms"], "measured_ms": rec["measured_ms"], "measured_vs_predicted": rel,
            "onnx_max_abs_diff": onnx["max_abs_diff"], "onnx_tolerance": onnx["tolerance"],
            "profile_s": profile_s, "search_s": search_s, "retrain_s": retrain_s,
            "goals": {"onnx_max_abs_diff_at_most": 1e-4, "latency_within": 0.10},
            "goals_met": {"onnx": onnx["max_abs_diff"] <= 1e-4, "latency": abs(rel) <= 0.10}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI-sized: fewer images, repeats and epochs")
    p.add_argument("--only", nargs="*", choices=["throughput", "rss", "fashion_mnist"])
    p.add_argument("--keep", help="folder for the generated PNG data sets (reused when run again)")
    p.add_argument("--rss-worker", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    if a.rss_worker:
        print(json.dumps(rss_worker(a.rss_worker, a.batch)))
        return
    t0 = time.perf_counter()
    result: dict = {"quick": a.quick}
    work = Path(tempfile.mkdtemp(prefix="hwnas-data-pipeline-"))
    if not a.only or "throughput" in a.only:
        print("[throughput] old in-memory path vs new DataLoader path, Fashion-MNIST", flush=True)
        result["throughput"] = throughput(limit=2000 if a.quick else 10000, repeats=3 if a.quick else 7,
                                          steps=8 if a.quick else 15)
    if not a.only or "rss" in a.only:
        print("[rss] peak RSS of a search over generated folder data sets", flush=True)
        result["rss"] = rss((200, 2000) if a.quick else (1000, 20000), a.batch, Path(a.keep) if a.keep else None)
    if not a.only or "fashion_mnist" in a.only:
        print("[fashion_mnist] search + retrain + ONNX export", flush=True)
        result["fashion_mnist"] = fashion_mnist(a.quick, work)
    result["total_s"] = time.perf_counter() - t0
    if a.only:  # a partial rerun updates its sections of the last full result
        import os

        old_path = Path(os.environ.get("HWNAS_RESULTS_DIR") or ROOT / "benchmarks" / "results") / "data_pipeline.json"
        if old_path.exists():
            prev = json.loads(old_path.read_text())
            prev.pop("benchmark", None)
            prev.pop("environment", None)
            result = {**prev, **result, "total_s": prev.get("total_s"),
                      "rerun": {k: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) for k in a.only}}
    path = write_result("data_pipeline", result)
    print(f"wrote {path} ({result['total_s']:.0f} s)")


if __name__ == "__main__":
    main()
