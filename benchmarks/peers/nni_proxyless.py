"""hwnas search side by side with NNI 3.0's ``Proxyless`` strategy: epoch time, peak memory, latency vs target,
accuracy — same data, same space, same schedule, interleaved runs on this machine.

What is compared
- Data: scikit-learn digits exactly as ``hwnas.train.data`` prepares them (``--data-limit`` images, train / valid / test
  splits, normalised, 3x32x32); exported once to a ``.npz`` that both tools load.
- Space: ``proxyless-cifar`` (width 0.5, 21 searchable blocks, k{3,5,7} x e{3,6} plus ``zero`` where allowed).
  NNI's model space (``benchmarks/peers/nni_worker.py``) mirrors hwnas's builder layer for layer, one
  ``LayerChoice`` per block whose choice names are hwnas tokens, so NNI's result converts 1:1 to an hwnas
  architecture string (supernet parameter counts are reported to show the two are the same network).
- Latency model: this machine's ONNX Runtime table of the space (1 thread) and hwnas's calibrated predictor fitted
  on ``--calibrate`` networks spread over the latency range (as ``search_constraint.py``; kept only when it fits
  those networks better than the plain LUT-sum); both tools get its per-block costs;
  the target is ``--target-frac`` (default 0.25) of the way from the
  fastest to the slowest architecture. Not 0.5: there the target is about the expected latency of a uniformly
  random architecture, so a search that ignores latency lands near it by chance and the comparison shows
  nothing. hwnas: ``add#abs`` latency loss (|E[LAT]/T − 1|, λ = ``--loss-lambda``). NNI:
  ``Proxyless(penalty=ExpectationProfilerPenalty(TableLatencyProfiler, baseline=T, scale=λ, nonlinear='absolute',
  aggregate='add'))`` — the same loss, driven by the same per-block costs through an NNI ``ExpressionProfiler``.
- Schedule: ``--warmup-epochs`` + ``--epochs``, batch ``--batch-size``, SGD (Nesterov, momentum 0.9) for the
  weights, Adam for α with ``--arch-lr``, one α step per weight step (NNI's DARTS loop does one per batch; hwnas
  runs with ``grad_update_arch_param_every=1`` to match), 1 torch thread each, hwnas ``--binary-mode`` (full_v2,
  NNI's Proxyless is also a full_v2-style recompute). Differences NNI does not let us remove: its Adam for α has
  betas (0.5, 0.999) and weight decay 1e-3 built in; its Lightning ``Classification`` has no LR schedule (hwnas
  anneals with a cosine); hwnas also checkpoints and evaluates its argmax architecture every epoch.

Every run is its own process (``--repeats`` rounds, the order of the two tools alternating round by round), so
peak memory is ``ru_maxrss`` of a fresh process per tool. Per-epoch wall time is the median over the search
epochs of a run (warm-up epochs are reported apart); ratios hwnas/NNI are taken per round from the interleaved
pair and summarised as median with min/max. The exported architectures are measured end to end with hwnas's ONNX
Runtime profiler (1 thread, this machine) and compared with the target. Accuracy: the exported architecture with
inherited supernet weights on the held-out test split, per-batch BatchNorm statistics, the same way for both.

NNI lives only in its own virtual environment (default ``benchmarks/peers/.venv-nni``, created on first use: torch
2.13.0 first from local disk, then ``nni==3.0`` and the Lightning it needs with torch pinned; ``--dry-run`` shows
what pip would install). hwnas never imports NNI.

    python benchmarks/peers/nni_proxyless.py [--repeats 3] [--epochs 2] [--warmup-epochs 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
from _common import markdown_table, measure_networks, robust_protocol, spread, write_result  # noqa: E402

DEFAULT_VENV = HERE / ".venv-nni"
TORCH_SPEC = "torch==2.13.0"
# nni 3.0 does not declare the Lightning its evaluators import; these are the versions of its era that import with
# torch 2.13. lightning_fabric 2.0 imports pkg_resources, which setuptools >= 81 no longer ships; torch 2.13
# declares setuptools >= 77.0.3.
NNI_REQUIREMENTS = ["nni==3.0", "pytorch-lightning==2.0.9", "torchmetrics<1.2", "setuptools>=77.0.3,<81",
                    TORCH_SPEC]
NAME = "nni_proxyless"


class NNISetupError(RuntimeError):
    """NNI could not be installed or imported; the message holds the exact error and what was tried."""


# ---- the NNI environment ----------------------------------------------------------------------------------------
def _run(cmd: list[str], timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def nni_versions(python: Path) -> dict | None:
    """Versions of nni / torch / Lightning in the NNI venv, or None when it cannot import them."""
    if not python.exists():
        return None
    code = ("import json, warnings; warnings.filterwarnings('ignore'); import torch, nni, pytorch_lightning as pl; "
            "from nni.nas.strategy import Proxyless; "
            "print(json.dumps({'nni': nni.__version__, 'torch': torch.__version__, 'lightning': pl.__version__}))")
    out = _run([str(python), "-c", code], timeout=600)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_nni_venv(venv: Path, *, dry_run: bool = False, log=print) -> tuple[Path, dict]:
    """Create / complete the NNI venv; return its python and versions. Raises NNISetupError with what was tried."""
    python = venv / "bin" / "python"
    tried: list[str] = []

    def step(cmd: list[str]) -> subprocess.CompletedProcess:
        tried.append(" ".join(cmd))
        log("  $ " + " ".join(cmd))
        out = _run(cmd)
        if out.returncode != 0:
            err = "\n".join((out.stderr or out.stdout).strip().splitlines()[-15:])
            raise NNISetupError(f"command failed (exit {out.returncode}): {' '.join(cmd)}\n{err}\n"
                                f"tried: {tried}")
        return out

    versions = nni_versions(python) if not dry_run else None
    if versions is not None:
        return python, versions
    if not python.exists():
        step([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if dry_run:
        out = step([str(python), "-m", "pip", "install", "--dry-run", "--disable-pip-version-check",
                    TORCH_SPEC, *NNI_REQUIREMENTS])
        plan = [ln for ln in out.stdout.splitlines() if ln.startswith("Would install")]
        text = plan[0] if plan else "nothing to install"
        log(text)
        cuda = [w for w in text.split() if w.startswith(("nvidia-cu", "nvidia-cudnn", "triton"))]
        if cuda or ("torch-" in text and "torch-2.13.0" not in text):
            raise NNISetupError(f"pip would pull a CUDA build or another torch: {text}")
        return python, {"dry_run": text}
    step([*pip, TORCH_SPEC])  # the CPU build, from local disk, before anything can pull a CUDA one
    step([*pip, *NNI_REQUIREMENTS])
    versions = nni_versions(python)
    if versions is None:
        code = "import nni, pytorch_lightning; from nni.nas.strategy import Proxyless"
        out = _run([str(python), "-c", code], timeout=600)
        raise NNISetupError("NNI installed but does not import with torch 2.13:\n"
                            + "\n".join(out.stderr.strip().splitlines()[-15:]) + f"\ntried: {tried}")
    return python, versions


# ---- preparing the shared inputs (hwnas venv) -------------------------------------------------------------------
def prepare(a: argparse.Namespace, work: Path, log=print) -> dict:
    """Table, calibrated per-block costs, target, data (.npz) and the space layout (spec.json) in ``work``."""
    import numpy as np
    from search_constraint import calibrate

    from hwnas.predictors.block_costs import lut_block_costs
    from hwnas.profilers import build_table, create_backend
    from hwnas.space import get_space
    from hwnas.train.data import data_for_space

    space = get_space("proxyless-cifar")
    backend = create_backend("onnxruntime", threads=1, protocol=robust_protocol())
    t0 = time.perf_counter()
    table = build_table(space, backend, a.table or work / "cifar-ort.csv", progress=False)
    costs = lut_block_costs(table, space)
    cal = None
    if a.calibrate:
        cal_costs, cal = calibrate(table, costs, space, backend, a.calibrate)
        # keep the calibration only if it fits its own networks better than the plain LUT-sum: on a busy machine
        # the calibration networks can catch a load change and the fit then makes the model worse, not better
        cal["used"] = cal["calibrated_median_error"] <= cal["lut_median_error"]
        if cal["used"]:
            costs = cal_costs
        else:
            log(f"calibration rejected: median error {cal['calibrated_median_error']:.1%} on its own networks vs "
                f"{cal['lut_median_error']:.1%} for the plain LUT-sum (load changed while measuring?)")
    lo, hi = costs.min_ms(), costs.max_ms()
    target = lo + a.target_frac * (hi - lo)
    log(f"latency model: fastest {lo:.4g} ms, slowest {hi:.4g} ms, target {target:.4g} ms "
        f"({time.perf_counter() - t0:.0f} s to build/calibrate)")
    data = data_for_space("digits", space, limit=a.data_limit)
    np.savez(work / "data.npz", **{f"{p}_{k}": getattr(getattr(data, k), p).numpy()
                                   for k in ("train", "valid", "test") for p in ("x", "y")})
    layout = space_layout(space)
    cfg = {"epochs": a.epochs, "warmup_epochs": a.warmup_epochs, "batch_size": a.batch_size, "init_lr": a.lr,
           "arch_lr": a.arch_lr, "loss_lambda": a.loss_lambda, "momentum": 0.9, "weight_decay": 4e-5,
           "label_smoothing": 0.1, "threads": a.threads, "binary_mode": a.binary_mode, "seed": 0}
    spec = {"space": layout, "costs": {"const_ms": costs.const_ms, "costs": [list(c) for c in costs.costs]},
            "target_ms": target, "config": cfg}
    (work / "spec.json").write_text(json.dumps(spec))
    return {"spec": spec, "data": data.describe(), "calibration": cal, "latency_model_range_ms": [lo, hi],
            "target_ms": target}


def space_layout(space) -> dict:
    """The block-by-block layout of a built-in space that ``nni_worker.py`` rebuilds as an NNI model space."""
    blocks = [{"label": f"b{pos.index:02d}", "index": pos.index, "stage": pos.stage, "in_ch": pos.in_ch,
               "out_ch": pos.out_ch, "stride": pos.stride, "residual": pos.residual,
               "choices": [c.token for c in pos.choices]} for pos in space.positions()]
    return {"in_channels": space.in_channels, "stem_out": space.stem_out, "stem_stride": space.stem_stride,
            "first_out": space.first_out, "last_ch": space.positions()[-1].out_ch, "head_out": space.head_out,
            "num_classes": space.num_classes, "blocks": blocks}


def spec_for_seed(work: Path, seed: int) -> Path:
    spec = json.loads((work / "spec.json").read_text())
    spec["config"]["seed"] = seed
    path = work / f"spec-{seed}.json"
    path.write_text(json.dumps(spec))
    return path


# ---- the hwnas worker (a fresh process of the hwnas venv) -------------------------------------------------------
def hwnas_worker(spec_path: str, data_path: str, out: str) -> None:
    import resource

    import numpy as np
    import torch

    spec = json.loads(Path(spec_path).read_text())
    cfg = spec["config"]
    torch.set_num_threads(int(cfg["threads"]))
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.search import SearchConfig, run_search
    from hwnas.search.supernet import Supernet
    from hwnas.space import get_space
    from hwnas.train.data import DataSplits, ImageData
    from hwnas.train.training import evaluate

    space = get_space("proxyless-cifar")
    d = np.load(data_path)
    parts = {k: ImageData(torch.from_numpy(d[f"x_{k}"]), torch.from_numpy(d[f"y_{k}"]).long())
             for k in ("train", "valid", "test")}
    data = DataSplits("digits", parts["train"], parts["valid"], parts["test"], space.num_classes)
    costs = BlockCosts(spec["costs"]["const_ms"], tuple(tuple(c) for c in spec["costs"]["costs"]))
    conf = SearchConfig(method="grad", target_ms=spec["target_ms"], seed=int(cfg["seed"]), n_epochs=int(cfg["epochs"]),
                        warmup_epochs=int(cfg["warmup_epochs"]), batch_size=int(cfg["batch_size"]),
                        init_lr=float(cfg["init_lr"]), momentum=float(cfg["momentum"]),
                        weight_decay=float(cfg["weight_decay"]), label_smoothing=float(cfg["label_smoothing"]),
                        grad_update_arch_param_every=1, binary_mode=cfg["binary_mode"], latency_loss="add#abs",
                        loss_lambda=float(cfg["loss_lambda"]), arch_optim_lr=float(cfg["arch_lr"]), progress=False)
    stamps: list[float] = []
    base_rss = _rss_mb()
    with tempfile.TemporaryDirectory() as run:
        t0 = time.perf_counter()
        res = run_search(space, costs, data, conf, run_dir=run, log=None,
                         callbacks=[lambda _e, _r: stamps.append(time.perf_counter())])
        search_s = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        net = Supernet(space)
        net.load_state_dict(torch.load(Path(run) / "checkpoint.pt", weights_only=False)["net"])
    net.set_arch(res.arch)
    _, acc = evaluate(net, data.test, conf.batch_size, batch_stats=True)
    epoch_s = [b - a_ for a_, b in zip([t0, *stamps[:-1]], stamps, strict=True)]
    result = {"tool": "hwnas", "seed": conf.seed, "epochs": conf.warmup_epochs + conf.n_epochs,
              "warmup_epochs": conf.warmup_epochs, "epoch_s": epoch_s, "search_s": search_s, "peak_rss_mb": peak,
              "rss_before_search_mb": base_rss, "arch": str(res.arch), "test_acc": acc,
              "expected_ms": res.expected_ms, "predicted_ms": res.predicted_ms,
              "supernet_params": sum(p.numel() for p in net.parameters() if p is not None)
              - sum(b.alpha.numel() for b in net.blocks), "binary_mode": conf.binary_mode}
    Path(out).write_text(json.dumps(result))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(tool: str, python: Path, spec: Path, data: Path, work: Path, timeout: float) -> dict:
    out = work / f"{tool}-{spec.stem}-{time.monotonic_ns()}.json"
    if tool == "hwnas":
        cmd = [sys.executable, __file__, "--worker", str(spec), str(data), str(out)]
    else:
        cmd = [str(python), str(HERE / "nni_worker.py"), "--spec", str(spec), "--data", str(data), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise RuntimeError(f"{tool} worker failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    res = json.loads(out.read_text())
    res["process_s"] = time.perf_counter() - t0
    return res


# ---- summarising ------------------------------------------------------------------------------------------------
def _med(xs: list[float]) -> float:
    import statistics

    return float(statistics.median(xs)) if xs else float("nan")


def search_epoch_s(run: dict) -> float:
    """Median wall time of a run's search epochs (the warm-up epochs have no architecture steps)."""
    return _med(run["epoch_s"][run["warmup_epochs"]:]) if run["epoch_s"][run["warmup_epochs"]:] else float("nan")


