"""The end-to-end demo on embedded defaults: what ``make demo`` runs.

1. profile this machine with ONNX Runtime (1 thread) into a latency table of the CIFAR-style space (16 px, width
   0.25, so the whole demo fits in about 15 minutes on two cores);
2. measure a few whole networks end to end, fit the LUT-sum, calibrated and fitted predictors and score them on
   held-out networks;
3. search at three latency targets with the calibrated predictor's differentiable latency, run the random and
   evolutionary baselines and the hand-designed references, retrain every architecture briefly on the harder digits
   variant and measure it;
4. write ``report.md`` with the tables and figures into the output folder.

Every stage writes its files into the folder and is reused when the demo is run again, so an interrupted demo resumes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import atomic_write_text
from ..predictors import CalibratedPredictor, FittedPredictor, LUTSumPredictor
from ..predictors.archs import measure_archs
from ..predictors.metrics import accuracy_report
from ..predictors.persist import save_predictor
from ..profilers import QUICK, ROBUST, build_table, create_backend
from ..space import get_space
from .config import ParetoConfig
from .experiment import run_pareto
from .report import report_markdown

logger = logging.getLogger(__name__)


def _setup(quick: bool):
    if quick:
        space = get_space("tiny")
        backend = create_backend("onnxruntime", threads=1, protocol=QUICK)
        sizes = dict(n_fit=12, n_test=6)
        cfg = ParetoConfig(targets_ms=(), data="synthetic", data_limit=160, search_epochs=1, warmup_epochs=1,
                           retrain_epochs=1, evo_population=6, evo_generations=1, batch_size=32, progress=False)
    else:
        space = get_space("proxyless-cifar", resolution=16, width_mult=0.25)
        backend = create_backend("onnxruntime", threads=1, protocol=ROBUST)
        sizes = dict(n_fit=40, n_test=20)
        if fashion_mnist_available():  # real images: Debian's dataset-fashion-mnist (`make demo` installs it)
            cfg = ParetoConfig(targets_ms=(), data="fashion-mnist", data_limit=1500, search_epochs=6,
                               warmup_epochs=3, retrain_epochs=10)
        else:
            cfg = ParetoConfig(targets_ms=(), data="digits-hard", data_limit=600, search_epochs=6, warmup_epochs=3,
                               retrain_epochs=10)
    return space, backend, sizes, cfg


def fashion_mnist_available() -> bool:
    from ..train.data import FASHION_MNIST_DIR

    return any((FASHION_MNIST_DIR / f"train-images-idx3-ubyte{gz}").exists() for gz in ("", ".gz"))


def run_demo(out: Path, *, quick: bool = False, device: str = "auto", amp: str = "off") -> Path:
    """The whole pipeline on embedded defaults into ``out`` (one demo per folder at a time); searches and retraining
    run on ``device`` with ``amp``."""
    from ..io import output_lock

    with output_lock(out, "demo folder", folder=True):
        return _run_demo(Path(out), quick=quick, device=device, amp=amp)


def _run_demo(out: Path, *, quick: bool = False, device: str = "auto", amp: str = "off") -> Path:
    from dataclasses import replace

    import torch

    from ..predictors.plots import predicted_vs_measured
    from ..profilers.plots import table_heatmap

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space, backend, sizes, cfg = _setup(quick)
    device_model = backend.environment().get("device_model", "this CPU")

    logger.info(f"[1/4] profiling {space.name} ({space.resolution}px, width {space.width_mult}; "
          f"{len(space.layer_keys())} layers) with {backend.name}, {backend.threads} thread(s)")
    table = build_table(space, backend, out / "table.csv")
    table_heatmap(table, out / "table_heatmap.png")
    t_profile = time.perf_counter() - t0

    logger.info(f"[2/4] measuring {sizes['n_fit']} + {sizes['n_test']} (held-out) networks end to end; fitting predictors")
    fit = measure_archs(space, backend, out / "archs_fit.csv", n=sizes["n_fit"], seed=1)
    test = measure_archs(space, backend, out / "archs_heldout.csv", n=sizes["n_test"], seed=2,
                         exclude=set(fit.arch_strings))
    y_fit, y_test = fit.latencies(), test.latencies()
    preds = {"LUT-sum": LUTSumPredictor(table=table).fit(),
             "calibrated": CalibratedPredictor(table=table).fit(fit.arch_strings, y_fit),
             "fitted": FittedPredictor(table=table, n_ensemble=4).fit(fit.arch_strings, y_fit)}
    scores = {name: accuracy_report(y_test, p.predict(test.arch_strings)) for name, p in preds.items()}
    calibrated = preds["calibrated"]
    save_predictor(calibrated, out / "calibrated.joblib")
    predicted_vs_measured(y_test, calibrated.predict(test.arch_strings), out / "predicted_vs_measured.png",
                          title="calibrated predictor on held-out networks", device=device_model)
    for name, r in scores.items():
        logger.info(f"  {name:10s} ±10% {r['within_10pct']:.0%}  MAPE {r['mape']:.1%}  bias {r['bias']:+.1%}")
    t_predict = time.perf_counter() - t0 - t_profile

    # the search's latency model: the per-block predictor that did best on the held-out networks
    per_block = {n: preds[n].block_costs() if n == "calibrated" else preds[n].costs_ for n in ("calibrated", "LUT-sum")}
    usable = [n for n in per_block if per_block[n].min_ms() > 0]
    model = min(usable, key=lambda n: scores[n]["mape"])
    costs = per_block[model]
    logger.info(f"  search latency model: {model} (held-out MAPE {scores[model]['mape']:.1%})")
    lo, hi = costs.min_ms(), costs.max_ms()
    targets = tuple(round(lo + f * (hi - lo), 4) for f in ((0.3, 0.6) if quick else (0.2, 0.4, 0.6)))
    cfg = replace(cfg, targets_ms=targets, device=device, amp=amp)
    logger.info(f"[3/4] searching at targets {', '.join(f'{t:.3g}' for t in targets)} ms (predicted range {lo:.3g}–{hi:.3g} "
          f"ms), baselines, retraining and measuring")
    pareto = run_pareto(space, costs, backend, out / "pareto", cfg, device=device_model,
                        log=lambda m: logger.info(f"  {m}"))
    wall = time.perf_counter() - t0

    logger.info("[4/4] writing the report")
    lines = [
        "# hwnas demo report", "",
        f"Device: {device_model}; {_versions(backend)}, {backend.threads} thread(s). "
        f"Space: {space.name} at {space.resolution}px, width ×{space.width_mult}. Data: {cfg.data}"
        + (" (Debian's dataset-fashion-mnist)" if cfg.data == "fashion-mnist" else
           " (Fashion-MNIST is not installed here: `apt-get install dataset-fashion-mnist` makes the demo use it)"
           if not quick else "") + ". "
        f"Latency measurements: {backend.protocol.rounds} interleaved rounds, headline "
        f"{backend.protocol.statistic}. "
        f"Wall time {wall / 60:.1f} min (profiling {t_profile:.0f} s, whole-network measurements and predictors "
        f"{t_predict:.0f} s).", "",
        "## Latency table", "", "```", table.summary(), "```", "", "![table heatmap](table_heatmap.png)", "",
        f"## Latency predictors on {len(y_test)} held-out networks "
        f"({len(y_fit)} measured networks used for fitting)", "",
        "| predictor | within ±5% | within ±10% | MAPE | bias | Spearman |", "|---|---|---|---|---|---|",
        *[f"| {n} | {r['within_5pct']:.0%} | {r['within_10pct']:.0%} | {r['mape']:.1%} | {r['bias']:+.1%} | "
          f"{r.get('spearman', float('nan')):.3f} |" for n, r in scores.items()], "",
        "LUT-sum adds layers timed in isolation; at this scale each isolated run carries the runtime's fixed "
        "per-call cost, which the calibrated and fitted predictors learn away from the measured networks.", "",
        "![predicted vs measured](predicted_vs_measured.png)", "",
        *report_markdown(pareto, rel_to=out),
        f"Search: ProxylessNAS gradient search with the {model} predictor's expected latency "
        f"(`{cfg.latency_loss}`, {cfg.warmup_epochs} warm-up + {cfg.search_epochs} search epochs, α learning rate "
        f"{cfg.arch_lr:g}); the exported network "
        "is the argmax architecture fitted to the target under the latency model: cheapened block by block where it is "
        "over, the most probable changes that still fit (of one block, or two where no single one does) where it is "
        f"more than {cfg.fill_band:.1%} under; it is then measured on this machine and refitted while it is more than "
        f"{cfg.export_tolerance:.0%} off its target. "
        "Random: random architectures moved under the target. Largest: the network of most MACs under the target "
        "(under the latency model), found without a search. Evolution: Once-for-All style, scored on a one-shot "
        "supernet trained as long as one search. All retrained with the same budget and measured on this machine.",
        "",
    ]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    logger.info(f"report: {report.resolve()}  ({wall / 60:.1f} min)")
    return report


def _versions(backend) -> str:
    """``onnxruntime 1.32.0 (CPUExecutionProvider)``: the runtime's versions as a reader writes them."""
    v = dict(backend.runtime_versions() or {})
    head = f"{backend.name} {v.pop(backend.name, '')}".strip()
    rest = ", ".join(f"{val}" if k == "providers" else f"{k} {val}" for k, val in v.items())
    return f"{head} ({rest})" if rest else head

