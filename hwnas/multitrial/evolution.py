"""Regularized evolution (Real et al., AmoebaNet; NNI's ``RegularizedEvolution``, ModularNAS's
``RegularizedEvolutionOptim``) as an Optuna sampler.

Optuna has no sampler of its own for it, so this small class implements :class:`optuna.samplers.BaseSampler`: the
population is the ``population`` most recent finished trials (the oldest dies as a new one finishes: ageing); a
tournament draws ``sample`` of them, and the child is the winner with one decision changed. The winner is a random
member of the tournament's Pareto front over the study's objectives; trials that break a constraint
(``Trial.set_constraint``, e.g. a latency target) lose to trials that keep it. Until the population is full, and for
parameters the parent does not have, it samples at random. This module imports optuna: import it only where a
study is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


class RegularizedEvolutionSampler(BaseSampler):
    """Regularized evolution: ``population`` (NNI: 100) and ``sample`` (NNI: 25) as in the paper; a child differs
    from its parent in one categorical parameter."""

    def __init__(self, *, population: int = 100, sample: int = 25, seed: int | None = None):
        if population < 2 or not 1 <= sample <= population:
            raise ValueError(f"regularized evolution needs population >= 2 and 1 <= sample <= population, got "
                             f"{population} and {sample}")
        self.population, self.sample = population, sample
        self._rng = np.random.RandomState(seed)
        self._random = RandomSampler(seed=seed)
        self._children: dict[int, dict[str, Any]] = {}

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def _key(self, study: optuna.Study, t: FrozenTrial) -> tuple[float, ...]:
        """Minimised: the objectives turned to minimisation, after the constraint violation."""
        violation = sum(max(0.0, float(c)) for c in t.constraints.values())
        values = [v if d == StudyDirection.MINIMIZE else -v for v, d in zip(t.values, study.directions, strict=True)]
        return (violation, *values) if violation > 0 else (0.0, *values)

    def _winner(self, study: optuna.Study, members: list[FrozenTrial]) -> FrozenTrial:
        keys = [self._key(study, t) for t in members]
        best_violation = min(k[0] for k in keys)
        cand = [(t, k[1:]) for t, k in zip(members, keys, strict=True) if k[0] == best_violation]
        front = [t for t, k in cand if not any(_dominates(o, k) for _, o in cand)]
        return front[self._rng.randint(len(front))]

    def _child(self, study: optuna.Study) -> dict[str, Any]:
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
        if len(done) < self.population:
            return {}
        alive = sorted(done, key=lambda t: t.number)[-self.population:]
        picks = self._rng.choice(len(alive), size=self.sample, replace=False)
        parent = self._winner(study, [alive[i] for i in picks])
        params = dict(parent.params)
        mutable = [k for k, d in parent.distributions.items()
                   if isinstance(d, CategoricalDistribution) and len(d.choices) > 1]
        if mutable:
            name = mutable[self._rng.randint(len(mutable))]
            choices = [c for c in parent.distributions[name].choices if c != params[name]]
            params[name] = choices[self._rng.randint(len(choices))]
        return params

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if trial.number not in self._children:
            self._children[trial.number] = self._child(study)
        child = self._children[trial.number]
        if param_name in child and isinstance(param_distribution, CategoricalDistribution) \
                and child[param_name] in param_distribution.choices:
            return child[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._children.pop(trial.number, None)