def warmup_epoch_s(run: dict) -> float:
    return _med(run["epoch_s"][:run["warmup_epochs"]])


def summarise(runs: dict[str, list[dict]], target: float) -> dict:
    tools: dict[str, dict] = {}
    for tool, rs in runs.items():
        tools[tool] = {
            "search_epoch_s": spread([search_epoch_s(r) for r in rs]),
            "warmup_epoch_s": spread([warmup_epoch_s(r) for r in rs]),
            "search_s": spread([r["search_s"] for r in rs]),
            "peak_rss_mb": spread([r["peak_rss_mb"] for r in rs]),
            "search_rss_growth_mb": spread([r["peak_rss_mb"] - r["rss_before_search_mb"] for r in rs]),
            "measured_ms": spread([r["measured_ms"] for r in rs]),
            "latency_error": spread([abs(r["measured_ms"] / target - 1) for r in rs]),
            "test_acc": spread([r["test_acc"] for r in rs]),
        }
    h, n = runs["hwnas"], runs["nni"]
    pairs = list(zip(h, n, strict=False))
    ratios = {
        "search_epoch_time": spread([search_epoch_s(x) / search_epoch_s(y) for x, y in pairs]),
        "warmup_epoch_time": spread([warmup_epoch_s(x) / warmup_epoch_s(y) for x, y in pairs]),
        "search_time": spread([x["search_s"] / y["search_s"] for x, y in pairs]),
        "peak_rss": spread([x["peak_rss_mb"] / y["peak_rss_mb"] for x, y in pairs]),
        "search_rss_growth": spread([(x["peak_rss_mb"] - x["rss_before_search_mb"])
                                     / max(y["peak_rss_mb"] - y["rss_before_search_mb"], 1e-9) for x, y in pairs]),
    }
    return {"tools": tools, "ratios_hwnas_over_nni": ratios}


