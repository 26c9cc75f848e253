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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import UsageError, round_up
from ..io import atomic_write, atomic_write_json, output_lock, read_json
from ..predictors.block_costs import BlockCosts
from ..search.baselines import evolutionary_search, hand_designed, random_under_target
from ..search.derive import FILL_BAND
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.data import DataSplits, data_for_space
from .flatness import flatness, flatness_sentence, seed_spread
from .fronts import summarise

logger = logging.getLogger(__name__)

SEARCH, RANDOM, EVOLUTION, REFERENCE = "proxylessnas", "random", "evolution (OFA-style)", "hand-designed"


@dataclass(frozen=True)
class ParetoConfig:
    targets_ms: tuple[float, ...]
    data: str = "digits-hard"
    data_limit: int | None = 600
    method: str = "grad"
    supernet_weights: str = "separate"   # hwnas.search.shared
    search_epochs: int = 8
    warmup_epochs: int = 3
    batch_size: int = 32
    # Adam learning rate of α. 0.01 (not 0.1) for these short searches: measured over 5 seeds in
    # benchmarks/search_quality.py, +2.4 / +1.5 pp over random at 0.2 / 0.4 of the latency range where 0.1 gave
    # +0.7 / -0.5 (at 0.6, where the untrained α's expected latency is already the target, -0.6 against +0.8)
    arch_lr: float = 0.01
    latency_loss: str = "add#abs"
    loss_lambda: float = 1.0
    binary_mode: str = "two"
    retrain_epochs: int = 8
    evo_population: int = 16
    evo_generations: int = 4
    seed: int = 0
    progress: bool = True
    device: str = "auto"            # where searches and retraining run (hwnas.train.device)
    amp: str = "off"
    channels_last: bool | None = None  # None: on for the built-in spaces, off for model spaces
    workers: int | None = None
    # the two fastest networks evaluated are retrained with this many more seeds: the seed-to-seed spread of
    # accuracy that the report weighs the front against (0: not measured)
    noise_seeds: int = 2
    # the exported network is filled up to within this share under its target (hwnas.search.derive.fit_to_target)
    fill_band: float = FILL_BAND
    # the exported network is measured on the device and refitted while it is more than this share off its target
    # (0: not checked; the latency model alone decides)
    export_tolerance: float = 0.05


@dataclass
class ParetoResult:
    points: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flatness: dict[str, Any] = field(default_factory=dict)


def _search_config(cfg: ParetoConfig, target: float | None, **over: Any):
    from ..search import SearchConfig

    kw = dict(method=cfg.method, target_ms=target, n_epochs=cfg.search_epochs, warmup_epochs=cfg.warmup_epochs,
              batch_size=cfg.batch_size, arch_optim_lr=cfg.arch_lr, grad_update_arch_param_every=1,
              binary_mode=cfg.binary_mode, init_lr=0.05, supernet_weights=cfg.supernet_weights, latency_loss=cfg.latency_loss, loss_lambda=cfg.loss_lambda,
              seed=cfg.seed, progress=cfg.progress, device=cfg.device, amp=cfg.amp, channels_last=cfg.channels_last,
              workers=cfg.workers)
    from ..search.methods import get_method

    if get_method(cfg.method).optim in ("reinforce", "enas"):
        kw.update(rl_preset="hard", rl_samples=4)
    kw.update(over)
    return SearchConfig(**kw)


def search_label(cfg: ParetoConfig) -> str:
    """The searched networks' method in points.csv: ``proxylessnas`` for ProxylessNAS (gradient or REINFORCE), else
    the method's name."""
    from ..search.methods import canonical

    name = canonical(cfg.method)
    return SEARCH if name in ("proxyless-g", "proxyless-r") else name


def trains_once(cfg: ParetoConfig) -> bool:
    """Whether the method trains one supernet and searches it per target (spos, ofa) rather than searching anew."""
    from ..search.methods import get_method

    return get_method(cfg.method).search


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
        run_search(space, costs, data, _search_config(cfg, None, n_epochs=epochs, search_rounds=0),
                   run_dir=run_dir, resume=rd.has_checkpoint, log=None)
    return run_dir


def target_dir(t: float) -> str:
    """``T6``, ``T0.45``: four significant digits when they name ``t`` exactly (as before), else every digit, so
    two targets never share a folder (``T0.30001`` and ``T0.30002``, not both ``T0.3``)."""
    short = f"{t:.4g}"
    return f"T{short}" if float(short) == t else f"T{t!r}"


