"""``hwnas multitrial``'s library side: open (or join) the study, run trials in this process until the study has
``n_trials`` finished ones, and read its points back. Run it in as many processes and on as many machines as there
are workers: Optuna's storage is what they share."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from ..errors import UsageError, round_up
from ..predictors.block_costs import BlockCosts
from ..train.data import DataSplits, data_for_space
from ..train.retrain import RetrainConfig
from .objective import Objective
from .pruning import PRUNERS, make_pruner, pruning_summary
from .samplers import SAMPLERS, make_sampler
from .study import digest, make_storage, open_study, optuna_module

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultitrialConfig:
    n_trials: int = 20
    sampler: str = "nsga2"
    pruner: str = "median"
    target_ms: float | None = None
    epochs: int = 2                  # the short retrain of each trial
    batch_size: int = 32
    data: str = "digits-hard"
    data_limit: int | None = 600
    seed: int = 0                    # the sampler's seed; every network trains with the same seed
    population: int = 16             # NSGA-II's population, regularized evolution's population
    sample: int = 4                  # regularized evolution's tournament
    device: str = "auto"
    amp: str = "off"
    channels_last: bool | None = None  # None: on for the built-in spaces, off for model spaces (hwnas.train.device)
    workers: int | None = None       # DataLoader workers
    heartbeat_interval: int = 10     # seconds between a worker's heartbeats (RDB storage)
    grace_period: int | None = None  # a trial without a heartbeat this long is failed and retried (default 2x)
    max_retry: int = 3
    torch_threads: int | None = None  # torch's intra-op threads in this worker (None: torch's default)
    max_failures: int = 3             # this worker stops after this many of its trials failed in a row
    anchor: bool = True               # the study's first trial is the fastest network under the latency model

    def __post_init__(self) -> None:
        if self.n_trials < 1:
            raise UsageError(f"--n-trials must be at least 1, not {self.n_trials}")
        if self.sampler not in SAMPLERS:
            raise UsageError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise UsageError(f"unknown pruner {self.pruner!r}; known: {', '.join(PRUNERS)}")
        if self.target_ms is not None and not self.target_ms > 0:
            raise UsageError(f"--target-ms must be a positive number of milliseconds, not {self.target_ms}")

    def study_settings(self, costs: BlockCosts) -> dict[str, Any]:
        """What a trial's values depend on: every worker of a study must share these."""
        from ..search.run import costs_to_dict

        return {"data": self.data, "data_limit": self.data_limit, "epochs": self.epochs,
                "batch_size": self.batch_size, "seed": self.seed, "target_ms": self.target_ms,
                "latency_model": digest(costs_to_dict(costs))}


@dataclass
class StudyResult:
    points: pd.DataFrame
    pruning: dict[str, Any]
    states: dict[str, int]
    study_name: str
    ran_here: int


