"""The accuracy–latency picture: searches across latency targets, baselines at the same evaluation budget,
every architecture retrained briefly and measured on the device, fronts, hypervolumes and figures.

Each stage writes into the output folder and is reused when run again: ``search/T<ms>/`` (search runs, resumable),
``oneshot/`` (the supernet the evolutionary baseline scores children with), ``evals.csv`` (one row per retrained and
measured architecture, appended as they finish), then ``points.csv``, ``summary.csv``, ``pareto.png``.

What is reused must have been made with the same settings: ``pareto_config.json`` records the settings each stage
depends on (:func:`stage_settings`), and a rerun with others (data, latency model, epochs, seed, method, backend...)
is refused, or with ``force`` those stages start over. Other targets may be added to a folder at any time.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import UsageError, round_up
from ..io import atomic_write, atomic_write_json, bar_disabled, output_lock
from ..predictors.block_costs import BlockCosts
from ..search.baselines import evolutionary_search, hand_designed, largest_under_target, random_under_target
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.data import DataSplits, data_for_space
from .caveats import placement_caveat, supernet_caveat
from .config import (
    EVOLUTION,
    LARGEST,
    RANDOM,
    REFERENCE,
    ParetoConfig,
    ParetoResult,
    search_config,
    search_label,
    target_dir,
    trains_once,
)
from .evaluate import EvalCache, device_latency, evaluate_arch, oneshot_fitness, seed_runs
from .flatness import flatness, flatness_sentence, seed_spread
from .fronts import summarise
from .reuse import backend_settings, check_reuse, digest, stage_settings

logger = logging.getLogger(__name__)

def train_supernet(space: SearchSpace, costs: BlockCosts, data: DataSplits, cfg: ParetoConfig, run_dir: Path,
                   log: Callable[[str], None]) -> Path:
    """The method's supernet (``spos``, ``ofa``), trained once for every target (as many epochs as one search's
    warm-up and search together), reused or resumed in ``run_dir``."""
    from ..search import run_search
    from ..search.run import RunDir

    rd = RunDir(run_dir)
    epochs = cfg.warmup_epochs + cfg.search_epochs
    if not (rd.has_checkpoint and int(rd.load_checkpoint()["epoch"]) + 1 >= epochs):
        log(f"training the {cfg.method} supernet once for every target ({epochs} epochs)")
        run_search(space, costs, data, search_config(cfg, None, n_epochs=epochs, search_rounds=0),
                   run_dir=run_dir, resume=rd.has_checkpoint, log=None)
    return run_dir


def _probabilities(record: dict[str, Any], space: SearchSpace) -> list[list[float]]:
    return [[float(d[label]) for label in labels] for labels, d in zip(space.choice_labels(), record["probabilities"],
                                                                    strict=True)]


EXPORT_CHECK = "export_check.json"


def run_search_at(space: SearchSpace, costs: BlockCosts, data: DataSplits, cfg: ParetoConfig, target: float,
                  run_dir: Path, log: Callable[[str], None], *, measure: Callable[[ArchSpec], float] | None = None,
                  measure_settings: dict[str, Any] | None = None) -> tuple[ArchSpec, ArchSpec, dict[str, Any]]:
    """(architecture fitted to the target, plain argmax architecture, exported record) of one search run,
    reusing a finished run in ``run_dir`` and resuming an interrupted one. With ``measure`` (latency of a network
    on the device, ms) the fitted network is checked on the device and refitted while it misses the target by more
    than ``cfg.export_tolerance`` (:func:`hwnas.search.derive.fit_measured`); the tries are kept in
    ``export_check.json`` (``record["export_check"]``) and reused while ``measure_settings`` stay the same."""
    from ..search import load_exported, run_search
    from ..search.derive import fit_measured, fit_to_target
    from ..search.run import RunDir

    if not (run_dir / RunDir.ARCH).exists():
        rd = RunDir(run_dir)
        if trains_once(cfg):  # one supernet for every target, searched per target without training again
            supernet = train_supernet(space, costs, data, cfg, run_dir.parent / "supernet", log)
            conf = search_config(cfg, target, method="evolution", supernet=str(supernet),
                                  search_rounds=cfg.evo_generations,
                                  arch_optim_args={"population": max(2, cfg.evo_population)})
        else:
            conf = search_config(cfg, target)
        run_search(space, costs, data, conf, run_dir=run_dir, resume=rd.has_checkpoint, log=None)
        if trains_once(cfg):
            from ..search.run import describe_cost, search_cost

            cost = search_cost(run_dir, conf.supernet)
            if cost is not None:
                log(f"search T={target:.4g} ms on the trained supernet: {describe_cost(cost)}")
    exported, _, record = load_exported(run_dir)
    argmax = space.parse(record["argmax"]) if "argmax" in record else exported
    probs = _probabilities(record, space)
    # evolution's pick on a trained supernet (spos, ofa) is one-hot: every change ties, so a fill would rewrite the
    # network the scores chose in index order; its search already kept it within its own band under the target
    fill = None if trains_once(cfg) else cfg.fill_band
    if measure is None:
        # the search exports the argmax fitted to the target (export="fit"); runs from before that are fitted here
        fitted = fit_to_target(probs, costs, space, target, fill=fill)
    else:
        # version 2: goal = target x predicted / measured (version 1 scaled by target / measured); version 3: the fill
        # takes a two-block change where no single one fits (a folder's networks are fitted one way throughout)
        key = json.loads(json.dumps({"version": 3, "target_ms": target, "fill_band": fill,
                                     "tolerance": cfg.export_tolerance, "probabilities": digest(probs),
                                     "settings": measure_settings or {}}, default=str))
        path = run_dir / EXPORT_CHECK
        reused = _reuse_export_check(path, key, space, log)
        if reused is not None:
            fitted, tries = reused
        else:
            fitted, tries = fit_measured(probs, costs, space, target, measure, fill=fill,
                                         tolerance=cfg.export_tolerance)
            atomic_write_json(path, {"key": key, "arch": str(fitted), "tries": tries})
            log(f"search T={target:.4g} ms: measured " + ", ".join(f"{t['measured_ms']:.4g}" for t in tries) +
                " ms on the device while fitting")
        record = {**record, "export_check": tries}
    log(f"search T={target:.4g} ms: argmax {costs.arch_ms(argmax, space):.4g} ms, fitted to target "
        f"{costs.arch_ms(fitted, space):.4g} ms")
    return fitted, argmax, record


def _reuse_export_check(path: Path, key: dict[str, Any], space: SearchSpace, log: Callable[[str], None]
                        ) -> tuple[ArchSpec, list[dict[str, Any]]] | None:
    """The network and tries saved in ``export_check.json`` if they were made with ``key``; ``None`` (measure
    again) when the file is missing, made otherwise, or damaged: it is a cache, so damage costs a measurement."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict) or saved.get("key") != key:
            log(f"{path.parent.name}: the device check in {path.name} was made with other settings or an earlier "
                "hwnas (another way of fitting); fitting and measuring again")
            return None
        tries = saved["tries"]
        if not (isinstance(tries, list) and tries and all(
                isinstance(t, dict) and isinstance(t.get("arch"), str) and float(t["measured_ms"]) > 0 for t in tries)):
            raise ValueError("no valid tries")
        arch = space.parse(saved["arch"])
        if str(arch) not in {t["arch"] for t in tries}:
            raise ValueError("the network kept is not one of the tries")
    except (OSError, ValueError, TypeError, KeyError, UsageError) as exc:
        log(f"warning: {path} is damaged ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            "measuring again")
        return None
    log(f"{path.parent.name}: device check reused from {path.name} ({len(tries)} measurement(s))")
    return arch, tries


def run_pareto(space: SearchSpace, costs: BlockCosts, backend: Any, out: str | Path, cfg: ParetoConfig, *,
               data: DataSplits | None = None, device: str = "", log: Callable[[str], None] | None = logger.info,
               force: bool = False) -> ParetoResult:
    """Search at every target, run the baselines with the same number of evaluated architectures per target,
    retrain and measure everything, and write points, summary and figures into ``out``. Results already in ``out``
    are reused only if made with the same settings (else refused; ``force`` redoes them)."""
    out = Path(out)
    lo, hi = costs.min_ms(), costs.max_ms()
    for t in cfg.targets_ms:
        if not (math.isfinite(t) and t > 0):
            raise UsageError(f"target {t} ms is not a positive, finite number of milliseconds")
        if t < lo:
            raise UsageError(f"target {t:.4g} ms is below the fastest architecture: the smallest achievable latency "
                             f"is {round_up(lo)} ms under this latency model (slowest {hi:.4g} ms)")
    if len(set(cfg.targets_ms)) != len(cfg.targets_ms):
        raise UsageError(f"targets {list(cfg.targets_ms)} repeat a value")
    if trains_once(cfg):
        _check_supernet_plan(cfg, lo, hi)
    with output_lock(out, "pareto folder", folder=True):
        return _run_pareto(space, costs, backend, out, cfg, data=data, device=device, log=log, force=force)


def _check_supernet_plan(cfg: ParetoConfig, lo: float, hi: float) -> None:
    """What the search of a trained supernet would refuse at some target, refused before the supernet trains."""
    from ..search.estim import ESTIMATORS
    from ..search.estim.inherited import check_target

    if cfg.supernet_weights != "shared":
        raise UsageError(f"method {cfg.method} trains one supernet whose shared weights score every network: "
                         f"supernet_weights {cfg.supernet_weights!r} gives each candidate its own, which do not rank "
                         f"networks; use --supernet-weights shared (the default for {cfg.method})")
    band = ESTIMATORS.settings("inherited")["band"]  # the band the searches of the supernet will use
    for t in cfg.targets_ms:
        check_target(t, lo, hi, band)


def _run_pareto(space: SearchSpace, costs: BlockCosts, backend: Any, out: Path, cfg: ParetoConfig, *,
                data: DataSplits | None, device: str, log: Callable[[str], None] | None, force: bool) -> ParetoResult:
    from .figures import pareto_plot

    log = log or (lambda _m: None)
    lo, hi = costs.min_ms(), costs.max_ms()
    stages = stage_settings(cfg, space, costs, backend)
    check_reuse(out, stages, force)
    atomic_write_json(out / "pareto_config.json", {**asdict(cfg), "space": space.to_dict(), "latency_range_ms": [lo, hi],
                                                   "stages": stages})
    data = data if data is not None else data_for_space(cfg.data, space, seed=cfg.seed, limit=cfg.data_limit)
    log(f"data: {data.describe()}")
    rng = np.random.default_rng(cfg.seed)
    latency = lambda a: costs.arch_ms(a, space)  # noqa: E731
    plan: list[dict[str, Any]] = []
    measure = device_latency(space, backend) if cfg.export_tolerance > 0 else None
    label = search_label(cfg)
    log(f"[a] {label} search at {len(cfg.targets_ms)} targets ({cfg.method}, {cfg.latency_loss})")
    for t in tqdm(cfg.targets_ms, desc="search", unit="target", disable=bar_disabled(cfg.progress)):
        fitted, argmax, record = run_search_at(space, costs, data, cfg, t, out / "search" / target_dir(t), log,
                                               measure=measure,
                                               measure_settings={"latency_model": stages["search"]["latency_model"],
                                                                 "backend": backend_settings(backend)})
        plan.append({"method": label, "target_ms": t, "arch": fitted, "argmax": str(argmax),
                     "argmax_predicted_ms": latency(argmax), "export_tries": len(record.get("export_check", []))})
    log("[b] baselines: random under the constraint, the largest network under it (most MACs), evolution on a "
        "one-shot supernet, hand-designed")
    fitness = oneshot_fitness(space, data, cfg, out / "oneshot", costs)
    for t in cfg.targets_ms:
        plan.append({"method": RANDOM, "target_ms": t, "arch": random_under_target(space, latency, t, rng)})
        plan.append({"method": LARGEST, "target_ms": t, "arch": largest_under_target(space, costs, t)})
        best, score, n_eval = evolutionary_search(space, fitness, latency, t, rng, population=cfg.evo_population,
                                                  generations=cfg.evo_generations)
        plan.append({"method": EVOLUTION, "target_ms": t, "arch": best, "oneshot_acc": score, "oneshot_evals": n_eval})
    for name, arch in hand_designed(space).items():
        plan.append({"method": REFERENCE, "target_ms": math.nan, "arch": arch, "name": name})
    log(f"[c] retraining {len(plan)} architectures for {cfg.retrain_epochs} epochs and measuring them "
        f"({backend.name})")
    cache = EvalCache(out / "evals.csv")
    rows = []
    for p in tqdm(plan, desc="evaluate", unit="net", disable=bar_disabled(cfg.progress)):
        ev = evaluate_arch(p["arch"], space, data, backend, costs, cfg, cache)
        rows.append({**{k: v for k, v in p.items() if k != "arch"}, **ev})
    points = pd.DataFrame(rows)
    t = points["target_ms"]
    points["vs_target"] = points["measured_ms"] / t - 1
    points["meets_target"] = np.where(t.notna(), points["measured_ms"] <= t * 1.05, np.nan)
    compared = points[points["method"] != REFERENCE]
    ref_lat = float(points["measured_ms"].max()) * 1.05
    chance = 1.0 / space.num_classes
    summary = summarise(compared, ref_latency_ms=ref_lat, ref_accuracy=chance)
    files = {"points": out / "points.csv", "summary": out / "summary.csv", "pareto": out / "pareto.png"}
    flat: dict[str, Any] = {}
    if cfg.noise_seeds > 0:
        # the two fastest distinct networks evaluated: the cheapest to retrain again, and the ones a flat front
        # would recommend
        first = {str(p["arch"]): float(r["accuracy"]) for p, r in zip(plan, rows, strict=True)}
        by_speed = sorted({str(p["arch"]): p["arch"] for p in plan}.values(), key=latency)[:2]
        log(f"[d] seed-to-seed spread: the {len(by_speed)} fastest networks retrained with {cfg.noise_seeds} more "
            "seeds")
        runs = seed_runs(by_speed, space, data, cfg, out / "seeds.csv", {str(a): first[str(a)] for a in by_speed})
        spread = seed_spread(runs)
        distinct = points.drop_duplicates("arch")
        flat = {**flatness(distinct, spread["std"]), "seed_runs": spread}
        atomic_write_json(out / "flatness.json", flat, strict=True)  # NaN as null: any JSON parser reads it
        files["flatness"] = out / "flatness.json"
    atomic_write(files["points"], lambda fh: points.to_csv(fh, index=False))
    atomic_write(files["summary"], lambda fh: summary.to_csv(fh, index=False))
    pareto_plot(points, files["pareto"], targets_ms=cfg.targets_ms, device=device,
                title=f"{space.name} on {data.name}: accuracy after {cfg.retrain_epochs} epochs vs measured latency"
                      + (" (bars: ±1 seed-to-seed std)" if flat else ""),
                acc_err=flat.get("seed_std") if flat else None)
    mid = out / "search" / target_dir(cfg.targets_ms[len(cfg.targets_ms) // 2])
    alpha = alpha_figure(space, mid, out / "alpha_evolution.png")
    if alpha is not None:
        files["alpha"] = alpha
    hv = summary.set_index("method")["hypervolume"]
    notes = []
    if label in hv and RANDOM in hv and hv[RANDOM] > 0:
        notes.append(f"hypervolume ratio search/random = {hv[label] / hv[RANDOM]:.3f}")
    if label in hv and EVOLUTION in hv and hv[EVOLUTION] > 0:
        notes.append(f"hypervolume ratio search/evolution = {hv[label] / hv[EVOLUTION]:.3f}")
    if label in hv and LARGEST in hv and hv[LARGEST] > 0:
        notes.append(f"hypervolume ratio search/largest = {hv[label] / hv[LARGEST]:.3f} (the network of most MACs "
                     "under each target, found without a search)")
    runs = {label: [out / "search" / "supernet"] if trains_once(cfg) else
            [out / "search" / target_dir(t) for t in cfg.targets_ms], EVOLUTION: [out / "oneshot"]}
    notes += [n for n in (supernet_caveat(runs, chance), placement_caveat(points, REFERENCE)) if n]
    if flat:
        notes.append(flatness_sentence(flat))
    for n in notes:
        log(n)
    return ParetoResult(points, summary, files, notes, flat)


def alpha_figure(space: SearchSpace, run_dir: Path, path: Path) -> Path | None:
    """The α probability evolution per block of one search run (from its log.csv)."""
    from ..search.run import RunDir
    from .figures import alpha_evolution

    try:
        frame = RunDir(run_dir).read_log()
    except FileNotFoundError:
        return None
    probs, labels = [], []
    for d, choice_labels in enumerate(space.choice_labels()):
        cols = [f"p{d}_{label}" for label in choice_labels]
        if not all(c in frame for c in cols):
            return None
        probs.append(frame[cols].to_numpy())
        labels.append(list(choice_labels))
    return alpha_evolution(probs, path, choice_labels=labels, title=f"architecture probabilities, {run_dir.name}")

