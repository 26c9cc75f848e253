"""What users run on one GPU, checked on one GPU, in one script (planned for < 8 minutes on an H100/H200).

Writes ``benchmarks/results/gpu_check.json``, rewritten as soon as each section ends (a timeout keeps what
finished). Every section names the command a user would type (``command``/``commands``). In order:

1. ``cli_path``: the pipeline through the ``hwnas`` command on Fashion-MNIST (``--data-dir``): a torch/CUDA latency
   table of ``proxyless-cifar``, ``search`` (gradient, bf16, DataLoader workers, batch 256), ``retrain --inherit``,
   ``export`` (ONNX, checked against torch), a small ``pareto``, and a model-space search of
   ``examples.resnet_space:ResNetSpace``. Each command's exit status, time and last lines.
1b. ``methods`` (issue 26): every named method (``grad``, ``rl``, ``darts``, ``gdas``, ``gumbel``, ``enas``,
   ``spos``, ``ofa``) searches one epoch in bf16 on the GPU, then ``evolution`` searches the SPOS supernet at a
   second target; each one's status, seconds and the first error.
2. ``latency_table``: ``hwnas profile --backend torch --device cuda`` of ``proxyless-mobile`` (71 layers, CUDA-graph
   timing, the CLI's default protocol) built twice at batch 1 and at batch 8, and once more each with the old
   single-run event timing (``--backend-opt timing=events``) for comparison; share of layers within ±5% / ±10%
   between two builds (goal ≥ 90% within ±5%), the GPU's clocks and power state kept with each table.
3. ``predictor``: ``hwnas measure-archs --device cuda`` of 30 + 30 held-out networks (CUDA-graph whole-network
   times), ``hwnas predictor fit --kind calibrated`` on the batch-1 table, and its accuracy on the held-out ones
   (goal ≥ 95% within ±10%).
4. ``search_step``: a single-GPU search step at 224 px, 6 candidates per block (kernels 3/5/7 × expand 3/6) and 12
   (kernels 3/5/7/9 × 3/6), AMP off and bf16: peak memory above the model's own and time (CUDA events, median) of
   the plain child step, the supernet's weight step, the ``two`` and ``full_v2`` architecture steps and a DARTS
   step; ratios against the child (amortised search step = (5 weight steps + 1 architecture step) / 5). Goals:
   ``full_v2`` at 12 candidates ≤ 1.5× the child's time; with bf16, memory ≤ 1.3× the child's.
5. ``speed`` (issue 24, item 4; ``proxyless-mobile`` at 224 px, batch 256): images/s of ``hwnas retrain`` and of
   the search's weight steps against a plain PyTorch loop fed by the same DataLoader (bf16, channels-last), goal
   ≥ 0.9×; the child step in fp32 and bf16 (bf16 must be faster); the child step under ``torch.compile`` and as
   a CUDA graph, where they work.

Runs from the source tree under a CUDA machine's own Python (recent torch; numpy, pandas, scikit-learn, tqdm,
onnxruntime), no package registry and no pins::

    PYTHONPATH=. python benchmarks/gpu_check.py --data-dir .data/fashion-mnist        # on a CUDA machine
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu --quick                   # a dry run on the CPU

Without CUDA (and without ``--device cpu``) it says so and exits with status 2. A section that fails records its
error and the others still run; ``--budget-s`` (default 460) skips sections that would start after it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import step_fns  # noqa: E402  (the search-cost step, shared with search_cost.py)

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
CANDIDATES = {6: {"kernels": (3, 5, 7), "expands": (3, 6)}, 12: {"kernels": (3, 5, 7, 9), "expands": (3, 6)}}
ARCH_EVERY = 5


class Check:
    """What one run of the script knows: device, size, output file, deadline."""

    def __init__(self, a: argparse.Namespace):
        self.dev = torch.device(a.device)
        self.cuda = self.dev.type == "cuda"
        self.quick = a.quick
        self.data_dir = a.data_dir
        self.work = Path(a.work or tempfile.mkdtemp(prefix="hwnas-gpu-check-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()
        self.budget_s = a.budget_s
        self.batch = a.batch or (8 if a.quick else 64)
        self.steps = a.steps or (2 if a.quick else 6)

    def left_s(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    @property
    def data_spec(self) -> str:
        return f"fashion-mnist:{self.data_dir}" if self.data_dir else "synthetic"

    @property
    def measure_flags(self) -> list[str]:
        """How the CLI path measures latency: the torch backend on the GPU (the fake one in a CPU dry run)."""
        return ["--backend", "torch", "--measure-device", "cuda"] if self.cuda else ["--backend", "fake"]

    @property
    def train_flags(self) -> list[str]:
        return (["--device", "cuda", "--amp", "bf16", "--workers", "6"] if self.cuda
                else ["--device", "cpu", "--workers", "1"])


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


def hwnas(args: list[str], timeout: float = 300) -> dict:
    """Run ``hwnas ARGS`` as a user would (``python -m hwnas`` from the source tree); its status, time and tail."""
    cmd = [sys.executable, "-m", "hwnas", *args]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
        rc, out = r.returncode, (r.stdout + r.stderr)
    except subprocess.TimeoutExpired as exc:
        rc, out = 124, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}{exc.stderr or ''}"
    row = {"command": "hwnas " + " ".join(args), "rc": rc, "seconds": round(time.perf_counter() - t0, 1),
           "tail": out.strip().splitlines()[-12:]}
    print(f"  [{rc}] {row['seconds']:6.1f} s  {row['command'][:150]}", flush=True)
    return row


# ---- 1. the CLI path ------------------------------------------------------------------------------------------
def cli_path(c: Check) -> dict:
    from hwnas.predictors.loader import load_latency_model
    from hwnas.space import get_space

    w = c.work / "cli"
    space_flags = ["--space", "proxyless-cifar"] + (["--width-mult", "0.25", "--resolution", "16"] if c.quick else [])
    limit = ["--data-limit", "300" if c.quick else "4000"]
    batch = ["--batch-size", "32" if c.quick else "256"]
    measure = c.measure_flags
    steps: list[dict] = []
    out: dict = {"data": c.data_spec, "steps": steps}

    def run(args: list[str], timeout: float = 300) -> bool:
        steps.append(hwnas(args, timeout))
        return steps[-1]["rc"] == 0

    table = w / "cifar.csv"
    prof_dev = ["--device", "cuda"] if c.cuda else []
    if not run(["profile", *space_flags, *measure[:2], *prof_dev, "--quiet", "-o", str(table)]):
        return out
    space = get_space("proxyless-cifar", **({"width_mult": 0.25, "resolution": 16} if c.quick else {}))
    model = load_latency_model(space=space, table=str(table))
    lo, hi = model.costs.min_ms(), model.costs.max_ms()
    target = lo + 0.4 * (hi - lo)
    out["latency_range_ms"], out["target_ms"] = [lo, hi], target
    run_dir = w / "run"
    ok = run(["search", *space_flags, "--table", str(table), "--target-ms", f"{target:.5g}", "--data", c.data_spec,
              *limit, *c.train_flags, *batch, "--epochs", "2", "--warmup-epochs", "1", "--latency-loss", "add#abs",
              "--quiet", "-o", str(run_dir)], timeout=600)
    if ok:
        log = (run_dir / "log.csv").read_text().splitlines()
        out["search_epochs_logged"] = len(log) - 1
        out["search_runtime"] = json.loads((run_dir / "config.json").read_text()).get("runtime")
        out["arch"] = json.loads((run_dir / "arch.json").read_text()).get("arch")
        if run(["retrain", str(run_dir), "--inherit", "--data", c.data_spec, *limit, *c.train_flags, *batch,
                "--epochs", "1", *measure, "--quiet", "-o", str(run_dir / "model")]):
            res = json.loads((run_dir / "model" / "retrain.json").read_text())
            out["retrain"] = {k: res.get(k) for k in ("test_acc", "measured_ms", "predicted_ms", "runtime")}
        run(["export", str(run_dir / "model"), "-o", str(w / "searched.onnx")])
        # resume across devices: the GPU run continued one more epoch on the CPU (without mixed precision)
        if run(["search", "--resume", "-o", str(run_dir), "--epochs", "3", "--device", "cpu", "--amp", "off",
                "--quiet"], timeout=600):
            out["resumed_on_cpu_epochs_logged"] = len((run_dir / "log.csv").read_text().splitlines()) - 1
    targets = f"{lo + 0.3 * (hi - lo):.5g},{lo + 0.6 * (hi - lo):.5g}"
    run(["pareto", "--table", str(table), "--targets", targets, "--data", c.data_spec,
         "--data-limit", "300" if c.quick else "1000", "--epochs", "1", "--warmup-epochs", "1", "--retrain-epochs", "1",
         *c.train_flags, *measure, "--quiet", "-o", str(w / "pareto")], timeout=600)
    if (w / "pareto" / "summary.csv").exists():
        out["pareto_summary"] = (w / "pareto" / "summary.csv").read_text().splitlines()
    # a model space: the ResNet example, searched for accuracy on the GPU
    rtable = w / "resnet.csv"
    model_flags = ["--model", "examples.resnet_space:ResNetSpace", "--input-shape", "1,1,28,28"]
    if run(["profile", *model_flags, *measure[:2], *prof_dev, "--quiet", "-o", str(rtable)]):
        run(["search", *model_flags, "--table", str(rtable), "--data", c.data_spec, *limit, *c.train_flags, *batch,
             "--epochs", "1", "--warmup-epochs", "1", "--quiet", "-o", str(w / "resnet-run")], timeout=600)
    out["all_ok"] = all(s["rc"] == 0 for s in steps)
    return out


# ---- 1b. every method on the GPU, in one process and under DDP ----------------------------------------------------
METHODS = ("grad", "rl", "darts", "gdas", "gumbel", "enas", "spos", "ofa")


def methods(c: Check) -> dict:
    """Issue 26: every named method searches on the GPU (bf16, channels-last, DataLoader workers) through the Python
    API the CLI calls, and ``evolution`` then searches the SPOS supernet at another target. The latency model is a
    made-up per-block one (these are correctness checks, not latency figures). DDP over nccl needs one GPU per
    process, so a one-GPU machine cannot check it; its CPU (gloo) runs are in ``tests/test_search_ddp.py``."""
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.search import SearchConfig, run_search
    from hwnas.space import get_space
    from hwnas.train.data import data_for_space

    space = get_space("proxyless-cifar", width_mult=0.25, resolution=16 if c.quick else 32)
    costs = BlockCosts(0.05, tuple(tuple(0.0 if ch.is_zero else 0.002 * ch.kernel * ch.expand for ch in p.choices)
                                   for p in space.positions()))
    lo, hi = costs.min_ms(), costs.max_ms()
    limit = 256 if c.quick else 4096
    data = data_for_space(c.data_spec, space, seed=0, limit=limit)
    train = dict(device=str(c.dev), amp="bf16" if c.cuda else "off", workers=2 if c.cuda else 0,
                 batch_size=32 if c.quick else 256, n_epochs=1, warmup_epochs=1, search_rounds=1,
                 search_args={"per_round": 4}, progress=False)
    target = lo + 0.5 * (hi - lo)
    rows: dict[str, dict] = {}
    for m in METHODS:
        t0 = time.perf_counter()
        try:
            res = run_search(space, costs, data, SearchConfig(method=m, target_ms=target, **train),
                             run_dir=c.work / "methods" / m, log=None)
            rows[m] = {"ok": True, "arch": str(res.arch), "predicted_ms": res.predicted_ms,
                       "vs_target": res.predicted_ms / target - 1}
        except Exception as exc:  # noqa: BLE001 - record it and try the next method
            rows[m] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                       "where": traceback.format_exc().strip().splitlines()[-4:]}
        rows[m]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"  {m:8s} {'ok' if rows[m]['ok'] else rows[m]['error'][:120]} ({rows[m]['seconds']} s)", flush=True)
    if rows.get("spos", {}).get("ok"):
        t0, t2 = time.perf_counter(), lo + 0.3 * (hi - lo)
        try:
            res = run_search(space, costs, data, SearchConfig(method="evolution", target_ms=t2,
                                                              supernet=str(c.work / "methods" / "spos"),
                                                              # the other way of scoring: children
                                                              # recalibrated on a Subset loader
                                                              **{**train, "search_rounds": 2,
                                                                 "search_args": {"per_round": 4, "bn": "recalibrate",
                                                                                 "recalibrate_batches": 2}}),
                             run_dir=c.work / "methods" / "evolution", log=None)
            rows["evolution"] = {"ok": res.predicted_ms <= t2, "arch": str(res.arch), "predicted_ms": res.predicted_ms,
                                 "target_ms": t2}
        except Exception as exc:  # noqa: BLE001
            rows["evolution"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        rows["evolution"]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"  evolution {'ok' if rows['evolution']['ok'] else rows['evolution'].get('error', 'over its target')}"
              f" ({rows['evolution']['seconds']} s)", flush=True)
    return {"space": space.name, "resolution": space.resolution, "images": limit, "train": train, "target_ms": target,
            "runs": rows, "all_ok": all(r["ok"] for r in rows.values())}


# ---- 2. speed against a plain loop ----------------------------------------------------------------------------
def speed(c: Check) -> dict:
    import torch.nn.functional as F

    from hwnas.search import SearchConfig, run_search
    from hwnas.space import build_model, get_space
    from hwnas.train.data import DataSplits, ImageData, make_loader
    from hwnas.train.retrain import RetrainConfig, retrain
    from hwnas.train.training import seeded

    res = 32 if c.quick else 224
    batch = 8 if c.quick else 256
    space = get_space("proxyless-cifar", resolution=res, width_mult=0.25) if c.quick else get_space("proxyless-mobile")
    arch = space.sample(0)
    n = batch * (3 if c.quick else 8)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, res, res, generator=g)
    y = torch.randint(space.num_classes, (n,), generator=g)
    data = DataSplits("synthetic", ImageData(x, y), ImageData(x[:batch], y[:batch]), ImageData(x[:batch], y[:batch]),
                      space.num_classes)
    amp = "bf16" if c.cuda else "off"
    cl = c.cuda
    workers = 4 if c.cuda else 0
    out: dict = {"space": space.name, "resolution": res, "batch": batch, "images_per_epoch": n, "amp": amp,
                 "channels_last": cl, "workers": workers, "rounds": []}

    def plain(net_arch=arch) -> float:
        """A plain PyTorch loop over the same kind of DataLoader hwnas builds (make_loader)."""
        net = seeded(lambda: build_model(net_arch, space), 0).to(c.dev)
        if cl:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        loader = make_loader(data.train, batch, generator=torch.Generator().manual_seed(1), workers=workers,
                             device=c.dev)
        net.train()
        _sync(c.dev)
        t0 = time.perf_counter()
        for xb, yb in loader:
            xb, yb = xb.to(c.dev, non_blocking=True), yb.to(c.dev, non_blocking=True)
            if cl:
                xb = xb.contiguous(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(c.dev.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                logits = net(xb)
            F.cross_entropy(logits.float(), yb).backward()
            opt.step()
        _sync(c.dev)
        return n / (time.perf_counter() - t0)

    def hwnas_retrain() -> float:
        """Images/s of hwnas's retraining epoch (its own clock: the epochs, not the test pass or the export)."""
        cfg = RetrainConfig(epochs=1, batch_size=batch, device=str(c.dev), amp=amp, workers=workers)
        r = retrain(arch, space, data, cfg, progress=False, log=None)
        return n / r.history[0]["train_s"]

    def hwnas_search() -> tuple[float, float]:
        """Images/s of the warm-up epoch (weight steps on random paths) and of the search epoch (weight steps
        plus an architecture step every 5), from each epoch's own clock in log.csv (``train_s``)."""
        cfg = SearchConfig(n_epochs=1, warmup_epochs=1, batch_size=batch, device=str(c.dev), amp=amp,
                           workers=workers, supernet_weights="shared", arch_valid_frequency=1000, progress=False,
                           binary_mode="full_v2")
        res = run_search(space, _zero_costs(space), data, cfg, run_dir=Path(tempfile.mkdtemp(dir=c.work)), log=None)
        return n / res.history[0]["train_s"], n / res.history[1]["train_s"]

    plain(), hwnas_retrain()  # warm-up: cuDNN autotuning, allocator, worker start-up
    for _ in range(2 if c.quick else 3):
        warm, srch = hwnas_search()
        out["rounds"].append({"plain_loop_images_s": plain(), "hwnas_retrain_images_s": hwnas_retrain(),
                              "hwnas_search_warmup_images_s": warm, "hwnas_search_epoch_images_s": srch})
    best = {k: max(r[k] for r in out["rounds"]) for k in out["rounds"][0]}
    out["best_images_s"] = best
    out["retrain_vs_plain"] = best["hwnas_retrain_images_s"] / best["plain_loop_images_s"]
    out["search_weight_steps_vs_plain"] = best["hwnas_search_warmup_images_s"] / best["plain_loop_images_s"]
    out["search_epoch_vs_plain"] = best["hwnas_search_epoch_images_s"] / best["plain_loop_images_s"]
    out["goal_vs_plain"] = 0.9
    print(f"  retrain {out['retrain_vs_plain']:.2f}x  search weight steps {out['search_weight_steps_vs_plain']:.2f}x "
          f"search epoch {out['search_epoch_vs_plain']:.2f}x of a plain loop", flush=True)
    # the child step: fp32 against bf16, channels-last, torch.compile, a CUDA graph
    xb = torch.randn(batch, 3, res, res, device=c.dev)
    yb = torch.randint(space.num_classes, (batch,), device=c.dev)
    child: dict = {}
    for name, dtype, chl in (("fp32", None, False), ("fp32_channels_last", None, True),
                             ("bf16", torch.bfloat16, False), ("bf16_channels_last", torch.bfloat16, True)):
        if dtype is not None and not c.cuda:
            continue
        _, step = step_fns("child", space, arch, xb, yb, None, dtype, channels_last=chl)
        child[name] = _time_ms(step, c.dev, c.steps)
    out["child_step_ms"] = child
    if "bf16" in child:
        out["bf16_faster_than_fp32"] = min(child["bf16"], child["bf16_channels_last"]) < min(
            child["fp32"], child["fp32_channels_last"])
    out["child_step_compiled"] = _compiled_child(c, space, arch, xb, yb)
    out["child_step_cuda_graph"] = _graphed_child(c, space, arch, xb, yb) if c.cuda else "skipped: needs CUDA"
    return out


