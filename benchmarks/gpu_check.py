"""Every CUDA path of hwnas on one GPU, in one script (planned for < 8 minutes on an H100/H200).

Writes ``benchmarks/results/gpu_check.json`` with three sections:

1. ``latency_table``: a CUDA-event latency table of ``proxyless-mobile`` (71 layers) with the torch backend at
   batch 1 and 8, built twice each; its repeatability between the two builds (median and p90 of |b2/b1 − 1|,
   share of layers within ±5% / ±10%). With ONNX Runtime's CUDA provider installed, a batch-1 table from it too.
2. ``search_step``: one single-GPU search step at 224 px on ``proxyless-mobile`` with 6 candidates per block
   (kernels 3/5/7 × expand 3/6) and 12 (kernels 3/5/7/9 × 3/6), AMP off and bf16: peak memory
   (``torch.cuda.max_memory_allocated`` above the model's own) and time (CUDA events, median) of a plain child
   training step, the supernet's weight step, the ``two`` and ``full_v2`` architecture steps and a DARTS step.
   Ratios against the child: memory of each step; amortised time of a search step = (5 weight steps + 1
   architecture step) / 5 (ProxylessNAS steps α every 5 weight steps). Goals (issue 4): ≤ 1.3× memory,
   ≤ 1.5× amortised time, flat from 6 to 12 candidates.
3. ``retrain_throughput``: images/s of ``hwnas.train.retrain`` (DataLoader, AMP, channels-last) for a searched
   network against a plain training loop of the same network on the same in-memory batches.

Runs from the source tree under a CUDA machine's own Python (recent torch; numpy, pandas and tqdm; onnxruntime-gpu
optional), no package registry and no pins::

    PYTHONPATH=. python benchmarks/gpu_check.py            # on a CUDA machine
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu --quick   # a dry run of the script on the CPU

Without CUDA (and without ``--device cpu``) it says so and exits with status 2. A section whose imports fail
records the error and the others still run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import step_fns  # noqa: E402  (the search-cost step, shared with search_cost.py)

ROOT = Path(__file__).resolve().parent
CANDIDATES = {6: {"kernels": (3, 5, 7), "expands": (3, 6)}, 12: {"kernels": (3, 5, 7, 9), "expands": (3, 6)}}
ARCH_EVERY = 5


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time_ms(fn, dev: torch.device, steps: int) -> float:
    """Median of ``steps`` timed calls after one warm-up call (CUDA events on a GPU, perf_counter on the CPU)."""
    fn()
    _sync(dev)
    times = []
    for _ in range(steps):
        if dev.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


# ---- 1. latency tables ----------------------------------------------------------------------------------------
def latency_table(dev: torch.device, quick: bool) -> dict:
    import numpy as np

    from hwnas.profilers import Protocol, create_backend
    from hwnas.profilers.build import build_table
    from hwnas.space import get_space

    space = get_space("tiny" if quick else "proxyless-mobile")
    keys = space.layer_keys()
    proto = Protocol(warmup=5, repeats=20 if quick else 40, min_time_s=0.0 if quick else 0.05)
    out: dict = {"space": space.name, "layers": len(keys), "device": str(dev), "builds": {}}
    tmp = Path(tempfile.mkdtemp(prefix="hwnas-gpu-check-"))
    for batch in (1, 8):
        meds = []
        for build in (1, 2):
            kw = {"settle_max_s": 0.2 if quick else 0.5} if dev.type == "cuda" else {}
            backend = create_backend("torch", device=str(dev), batch=batch, threads=1, protocol=proto, **kw)
            t0 = time.perf_counter()
            table = build_table(space, backend, tmp / f"torch_b{batch}_{build}.csv", progress=False)
            meds.append(np.array([table.latency_ms(k) for k in keys]))
            out["builds"][f"torch_batch{batch}_build{build}"] = {
                "seconds": round(time.perf_counter() - t0, 1), "sum_ms": float(meds[-1].sum()),
                "median_layer_ms": float(np.median(meds[-1]))}
        dev_ratio = np.abs(meds[1] / meds[0] - 1)
        out[f"torch_batch{batch}_repeatability"] = {
            "median_abs_diff": float(np.median(dev_ratio)), "p90_abs_diff": float(np.quantile(dev_ratio, 0.9)),
            "within_5pct": float((dev_ratio <= 0.05).mean()), "within_10pct": float((dev_ratio <= 0.10).mean())}
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except ImportError:
        providers = []
    if dev.type == "cuda" and "CUDAExecutionProvider" in providers:
        backend = create_backend("onnxruntime", device="cuda", batch=1, threads=1, protocol=proto)
        t0 = time.perf_counter()
        table = build_table(space, backend, tmp / "ort_cuda_b1.csv", progress=False)
        vals = np.array([table.latency_ms(k) for k in keys])
        out["onnxruntime_cuda_batch1"] = {"seconds": round(time.perf_counter() - t0, 1), "sum_ms": float(vals.sum()),
                                          "median_layer_ms": float(np.median(vals))}
    else:
        out["onnxruntime_cuda_batch1"] = f"skipped: CUDAExecutionProvider not available (providers: {providers})"
    return out


# ---- 2. search step cost --------------------------------------------------------------------------------------
def search_step(dev: torch.device, quick: bool, batch: int, steps: int) -> dict:
    from hwnas.space import get_space

    res = 32 if quick else 224
    name = "proxyless-cifar" if quick else "proxyless-mobile"
    extra = {"width_mult": 0.25} if quick else {}
    modes = ("child", "weight", "two", "full_v2", "darts")
    amps = {"off": None, "bf16": torch.bfloat16} if dev.type == "cuda" else {"off": None}
    rows = []
    for amp, dtype in amps.items():
        for n_cand in CANDIDATES:
            space = get_space(name, resolution=res, **CANDIDATES[n_cand], **extra)
            child_arch = get_space(name, resolution=res, **CANDIDATES[6], **extra).sample(0)
            x = torch.randn(batch, 3, res, res, device=dev)
            y = torch.randint(space.num_classes, (batch,), device=dev)
            for mode in modes:
                gen = torch.Generator().manual_seed(0)
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
                net, step = step_fns(mode, space, child_arch, x, y, gen, dtype)
                model_mb = ((torch.cuda.memory_allocated(dev) - base) / 2**20) if dev.type == "cuda" else float("nan")
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                before = torch.cuda.memory_allocated(dev) if dev.type == "cuda" else 0
                try:
                    ms = _time_ms(step, dev, steps)
                    peak = ((torch.cuda.max_memory_allocated(dev) - before) / 2**20 if dev.type == "cuda"
                            else float("nan"))
                    err = None
                except torch.cuda.OutOfMemoryError as exc:  # DARTS with 12 candidates may not fit
                    ms, peak, err = float("nan"), float("nan"), f"out of memory: {str(exc)[:120]}"
                rows.append({"amp": amp, "candidates": n_cand, "mode": mode, "step_ms": ms, "peak_step_mb": peak,
                             "model_mb": model_mb, "error": err})
                print(f"  search step  amp {amp:4s} {n_cand:2d} cand  {mode:8s} {ms:8.2f} ms  peak +{peak:8.1f} MB",
                      flush=True)
                del net, step
    ratios = []
    for amp in amps:
        for n_cand in CANDIDATES:
            r = {row["mode"]: row for row in rows if row["amp"] == amp and row["candidates"] == n_cand}
            child = r["child"]
            for mode in ("two", "full_v2"):
                amortised = (ARCH_EVERY * r["weight"]["step_ms"] + r[mode]["step_ms"]) / ARCH_EVERY
                ratios.append({"amp": amp, "candidates": n_cand, "mode": mode,
                               "memory_vs_child": max(r[mode]["peak_step_mb"], r["weight"]["peak_step_mb"])
                               / child["peak_step_mb"] if dev.type == "cuda" else None,
                               "amortised_time_vs_child": amortised / child["step_ms"],
                               "arch_step_time_vs_child": r[mode]["step_ms"] / child["step_ms"],
                               "darts_time_vs_child": r["darts"]["step_ms"] / child["step_ms"],
                               "darts_memory_vs_child": r["darts"]["peak_step_mb"] / child["peak_step_mb"]
                               if dev.type == "cuda" else None})
    goals = {"memory_vs_child": 1.3, "amortised_time_vs_child": 1.5}
    met = {k: all(r[k] is None or r[k] <= v for r in ratios) for k, v in goals.items()}
    return {"space": name, "resolution": res, "batch": batch, "steps": steps, "arch_every": ARCH_EVERY,
            "rows": rows, "ratios": ratios, "goals": goals, "goals_met": met}


# ---- 3. retrain throughput ------------------------------------------------------------------------------------
def retrain_throughput(dev: torch.device, quick: bool, batch: int) -> dict:
    import torch.nn.functional as F

    from hwnas.space import build_model, get_space
    from hwnas.train.data import DataSplits, ImageData
    from hwnas.train.retrain import RetrainConfig, retrain
    from hwnas.train.training import seeded

    res = 32 if quick else 224
    space = get_space("proxyless-cifar", resolution=res, width_mult=0.25) if quick else get_space("proxyless-mobile")
    arch = space.sample(0)
    n = batch * (4 if quick else 24)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, res, res, generator=g)
    y = torch.randint(space.num_classes, (n,), generator=g)
    data = DataSplits("synthetic-224", ImageData(x[: n - batch], y[: n - batch]), ImageData(x[:batch], y[:batch]),
                      ImageData(x[:batch], y[:batch]), space.num_classes)
    amp = "bf16" if dev.type == "cuda" else "off"
    out: dict = {"space": space.name, "arch": arch.to_string(), "images_per_epoch": n, "batch": batch, "amp": amp,
                 "rounds": []}

    def hwnas_run() -> float:
        cfg = RetrainConfig(epochs=1, batch_size=batch, device=str(dev), amp=amp, workers=0)
        t0 = time.perf_counter()
        retrain(arch, space, data, cfg, progress=False, log=None)
        return n / (time.perf_counter() - t0)

    def plain_run() -> float:
        net = seeded(lambda: build_model(arch, space), 0).to(dev)
        cl = dev.type == "cuda"
        if cl:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        xs, ys = x.to(dev), y.to(dev)
        _sync(dev)
        t0 = time.perf_counter()
        net.train()
        for i in range(0, n, batch):
            xb = xs[i:i + batch]
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            if amp == "bf16":
                with torch.autocast(dev.type, dtype=torch.bfloat16):
                    logits = net(xb)
            else:
                logits = net(xb)
            F.cross_entropy(logits.float(), ys[i:i + batch]).backward()
            opt.step()
        _sync(dev)
        return n / (time.perf_counter() - t0)

    hwnas_run(), plain_run()  # warm-up: cuDNN autotuning, allocator
    for _ in range(2 if quick else 3):
        out["rounds"].append({"hwnas_retrain_images_s": hwnas_run(), "plain_loop_images_s": plain_run()})
    best_h = max(r["hwnas_retrain_images_s"] for r in out["rounds"])
    best_p = max(r["plain_loop_images_s"] for r in out["rounds"])
    out.update(hwnas_images_s=best_h, plain_images_s=best_p, ratio=best_h / best_p)
    print(f"  retrain      hwnas {best_h:8.1f} img/s   plain loop {best_p:8.1f} img/s   ratio {best_h / best_p:.2f}",
          flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    p.add_argument("--quick", action="store_true", help="small spaces and few steps (the CPU dry run)")
    p.add_argument("--batch", type=int, default=None, help="search / retrain batch (default 64; 8 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 10; 2 quick)")
    p.add_argument("--only", nargs="*", choices=["latency_table", "search_step", "retrain_throughput"])
    p.add_argument("-o", "--output", default=str(ROOT / "results" / "gpu_check.json"))
    a = p.parse_args()
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda}); run it "
              f"on a CUDA machine, or use --device cpu --quick for a dry run of the script", file=sys.stderr)
        return 2
    if dev.type == "cpu":
        torch.set_num_threads(1)
    else:
        torch.backends.cudnn.benchmark = True
    batch = a.batch or (8 if a.quick else 64)
    steps = a.steps or (2 if a.quick else 10)
    t0 = time.perf_counter()
    result: dict = {"benchmark": "gpu_check", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "dry_run": dev.type != "cuda", "quick": a.quick, "device": str(dev),
                    "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
                    "torch": str(torch.__version__), "cuda": str(torch.version.cuda),
                    "python": platform.python_version(), "sections": {}}
    sections = {"latency_table": lambda: latency_table(dev, a.quick),
                "search_step": lambda: search_step(dev, a.quick, batch, steps),
                "retrain_throughput": lambda: retrain_throughput(dev, a.quick, batch)}
    for name, fn in sections.items():
        if a.only and name not in a.only:
            continue
        s0 = time.perf_counter()
        print(f"[{name}]", flush=True)
        try:
            result["sections"][name] = fn()
        except Exception as exc:  # noqa: BLE001 - record it and run the other sections
            result["sections"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
        result["sections"][name]["section_seconds"] = round(time.perf_counter() - s0, 1)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    tmp.replace(out)
    print(f"wrote {out} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