def _digest(obj: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def backend_settings(backend: Any) -> dict[str, Any]:
    return backend.settings() if hasattr(backend, "settings") else {"backend": getattr(backend, "name", "?")}


def stage_settings(cfg: ParetoConfig, space: SearchSpace, costs: BlockCosts, backend: Any) -> dict[str, dict[str, Any]]:
    """What each reusable stage's results depend on (targets excepted: each has its own folder)."""
    from ..search.run import costs_to_dict

    common = {"space": space.to_dict(), "data": cfg.data, "data_limit": cfg.data_limit, "seed": cfg.seed,
              "batch_size": cfg.batch_size}
    search = {**common, "latency_model": _digest(costs_to_dict(costs)), "method": cfg.method,
              "search_epochs": cfg.search_epochs, "warmup_epochs": cfg.warmup_epochs, "arch_lr": cfg.arch_lr,
              "latency_loss": cfg.latency_loss, "loss_lambda": cfg.loss_lambda, "binary_mode": cfg.binary_mode,
              **({"supernet_weights": cfg.supernet_weights} if cfg.supernet_weights != "separate" else {})}
    settings = backend_settings(backend)
    evals = {**common, "retrain_epochs": cfg.retrain_epochs, "latency_model": search["latency_model"],
             "measurement": settings}  # every setting: protocol and backend options change what is measured
    return {"search": search, "evals": evals}


def check_reuse(out: Path, stages: dict[str, dict[str, Any]], force: bool) -> None:
    """Refuse to reuse ``out``'s searches or evaluations made with other settings; with ``force``, remove those
    stages so that they start over."""
    import shutil

    from ..profilers.records import diff_settings

    cfg_file = out / "pareto_config.json"
    made = {"search": [out / "search", out / "oneshot"], "evals": [out / "evals.csv"]}
    if not any(p.exists() for ps in made.values() for p in ps):
        return
    saved = read_json(cfg_file, "pareto settings", expect=dict) if cfg_file.exists() else {}
    recorded = saved.get("stages") if isinstance(saved.get("stages"), dict) else {}
    stale = {}
    for stage, now in stages.items():
        if not any(p.exists() for p in made[stage]):
            continue
        before = recorded.get(stage)
        if stage == "evals" and isinstance(before, dict) and isinstance(before.get("measurement"), dict) \
                and "protocol" not in before["measurement"]:
            # folders made before the whole measurement setting was recorded: compare what they recorded
            now = {**now, "measurement": {k: now["measurement"].get(k) for k in before["measurement"]}}
        if before != now:
            stale[stage] = (diff_settings(before, now, have="folder has") if isinstance(before, dict)
                            else ["no record of the settings they were made with (an older hwnas)"])
    if "search" in stale:
        stale.setdefault("evals", stale["search"])  # evaluations are of the searched architectures
    if not stale:
        return
    if not force:
        lines = [f"{stage}: " + "; ".join(diffs[:4])
                 for stage, diffs in stale.items()]
        raise UsageError(f"{out} holds results made with other settings, which a rerun would mix with new ones:\n  "
                         + "\n  ".join(lines) + "\nUse another -o folder, the same settings, or --force to redo "
                         "those parts here")
    for stage in stale:
        for p in made[stage]:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        logger.info("%s: %s made with other settings removed (--force); they start over", out, stage)


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
            conf = _search_config(cfg, target, method="evolution", supernet=str(supernet),
                                  search_rounds=cfg.evo_generations,
                                  arch_optim_args={"population": max(2, cfg.evo_population)})
        else:
            conf = _search_config(cfg, target)
        run_search(space, costs, data, conf, run_dir=run_dir, resume=rd.has_checkpoint, log=None)
    exported, _, record = load_exported(run_dir)
    argmax = space.parse(record["argmax"]) if "argmax" in record else exported
    probs = _probabilities(record, space)
    if measure is None:
        # the search exports the argmax fitted to the target (export="fit"); runs from before that are fitted here
        fitted = fit_to_target(probs, costs, space, target, fill=cfg.fill_band)
    else:
        # version 2: goal = target x predicted / measured (version 1 scaled by target / measured)
        key = json.loads(json.dumps({"version": 2, "target_ms": target, "fill_band": cfg.fill_band,
                                     "tolerance": cfg.export_tolerance, "probabilities": _digest(probs),
                                     "settings": measure_settings or {}}, default=str))
        path = run_dir / EXPORT_CHECK
        reused = _reuse_export_check(path, key, space, log)
        if reused is not None:
            fitted, tries = reused
        else:
            fitted, tries = fit_measured(probs, costs, space, target, measure, fill=cfg.fill_band,
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


def device_latency(space: SearchSpace, backend: Any, rounds: int = 3) -> Callable[[ArchSpec], float]:
    """Latency of a network on ``backend`` (ms, the protocol's headline; the least disturbed of ``rounds``, as
    :func:`evaluate_arch` measures): it depends on the architecture only, so an untrained network will do."""
    from ..space.builder import build_model
    from ..train.retrain import least_disturbed

    def measure(arch: ArchSpec) -> float:
        m = least_disturbed(backend, build_model(arch, space).eval(), tuple(space.input_shape), rounds)
        return float(m[m["headline"]])

    return measure


class _DropMessage(logging.Filter):
    """Drops the log records that start with ``prefix``."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def oneshot_fitness(space: SearchSpace, data: DataSplits, cfg: ParetoConfig, run_dir: Path, costs: BlockCosts
                    ) -> Callable[[ArchSpec], float]:
    """Validation accuracy of a child inside a one-shot supernet trained on uniformly random paths for as many
    epochs as one search (warm-up + search), as Once-for-All scores candidates with its supernet."""
    import torch

    from ..search import run_search
    from ..search.run import RunDir
    from ..search.supernet import build_supernet
    from ..train.device import Runtime
    from ..train.training import evaluate

    rd = RunDir(run_dir)
    if not (run_dir / RunDir.ARCH).exists():
        # weights only, on purpose: the search's warning that α never moved (and its advice to run search epochs)
        # would tell a user of `hwnas pareto` about a search they did not ask for; its other warnings still show
        searcher_log = logging.getLogger("hwnas.search.searcher")
        drop = _DropMessage("α never moved")
        searcher_log.addFilter(drop)
        try:
            run_search(space, costs, data, _search_config(cfg, None, n_epochs=0,
                                                          warmup_epochs=cfg.warmup_epochs + cfg.search_epochs),
                       run_dir=run_dir, resume=rd.has_checkpoint, log=None)
        finally:
            searcher_log.removeFilter(drop)
    rt = Runtime.create(cfg.device, cfg.amp, cfg.channels_last, space=space)
    net = build_supernet(space, weights=cfg.supernet_weights)
    net.load_state_dict(rd.load_checkpoint()["net"])
    net = rt.place_module(net).eval()

    def fitness(arch: ArchSpec) -> float:
        with torch.no_grad():
            net.set_arch(arch)
            return evaluate(net, data.valid, 256, batch_stats=True, runtime=rt)[1]

    return fitness


class EvalCache:
    """``evals.csv``: one row per retrained and measured architecture, saved after each so a rerun resumes."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                frame = pd.read_csv(path)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise UsageError(f"{path} is not a readable evaluation file ({exc}); move it away to start over") from None
            need = ("arch", "accuracy", "measured_ms")
            if any(c not in frame for c in need) or frame["arch"].map(lambda v: not isinstance(v, str)).any():
                raise UsageError(f"{path} is not an evaluation file of hwnas pareto (columns {', '.join(need)}); move it "
                                 "away to start over")
            for col in ("accuracy", "measured_ms", "predicted_ms", "macs", "params"):
                if col in frame:
                    values = pd.to_numeric(frame[col], errors="coerce")
                    if (frame[col].notna() & values.isna()).any() or (values < 0).any() \
                            or values.isin([float("inf")]).any():
                        raise UsageError(f"{path}: column {col} holds a value that is not a non-negative number; move "
                                         "the file away to start the evaluations over")
                    frame[col] = values
            self.rows = {r["arch"]: r for r in frame.to_dict("records")}

    def get(self, arch: ArchSpec) -> dict[str, Any] | None:
        return self.rows.get(str(arch))

    def put(self, row: dict[str, Any]) -> None:
        self.rows[row["arch"]] = row
        frame = pd.DataFrame(list(self.rows.values()))
        atomic_write(self.path, lambda fh: frame.to_csv(fh, index=False))


def evaluate_arch(arch: ArchSpec, space: SearchSpace, data: DataSplits, backend: Any, costs: BlockCosts,
                  cfg: ParetoConfig, cache: EvalCache) -> dict[str, Any]:
    """Short retrain (test accuracy) and measured latency (the least disturbed of 3 rounds) of ``arch``; cached
    by architecture string."""
    from ..train.retrain import RetrainConfig, retrain

    hit = cache.get(arch)
    if hit is not None:
        return hit
    r = retrain(arch, space, data, RetrainConfig(epochs=cfg.retrain_epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                                                 device=cfg.device, amp=cfg.amp, channels_last=cfg.channels_last,
                                                 workers=cfg.workers),
                backend=backend, costs=costs, progress=False, log=None, measure_rounds=3)
    row = {"arch": str(arch), "accuracy": r.test_acc, "measured_ms": r.measured_ms, "predicted_ms": r.predicted_ms,
           "macs": space.macs(arch), "params": space.params(arch)}
    cache.put(row)
    return row


def seed_runs(archs: list[ArchSpec], space: SearchSpace, data: DataSplits, cfg: ParetoConfig, path: Path,
              first: dict[str, float]) -> pd.DataFrame:
    """Test accuracy of each of ``archs`` retrained with ``cfg.noise_seeds`` more seeds (beside ``first``, its
    accuracy with ``cfg.seed``), saved to ``path`` after each retrain so that a rerun resumes."""
    from ..train.retrain import RetrainConfig, retrain

    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["arch", "seed", "accuracy"])
    rows = done.to_dict("records")
    have = {(str(r["arch"]), int(r["seed"])) for r in rows}
    for arch in archs:
        for seed in range(cfg.seed + 1, cfg.seed + 1 + cfg.noise_seeds):
            if (str(arch), seed) in have:
                continue
            r = retrain(arch, space, data, RetrainConfig(epochs=cfg.retrain_epochs, batch_size=cfg.batch_size,
                                                         seed=seed, device=cfg.device, amp=cfg.amp,
                                                         channels_last=cfg.channels_last, workers=cfg.workers),
                        progress=False, log=None)
            rows.append({"arch": str(arch), "seed": seed, "accuracy": r.test_acc})
            frame = pd.DataFrame(rows)
            atomic_write(path, lambda fh, f=frame: f.to_csv(fh, index=False))
    rows += [{"arch": a, "seed": cfg.seed, "accuracy": acc} for a, acc in first.items()]
    return pd.DataFrame(rows)


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
    with output_lock(out, "pareto folder", folder=True):
        return _run_pareto(space, costs, backend, out, cfg, data=data, device=device, log=log, force=force)


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
    for t in tqdm(cfg.targets_ms, desc="search", unit="target", disable=not cfg.progress):
        fitted, argmax, record = run_search_at(space, costs, data, cfg, t, out / "search" / target_dir(t), log,
                                               measure=measure,
                                               measure_settings={"latency_model": stages["search"]["latency_model"],
                                                                 "backend": backend_settings(backend)})
        plan.append({"method": label, "target_ms": t, "arch": fitted, "argmax": str(argmax),
                     "argmax_predicted_ms": latency(argmax), "export_tries": len(record.get("export_check", []))})
    log("[b] baselines: random under the constraint, evolution on a one-shot supernet, hand-designed")
    fitness = oneshot_fitness(space, data, cfg, out / "oneshot", costs)
    for t in cfg.targets_ms:
        plan.append({"method": RANDOM, "target_ms": t, "arch": random_under_target(space, latency, t, rng)})
        best, score, n_eval = evolutionary_search(space, fitness, latency, t, rng, population=cfg.evo_population,
                                                  generations=cfg.evo_generations)
        plan.append({"method": EVOLUTION, "target_ms": t, "arch": best, "oneshot_acc": score, "oneshot_evals": n_eval})
    for name, arch in hand_designed(space).items():
        plan.append({"method": REFERENCE, "target_ms": math.nan, "arch": arch, "name": name})
    log(f"[c] retraining {len(plan)} architectures for {cfg.retrain_epochs} epochs and measuring them "
        f"({backend.name})")
    cache = EvalCache(out / "evals.csv")
    rows = []
    for p in tqdm(plan, desc="evaluate", unit="net", disable=not cfg.progress):
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
        atomic_write_json(out / "flatness.json", flat)
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

