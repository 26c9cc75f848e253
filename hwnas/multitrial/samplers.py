"""The samplers a multi-trial search can use, all Optuna's interface: NSGA-II (default, multi-objective), TPE,
random, grid (Optuna's own), and regularized evolution (:mod:`hwnas.multitrial.evolution`). A latency target is a
hard constraint: ``latency_ms - target <= 0``, set on each trial with ``Trial.set_constraint`` (Optuna 5's
successor of the samplers' ``constraints_func``, which it deprecates), which NSGA-II, TPE and regularized evolution
steer by; random and grid sample blindly, and the front keeps only networks under the target."""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..errors import UsageError
from .study import optuna_module

SAMPLERS = ("nsga2", "tpe", "random", "grid", "regularized-evolution")


def set_latency_constraint(trial: Any, latency_ms: float, target_ms: float | None) -> None:
    """The hard latency target as the trial's constraint (feasible when ``latency_ms <= target_ms``); it is set
    before the trial trains, since the latency model prices the architecture up front."""
    if target_ms is not None:
        trial.set_constraint("latency_ms", float(latency_ms) - float(target_ms))


def grid_size(space: Any) -> int:
    return math.prod(len(labels) for labels in space.choice_labels())


def make_sampler(name: str, *, space: Any, seed: int | None = 0, population: int = 16, sample: int = 4) -> Any:
    """The sampler ``name`` (one of :data:`SAMPLERS`) for ``space``'s decisions. ``population``: NSGA-II's
    population, TPE's random start-up trials (at most Optuna's 10) and regularized evolution's population;
    ``sample``: regularized evolution's tournament size."""
    optuna = optuna_module()
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=max(2, population), seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate is marked experimental by Optuna
            warnings.simplefilter("ignore")
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=min(10, population))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        n = grid_size(space)
        if n > 1_000_000:
            raise UsageError(f"--sampler grid: the space has {n:.3g} architectures, too many to enumerate; use "
                             "nsga2, tpe, random or regularized-evolution")
        return optuna.samplers.GridSampler({d: list(labels) for d, labels in
                                            zip(space.decision_names(), space.choice_labels(), strict=True)}, seed=seed)
    if name == "regularized-evolution":
        from .evolution import RegularizedEvolutionSampler

        try:
            return RegularizedEvolutionSampler(population=population, sample=min(sample, population), seed=seed)
        except ValueError as exc:
            raise UsageError(f"--sampler regularized-evolution: {exc}") from None
    raise UsageError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


def suggest_architecture(trial: Any, space: Any) -> Any:
    """The architecture of ``space`` that ``trial``'s sampler proposes: one categorical parameter per decision,
    named as the space names it (``block3``; a model's choice key), valued by the option's label."""
    idx = []
    for name, labels in zip(space.decision_names(), space.choice_labels(), strict=True):
        label = trial.suggest_categorical(name, list(labels))
        idx.append(list(labels).index(label))
    return space.from_indices(idx)