def fmt(s: dict, scale: float = 1.0, pct: bool = False) -> str:
    if s["n"] == 0:
        return "n/a"
    f = (lambda v: f"{v * 100:.1f}%") if pct else (lambda v: f"{v * scale:.3g}")
    return f"{f(s['median'])} [{f(s['min'])}–{f(s['max'])}]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (one run of each tool per round)")
    p.add_argument("--epochs", type=int, default=2, help="search epochs after warm-up (both tools)")
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--data-limit", type=int, default=400, help="digits images used (train/valid/test split)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--arch-lr", type=float, default=0.1)
    p.add_argument("--loss-lambda", type=float, default=1.0)
    p.add_argument("--binary-mode", default="full_v2", choices=("full_v2", "two", "full"))
    p.add_argument("--target-frac", type=float, default=0.25,
                   help="target = fastest + frac x (slowest - fastest) of the latency model")
    p.add_argument("--calibrate", type=int, default=24,
                   help="networks measured to fit hwnas's calibrated predictor, the latency model both tools use "
                        "(0: plain LUT-sum)")
    p.add_argument("--table", help="reuse this ONNX Runtime table of proxyless-cifar (else built in a temp dir)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--timeout", type=float, default=900, help="seconds per worker process")
    p.add_argument("--quick", action="store_true", help="CI-sized: 2 rounds, 1+1 epochs, 200 images, no calibration")
    p.add_argument("--dry-run", action="store_true", help="show what pip would install into the NNI venv; run nothing")
    p.add_argument("--setup-only", action="store_true", help="create the NNI venv and check that it imports")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        hwnas_worker(*a.worker)
        return
    if a.quick:
        a.repeats, a.epochs, a.warmup_epochs, a.data_limit, a.calibrate = 2, 1, 1, 200, 0
    t_start = time.perf_counter()
    print(f"NNI venv: {a.venv}", flush=True)
    try:
        python, versions = ensure_nni_venv(a.venv, dry_run=a.dry_run)
    except NNISetupError as exc:
        path = write_result(NAME, {"status": "nni_setup_failed", "error": str(exc),
                                   "requirements": [TORCH_SPEC, *NNI_REQUIREMENTS]})
        print(f"NNI could not be set up:\n{exc}\nwrote {path}", file=sys.stderr)
        sys.exit(2)
    print(f"NNI environment: {versions}", flush=True)
    if a.dry_run or a.setup_only:
        return

    with tempfile.TemporaryDirectory(prefix="hwnas-nni-") as tmp:
        work = Path(tmp)
        prep = prepare(a, work)
        target = prep["target_ms"]
        runs: dict[str, list[dict]] = {"hwnas": [], "nni": []}
        for r in range(a.repeats):
            spec = spec_for_seed(work, r)
            for tool in (("hwnas", "nni") if r % 2 == 0 else ("nni", "hwnas")):
                res = run_worker(tool, python, spec, work / "data.npz", work, a.timeout)
                runs[tool].append(res)
                print(f"  round {r + 1} {tool:5s}: search epoch {search_epoch_s(res):6.1f} s, warm-up epoch "
                      f"{warmup_epoch_s(res):6.1f} s, peak RSS {res['peak_rss_mb']:6.0f} MB, test acc "
                      f"{res['test_acc']:.3f}, {res['arch']}", flush=True)
        # measure every exported architecture end to end, the two tools alternating
        from hwnas.profilers import create_backend
        from hwnas.space import get_space

        space = get_space("proxyless-cifar")
        backend = create_backend("onnxruntime", threads=1, protocol=robust_protocol())
        todo = []  # (result, field, arch): the tools alternate, every network timed in 3 interleaved passes
        for h, n in zip(runs["hwnas"], runs["nni"], strict=True):
            todo += [(h, "measured_ms", h["arch"]), (n, "measured_ms", n["arch"])]
            if n.get("argmax_arch"):
                todo.append((n, "argmax_measured_ms", n["argmax_arch"]))
        lat = measure_networks(backend, [space.parse(x) for _, _, x in todo], space)
        for (res, field, _), ms in zip(todo, lat, strict=True):
            res[field] = ms
        for res in runs["hwnas"] + runs["nni"]:
            res["error"] = res["measured_ms"] / target - 1

    summary = summarise(runs, target)
    nni_runs = runs["nni"]
    nni_facts = {
        "penalty": nni_runs[0]["penalty"],
        "penalty_has_gradient": nni_runs[0]["penalty_has_gradient"],
        "exports": "a sample from softmax(α) (ProxylessMixedLayer.export = resample), not the argmax",
        "argmax_latency_error": spread([abs(x["argmax_measured_ms"] / target - 1) for x in nni_runs
                                        if "argmax_measured_ms" in x]),
        "argmax_test_acc": spread([x["argmax_test_acc"] for x in nni_runs]),
        "expected_ms_at_end": spread([x["expected_ms"] for x in nni_runs if x.get("expected_ms") is not None]),
    }
    wall = time.perf_counter() - t_start
    t, ra = summary["tools"], summary["ratios_hwnas_over_nni"]
    closer = t["hwnas"]["latency_error"]["median"] < t["nni"]["latency_error"]["median"]
    goals = {"epoch_time_ratio_max": 1.0, "memory_ratio_max": 1.0, "closer_to_target": True}
    result = {
        "status": "ok", "space": "proxyless-cifar", "data": prep["data"], "target_ms": target,
        "latency_model_range_ms": prep["latency_model_range_ms"], "calibration": prep["calibration"],
        "config": prep["spec"]["config"] | {"repeats": a.repeats}, "nni_environment": versions,
        "supernet_params": {"hwnas": runs["hwnas"][0]["supernet_params"], "nni": nni_runs[0]["supernet_params"]},
        **summary, "nni_facts": nni_facts, "goals": goals,
        "goal_met": {"epoch_time": ra["search_epoch_time"]["median"] <= 1.0,
                     "memory": ra["peak_rss"]["median"] <= 1.0, "closer_to_target": closer},
        "runs": runs, "wall_s": wall,
        "note": "2-core shared VM; 1 torch thread per process; latencies: min over 3 interleaved passes of 10 runs",
    }
    path = write_result(NAME, result)
    rows = [
        ["search epoch (s)", fmt(t["hwnas"]["search_epoch_s"]), fmt(t["nni"]["search_epoch_s"]),
         fmt(ra["search_epoch_time"]), "≤ 1.0"],
        ["warm-up epoch (s)", fmt(t["hwnas"]["warmup_epoch_s"]), fmt(t["nni"]["warmup_epoch_s"]),
         fmt(ra["warmup_epoch_time"]), ""],
        ["peak RSS (MB)", fmt(t["hwnas"]["peak_rss_mb"]), fmt(t["nni"]["peak_rss_mb"]), fmt(ra["peak_rss"]), "≤ 1.0"],
        ["RSS growth in search (MB)", fmt(t["hwnas"]["search_rss_growth_mb"]), fmt(t["nni"]["search_rss_growth_mb"]),
         fmt(ra["search_rss_growth"]), ""],
        ["measured latency (ms)", fmt(t["hwnas"]["measured_ms"]), fmt(t["nni"]["measured_ms"]), "",
         f"target {target:.4g}"],
        ["|latency − target| / target", fmt(t["hwnas"]["latency_error"], pct=True),
         fmt(t["nni"]["latency_error"], pct=True), "", "hwnas closer"],
        ["test accuracy (inherited weights)", fmt(t["hwnas"]["test_acc"]), fmt(t["nni"]["test_acc"]), "", ""],
    ]
    print(f"{prep['data']}; proxyless-cifar; {a.warmup_epochs}+{a.epochs} epochs, batch {a.batch_size}, "
          f"{a.repeats} interleaved rounds; median [min–max]")
    print(markdown_table(["", "hwnas", f"NNI {versions.get('nni')} Proxyless", "hwnas / NNI", "goal"], rows))
    print(f"NNI penalty carries a gradient to α: {nni_facts['penalty_has_gradient']}; NNI argmax |error| "
          f"{fmt(nni_facts['argmax_latency_error'], pct=True)}")
    print(f"wrote {path} ({wall:.0f} s)")


if __name__ == "__main__":
    main()
