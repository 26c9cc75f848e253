"""One trial of ``hwnas multitrial``: the sampled network's latency from the latency model, then a short retrain
(:func:`hwnas.train.retrain.retrain`, the path every search's networks are retrained with) for its test accuracy,
pruned when hopeless."""

from __future__ import annotations

import time
from typing import Any

from ..predictors.block_costs import BlockCosts
from ..train.data import DataSplits
from ..train.retrain import RetrainConfig, retrain
from .pruning import EpochPruning
from .samplers import set_latency_constraint, suggest_architecture


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Objective:
    """``objective(trial) -> (accuracy, latency_ms)``. Each trial's user attributes keep its architecture, predicted
    latency, accuracy, epochs run, seconds, the worker that ran it, and the error of a trial that raised."""

    def __init__(self, space: Any, costs: BlockCosts, data: DataSplits, retrain_config: RetrainConfig,
                 pruner: Any, worker: str = "", *, target_ms: float | None = None, sampler: str = ""):
        self.space, self.costs, self.data, self.config, self.pruner = space, costs, data, retrain_config, pruner
        self.worker, self.target_ms, self.sampler = worker, target_ms, sampler

    def __call__(self, trial: Any) -> tuple[float, float]:
        started = time.perf_counter()
        arch = suggest_architecture(trial, self.space)
        latency = float(self.costs.arch_ms(arch, self.space))
        trial.set_user_attr("arch", str(arch))
        trial.set_user_attr("latency_ms", latency)
        trial.set_user_attr("worker", self.worker)
        if self.sampler:  # workers of one study may propose with different samplers: each trial says whose it is
            trial.set_user_attr("sampler", self.sampler)
        set_latency_constraint(trial, latency, self.target_ms)
        hook = EpochPruning(trial, self.pruner, latency, epochs=self.config.epochs)
        try:
            r = retrain(arch, self.space, self.data, self.config, progress=False, log=None, on_epoch=hook)
        except BaseException as exc:
            trial.set_user_attr("seconds", time.perf_counter() - started)
            if type(exc).__name__ != "TrialPruned":
                trial.set_user_attr("error", one_line(exc))
            raise
        trial.set_user_attr("accuracy", float(r.test_acc))
        trial.set_user_attr("epochs_run", int(r.epochs))
        trial.set_user_attr("seconds", time.perf_counter() - started)
        return float(r.test_acc), latency