def default_storage(out: str | os.PathLike) -> str:
    """``sqlite:///OUT/study.db`` (the folder made): a study that lives next to its results."""

    from ..io import make_dirs

    return f"sqlite:///{make_dirs(out).resolve() / 'study.db'}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _FailureStop:
    """Stops this worker after ``limit`` of its trials in a row failed (a broken setting fails every trial: without
    this, a worker would fail trials for ever, since only finished ones count towards ``n_trials``)."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row, self.last = limit, 0, ""

    def __call__(self, study: Any, t: Any) -> None:
        if t.state.name == "FAIL":
            self.in_a_row += 1
            self.last = t.user_attrs.get("error", "")
            if self.in_a_row >= self.limit:
                study.stop()
        else:
            self.in_a_row = 0


def _progress(log: Callable[[str], None], n_trials: int) -> Callable[[Any, Any], None]:
    def callback(study: Any, t: Any) -> None:
        done = sum(s.state.name in ("COMPLETE", "PRUNED") for s in study.get_trials(deepcopy=False))
        what = {"COMPLETE": f"accuracy {t.values[0]:.3f}" if t.values else "complete",
                "PRUNED": f"pruned after {t.user_attrs.get('epochs_run', 0)} epoch(s)",
                "FAIL": f"failed: {t.user_attrs.get('error', 'see the log')}"}.get(t.state.name, t.state.name)
        log(f"trial {t.number} [{done}/{n_trials}] {t.user_attrs.get('arch', '?')}  "
            f"{t.user_attrs.get('latency_ms', float('nan')):.4g} ms  {what}  "
            f"({t.user_attrs.get('seconds', 0.0):.1f} s)")
    return callback


def run_study(space: Any, costs: BlockCosts, cfg: MultitrialConfig, *, storage: str, study_name: str,
              join: bool = False, data: DataSplits | None = None,
              log: Callable[[str], None] | None = logger.info) -> StudyResult:
    """Run trials of study ``study_name`` in ``storage`` until it has ``cfg.n_trials`` finished (complete or
    pruned) trials, counted over every worker; then return its points. ``join``: the study must exist (a worker)."""
    optuna = optuna_module()
    log = log or (lambda _m: None)
    if cfg.torch_threads:
        import torch

        torch.set_num_threads(cfg.torch_threads)  # several workers on one machine: one core each, not all each
    if cfg.target_ms is not None and cfg.target_ms < costs.min_ms():
        raise UsageError(f"target {cfg.target_ms:.4g} ms is below the fastest architecture ({round_up(costs.min_ms())} "
                         "ms under this latency model)")
    store = make_storage(storage, heartbeat_interval=cfg.heartbeat_interval, grace_period=cfg.grace_period,
                         max_retry=cfg.max_retry, must_exist=join)
    make_sampler(cfg.sampler, space=space, seed=cfg.seed, population=cfg.population, sample=cfg.sample)  # checked
    created: list[Any] = []

    def on_create(study: Any) -> None:
        created.append(study)
        if cfg.anchor and cfg.sampler != "grid":
            enqueue_fastest(study, space, costs)

    study = open_study(store, study_name, space=space, settings=cfg.study_settings(costs), join=join,
                       on_create=on_create)
    # seeded when this process created the study; a worker that joins one (or resumes it) draws its own seed, so
    # that two workers do not propose the same sequence of networks
    study.sampler = make_sampler(cfg.sampler, space=space, seed=cfg.seed if created else None,
                                 population=cfg.population, sample=cfg.sample)
    data = data if data is not None else data_for_space(cfg.data, space, seed=cfg.seed, limit=cfg.data_limit)
    objective = Objective(space, costs, data, RetrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size,
                                                            seed=cfg.seed, device=cfg.device, amp=cfg.amp,
                                                            channels_last=cfg.channels_last, workers=cfg.workers),
                          make_pruner(cfg.pruner, epochs=cfg.epochs), worker_name(), target_ms=cfg.target_ms,
                          sampler=cfg.sampler)
    others = sorted({t.user_attrs.get("sampler") for t in study.get_trials(deepcopy=False)} - {None, cfg.sampler})
    if others:
        log(f"study {study_name!r} has trials proposed by {', '.join(others)}; this worker proposes with "
            f"{cfg.sampler}: points.csv labels each trial by the sampler that proposed it")
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    before = len(study.get_trials(deepcopy=False, states=finished))
    ran = 0
    if before < cfg.n_trials:
        log(f"study {study_name!r}: {before}/{cfg.n_trials} trials finished; {cfg.sampler} sampler, {cfg.pruner} "
            f"pruning, {cfg.epochs} epoch(s) per trial on {data.name}")
        # the trials run before this one (a queued one, such as a new study's fastest network, is not yet run)
        earlier = {t.number for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING}
        failures = _FailureStop(cfg.max_failures)
        study.optimize(objective, n_trials=None, catch=(Exception,), gc_after_trial=False,
                       callbacks=[optuna.study.MaxTrialsCallback(cfg.n_trials, states=finished),
                                  _progress(log, cfg.n_trials), failures])
        if failures.in_a_row >= failures.limit:
            raise UsageError(f"{failures.in_a_row} trials in a row failed in this worker, so it stopped (the study "
                             f"keeps them); the last: {failures.last or 'see the log'}")
        ran = sum(t.user_attrs.get("worker") == objective.worker and t.number not in earlier
                  for t in study.get_trials(deepcopy=False))
        done = len(study.get_trials(deepcopy=False, states=finished))
        if cfg.sampler == "grid" and done < cfg.n_trials:
            log(f"the grid holds {done} networks, fewer than --n-trials {cfg.n_trials}: every one of them is in the "
                "study, and the search stopped there")
    else:
        log(f"study {study_name!r} already has {before} finished trials (asked for {cfg.n_trials})")
    return read_study(study, cfg, ran_here=ran)


def enqueue_fastest(study: Any, space: Any, costs: BlockCosts) -> None:
    """The fastest network of the space under the latency model, queued as the study's first trial: a sampled
    network's latency is a sum over every decision, so it lands near the middle of the range, and the samplers
    rarely reach the front's fast end on their own (docs/multitrial.md). Called only by the process that created
    the study (``open_study``'s ``on_create``)."""
    idx = costs.fastest_indices()
    params = {name: list(labels)[i] for name, labels, i in zip(space.decision_names(), space.choice_labels(), idx,
                                                                strict=True)}
    study.enqueue_trial(params, user_attrs={"anchor": "fastest"})


def read_study(study: Any, cfg: MultitrialConfig, *, ran_here: int = 0) -> StudyResult:
    """The study's complete trials as points (as ``hwnas pareto`` writes them: method, target, architecture,
    accuracy, predicted latency), its pruning savings and trial states."""
    trials = study.get_trials(deepcopy=False)
    rows = []
    for t in trials:
        if t.state.name != "COMPLETE" or not t.values:
            continue
        a = t.user_attrs
        rows.append({"method": f"multi-trial ({a.get('sampler', cfg.sampler)})", "target_ms": cfg.target_ms, "arch": a.get("arch"),
                     "accuracy": float(t.values[0]), "predicted_ms": float(t.values[1]),
                     "trial": t.number, "epochs": a.get("epochs_run"), "seconds": a.get("seconds"),
                     "worker": a.get("worker"), "retry_of": t.system_attrs.get("failed_trial")})
    points = pd.DataFrame(rows, columns=["method", "target_ms", "arch", "accuracy", "predicted_ms", "trial",
                                         "epochs", "seconds", "worker", "retry_of"])
    points["retry_of"] = points["retry_of"].astype("Int64")  # a trial number (or empty), not 2.0
    if cfg.target_ms is not None:
        points["meets_target"] = points["predicted_ms"] <= cfg.target_ms
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return StudyResult(points, pruning_summary(trials, cfg.epochs), states, study.study_name, ran_here)


def config_dict(cfg: MultitrialConfig) -> dict[str, Any]:
    return asdict(cfg)
