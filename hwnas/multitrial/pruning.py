"""Pruning hopeless trials with Optuna's pruners (median, successive halving), and what it saved.

Optuna's ``Trial.report`` / ``should_prune`` refuse multi-objective studies, and an accuracy–latency search is one.
A trial's latency is known before it trains (the latency model prices the architecture), so only its accuracy is
uncertain: each epoch's training accuracy is stored as the trial's intermediate value and the pruner compares it
with the trials that are **at least as fast** (the only ones that can dominate it). A slow network that, at the same
epoch, is less accurate than the median of the faster ones is likely dominated and stops there; a fast network is
never pruned for being less accurate than slower ones.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UsageError
from .study import optuna_module

PRUNERS = ("median", "halving", "none")


def make_pruner(name: str, *, epochs: int) -> Any:
    optuna = optuna_module()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3)  # steps are epochs, from 1: any epoch may prune
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UsageError(f"unknown pruner {name!r}; known: {', '.join(PRUNERS)}")


class _AtLeastAsFast:
    """The study as the pruner sees it: one objective (accuracy, maximised), and only the trials at most
    ``latency_ms`` slow."""

    def __init__(self, study: Any, latency_ms: float):
        from optuna.study import StudyDirection

        self._study, self._latency = study, latency_ms
        self.direction = StudyDirection.MAXIMIZE
        self._storage = study._storage  # successive halving records its rungs there

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states)
                if t.user_attrs.get("latency_ms", math.inf) <= self._latency]


class EpochPruning:
    """``retrain``'s ``on_epoch`` hook for one trial: stores the epoch's training accuracy as the intermediate
    value and raises :class:`optuna.TrialPruned` when the pruner says the trial is hopeless."""

    def __init__(self, trial: Any, pruner: Any, latency_ms: float, epochs: int | None = None):
        self.trial, self.pruner, self.latency_ms, self.epochs = trial, pruner, latency_ms, epochs
        self.epochs_run = 0

    def __call__(self, row: dict[str, float]) -> None:
        optuna = optuna_module()
        study = self.trial.study
        step = int(row["epoch"])
        self.epochs_run = step
        self.trial.set_user_attr("epochs_run", step)
        # what Trial.report does, without its single-objective check (see the module's doc)
        study._storage.set_trial_intermediate_value(self.trial._trial_id, step, float(row["train_acc"]))
        if self.epochs is not None and step >= self.epochs:
            return  # trained to the end: pruning it now would save nothing and drop a finished network
        frozen = study._storage.get_trial(self.trial._trial_id)
        if self.pruner.prune(_AtLeastAsFast(study, self.latency_ms), frozen):
            raise optuna.TrialPruned(f"pruned after epoch {step}: training accuracy {row['train_acc']:.3f} is below "
                                     "the trials at least as fast")


def pruning_summary(trials: list[Any], epochs: int) -> dict[str, Any]:
    """Trials pruned, epochs trained and epochs saved (a pruned trial saves the epochs it did not run)."""
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    pruned = [t for t in finished if t.state.name == "PRUNED"]
    run = sum(int(t.user_attrs.get("epochs_run", epochs if t.state.name == "COMPLETE" else 0)) for t in finished)
    saved = sum(max(0, epochs - int(t.user_attrs.get("epochs_run", 0))) for t in pruned)
    budget = epochs * len(finished)
    return {"finished": len(finished), "pruned": len(pruned), "epochs_run": run, "epochs_saved": saved,
            "share_saved": saved / budget if budget else 0.0}