def _zero_costs(space):
    from hwnas.predictors.block_costs import BlockCosts

    return BlockCosts(0.0, tuple((0.0,) * len(labels) for labels in space.choice_labels()))


def _compiled_child(c: Check, space, arch, xb, yb) -> dict | str:
    """The child step with the network under ``torch.compile`` (bf16, channels-last on CUDA)."""
    import torch.nn.functional as F

    from hwnas.space import build_model
    from hwnas.train.training import seeded

    if c.quick and not c.cuda:
        return "skipped on the CPU dry run (compiling takes minutes here)"
    if c.left_s() < 150:
        return f"skipped: {c.left_s():.0f} s of the budget left"
    try:
        net = seeded(lambda: build_model(arch, space), 0).to(c.dev).to(memory_format=torch.channels_last).train()
        fast = torch.compile(net)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = xb.contiguous(memory_format=torch.channels_last)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(c.dev.type, dtype=torch.bfloat16, enabled=c.cuda):
                out = fast(x)
            F.cross_entropy(out.float(), yb).backward()
            opt.step()

        t0 = time.perf_counter()
        step()
        _sync(c.dev)
        compile_s = time.perf_counter() - t0
        return {"step_ms": _time_ms(step, c.dev, c.steps), "compile_s": round(compile_s, 1)}
    except Exception as exc:  # noqa: BLE001 - a compiler failure is a finding, not a crash
        return f"failed: {type(exc).__name__}: {str(exc)[:300]}"


def _graphed_child(c: Check, space, arch, xb, yb) -> dict | str:
    """The whole child training step (forward, backward, SGD) captured in one CUDA graph and replayed."""
    import torch.nn.functional as F

    from hwnas.space import build_model
    from hwnas.train.training import seeded

    try:
        net = seeded(lambda: build_model(arch, space), 0).to(c.dev).to(memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = xb.contiguous(memory_format=torch.channels_last).clone()
        y = yb.clone()

        def body():
            opt.zero_grad(set_to_none=False)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = net(x)
            F.cross_entropy(out.float(), y).backward()
            opt.step()

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                body()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return {"step_ms": _time_ms(graph.replay, c.dev, c.steps)}
    except Exception as exc:  # noqa: BLE001
        return f"failed: {type(exc).__name__}: {str(exc)[:300]}"


# ---- 3. search step cost --------------------------------------------------------------------------------------
def search_step(c: Check) -> dict:
    from hwnas.space import get_space

    dev, batch, steps = c.dev, c.batch, c.steps
    res = 32 if c.quick else 224
    name = "proxyless-cifar" if c.quick else "proxyless-mobile"
    extra = {"width_mult": 0.25} if c.quick else {}
    modes = ("child", "weight", "index", "uniform", "two", "full_v2", "gdas", "snas", "reinforce", "sandwich", "darts")
    amps = {"off": None, "bf16": torch.bfloat16} if c.cuda else {"off": None}
    rows = []
    for amp, dtype in amps.items():
        for n_cand in CANDIDATES:
            space = get_space(name, resolution=res, **CANDIDATES[n_cand], **extra)
            child_arch = get_space(name, resolution=res, **CANDIDATES[6], **extra).sample(0)
            x = torch.randn(batch, 3, res, res, device=dev)
            y = torch.randint(space.num_classes, (batch,), device=dev)
            for mode in modes:
                gen = torch.Generator().manual_seed(0)
                if c.cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats(dev)
                base = torch.cuda.memory_allocated(dev) if c.cuda else 0
                net, step = step_fns(mode, space, child_arch, x, y, gen, dtype, channels_last=c.cuda)
                model_mb = ((torch.cuda.memory_allocated(dev) - base) / 2**20) if c.cuda else float("nan")
                if c.cuda:
                    torch.cuda.reset_peak_memory_stats(dev)
                before = torch.cuda.memory_allocated(dev) if c.cuda else 0
                try:
                    ms = _time_ms(step, dev, steps)
                    peak = (torch.cuda.max_memory_allocated(dev) - before) / 2**20 if c.cuda else float("nan")
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
            for mode in ("two", "full_v2", "gdas", "snas", "reinforce"):
                amortised = (ARCH_EVERY * r["weight"]["step_ms"] + r[mode]["step_ms"]) / ARCH_EVERY
                ratios.append({"amp": amp, "candidates": n_cand, "mode": mode,
                               "memory_vs_child": max(r[mode]["peak_step_mb"], r["weight"]["peak_step_mb"])
                               / child["peak_step_mb"] if c.cuda else None,
                               "amortised_time_vs_child": amortised / child["step_ms"],
                               "arch_step_time_vs_child": r[mode]["step_ms"] / child["step_ms"],
                               "darts_time_vs_child": r["darts"]["step_ms"] / child["step_ms"],
                               "sandwich_time_vs_child": r["sandwich"]["step_ms"] / child["step_ms"],
                               "darts_memory_vs_child": r["darts"]["peak_step_mb"] / child["peak_step_mb"]
                               if c.cuda else None})
    goals = {"full_v2_12_amortised_time_vs_child": 1.5, "bf16_memory_vs_child": 1.3}
    f12 = [r for r in ratios if r["mode"] == "full_v2" and r["candidates"] == 12]
    met = {"full_v2_12_amortised_time_vs_child": all(r["amortised_time_vs_child"] <= 1.5 for r in f12),
           "bf16_memory_vs_child": all(r["memory_vs_child"] <= 1.3 for r in ratios if r["amp"] == "bf16")
           if c.cuda else None}
    return {"space": name, "resolution": res, "batch": batch, "steps": steps, "arch_every": ARCH_EVERY,
            "channels_last": c.cuda, "rows": rows, "ratios": ratios, "goals": goals, "goals_met": met}


# ---- 4. latency tables that repeat ----------------------------------------------------------------------------
def latency_table(c: Check) -> dict:
    import numpy as np

    from hwnas.profilers.table import LatencyTable
    from hwnas.space import get_space

    name = "tiny" if c.quick else "proxyless-mobile"
    space = get_space(name)
    keys = space.layer_keys()
    backend = ["--backend", "torch", "--device", "cuda"] if c.cuda else ["--backend", "torch", "--fast"]
    out: dict = {"space": name, "layers": len(keys), "builds": {}, "commands": []}
    timings = ("cuda_graph", "events") if c.cuda else ("cpu",)
    for timing in timings:
        for batch in ((1, 8) if timing != "events" else (1,)):  # the old timing once, for comparison
            meds = []
            for build in (1, 2):
                path = c.work / f"torch_{timing}_b{batch}_{build}.csv"
                opt = ["--backend-opt", "timing=events"] if timing == "events" else []
                row = hwnas(["profile", "--space", name, *backend, "--batch", str(batch), *opt, "--quiet",
                             "-o", str(path)], timeout=300)
                out["commands"].append(row)
                if row["rc"] != 0:
                    return out
                table = LatencyTable.load(path)
                meds.append(np.array([table.latency_ms(k) for k in keys]))
                out["builds"][f"{timing}_batch{batch}_build{build}"] = {
                    "seconds": row["seconds"], "sum_ms": float(meds[-1].sum()),
                    "median_layer_ms": float(np.median(meds[-1])),
                    "device_state": table.meta.get("device_state", [])}
            diff = np.abs(meds[1] / meds[0] - 1)
            out[f"{timing}_batch{batch}_repeatability"] = {
                "median_abs_diff": float(np.median(diff)), "p90_abs_diff": float(np.quantile(diff, 0.9)),
                "within_5pct": float((diff <= 0.05).mean()), "within_10pct": float((diff <= 0.10).mean())}
            print(f"  {timing} batch {batch}: {(diff <= 0.05).mean():.0%} of layers within ±5% between builds",
                  flush=True)
            if c.left_s() < 60:
                out["stopped"] = "budget"
                return out
    out["goal_within_5pct"] = 0.9
    if c.cuda:
        out["goal_met"] = all(out.get(f"cuda_graph_batch{b}_repeatability", {}).get("within_5pct", 0) >= 0.9
                              for b in (1, 8))
    return out


# ---- 5. a calibrated predictor of whole-network GPU latency ---------------------------------------------------
def predictor(c: Check) -> dict:
    import numpy as np

    from hwnas.predictors.archs import ArchDataset
    from hwnas.predictors.persist import load_predictor

    name = "tiny" if c.quick else "proxyless-mobile"
    n = "8" if c.quick else "30"
    measure = ["--backend", "torch", "--device", "cuda"] if c.cuda else ["--backend", "torch", "--fast"]
    table = c.work / ("torch_cuda_graph_b1_1.csv" if c.cuda else "torch_cpu_b1_1.csv")
    out: dict = {"space": name, "commands": []}
    if not table.exists():  # the latency_table section did not run: build the table here
        out["commands"].append(hwnas(["profile", "--space", name, *measure, "--quiet", "-o", str(table)]))
    archs, held = c.work / "archs.csv", c.work / "held.csv"
    pred = c.work / "calibrated.joblib"
    for args in (["measure-archs", "--space", name, *measure, "--n", n, "--seed", "1", "--quiet", "-o", str(archs)],
                 ["measure-archs", "--space", name, *measure, "--n", n, "--seed", "2", "--exclude", str(archs),
                  "--quiet", "-o", str(held)],
                 ["predictor", "fit", "--table", str(table), "--archs", str(archs), "--kind", "calibrated",
                  "-o", str(pred)],
                 ["predictor", "eval", str(pred), "--archs", str(held)]):
        out["commands"].append(hwnas(args, timeout=300))
        if out["commands"][-1]["rc"] != 0:
            return out
    ds = ArchDataset.load(held)
    p = load_predictor(pred, expect_meta=ds.meta)
    measured = ds.latencies()
    err = np.asarray(p.predict(ds.arch_strings)) / measured - 1
    out.update(held_out=len(measured), within_5pct=float((np.abs(err) <= 0.05).mean()),
               within_10pct=float((np.abs(err) <= 0.10).mean()), mape=float(np.mean(np.abs(err))),
               measured_ms=[float(measured.min()), float(np.median(measured)), float(measured.max())],
               goal_within_10pct=0.95)
    out["goal_met"] = out["within_10pct"] >= 0.95
    print(f"  calibrated predictor: {out['within_10pct']:.0%} of {len(measured)} held-out networks within ±10%",
          flush=True)
    return out


# in order of what a first GPU run must show: the user's path, repeatable tables and the predictor on them, then
# speed; each section is written as it ends, and none starts after --budget-s
SECTIONS = {"cli_path": cli_path, "methods": methods, "latency_table": latency_table, "predictor": predictor, "search_step": search_step,
            "speed": speed}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    p.add_argument("--quick", action="store_true", help="small spaces and few steps (the CPU dry run)")
    p.add_argument("--data-dir", help="Fashion-MNIST's four IDX files (default: synthetic images)")
    p.add_argument("--batch", type=int, default=None, help="search-step batch (default 64; 8 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 6; 2 quick)")
    p.add_argument("--only", nargs="*", choices=list(SECTIONS))
    p.add_argument("--budget-s", type=float, default=460.0,
                   help="start no section after this many seconds (default 460: the whole script within 8 min)")
    p.add_argument("--work", help="folder for tables, runs and models (default: a new temporary folder)")
    p.add_argument("-o", "--output", default=str(ROOT / "results" / "gpu_check.json"))
    a = p.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device here (torch {torch.__version__}, CUDA build: {torch.version.cuda}); run it "
              f"on a CUDA machine, or use --device cpu --quick for a dry run of the script", file=sys.stderr)
        return 2
    if a.data_dir and not Path(a.data_dir).is_dir():
        print(f"gpu_check: --data-dir {a.data_dir} is not a folder (Fashion-MNIST's four IDX files)", file=sys.stderr)
        return 2
    c = Check(a)
    if c.cuda:
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(1)
    result: dict = {"benchmark": "gpu_check", "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "dry_run": not c.cuda, "quick": a.quick, "device": str(c.dev),
                    "device_name": torch.cuda.get_device_name(c.dev) if c.cuda else platform.processor(),
                    "torch": str(torch.__version__), "cuda": str(torch.version.cuda),
                    "python": platform.python_version(), "data": c.data_spec, "budget_s": a.budget_s,
                    "sections": {}}
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        result["total_seconds"] = round(time.perf_counter() - c.t0, 1)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
        tmp.replace(out)

    for name, fn in SECTIONS.items():
        if a.only and name not in a.only:
            continue
        if c.left_s() <= 0:
            result["sections"][name] = {"skipped": f"the budget of {a.budget_s:.0f} s was spent"}
            save()
            continue
        s0 = time.perf_counter()
        print(f"[{name}]", flush=True)
        try:
            result["sections"][name] = fn(c)
        except Exception as exc:  # noqa: BLE001 - record it and run the other sections
            result["sections"][name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            print(f"  failed: {type(exc).__name__}: {exc}", flush=True)
        result["sections"][name]["section_seconds"] = round(time.perf_counter() - s0, 1)
        save()
    save()
    print(f"wrote {out} ({result['total_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
