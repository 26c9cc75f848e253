"""Derivative-free optimizers (ModularNAS ``EvolutionOptim``, ``RegularizedEvolutionOptim``, ``RandomSearchOptim``,
``GridSearchOptim``): they propose architectures as option indices (:meth:`ask`) and learn from the scores an
estimator gives them (:meth:`tell`). Every proposal meets the latency constraint the estimator binds
(:meth:`DerivativeFree.bind_space`): proposals the latency model puts over the target are drawn again, as
Once-for-All does. Each owns a NumPy generator seeded from the search's seed; its whole state is plain data, so a
killed search resumes where it stopped.

- ``evolution`` (Once-for-All's, with SPOS's population of 50; Once-for-All's is 100): a population of
  ``population``; each generation keeps the best ``parents`` share, refills half by mutation (each decision redrawn
  with probability ``mutate_prob``) and half by crossover. On a trained supernet the first generation is most of a
  search's new scores: 50 found networks as good as 100 at half the cost (``benchmarks/search_quality_model.py``).
- ``regularized-evolution`` (aging evolution, Real et al. 2019; NNI 3.0's default: population 100, sample 25): each
  child mutates one decision of the best of ``sample`` random members; the oldest member leaves.
- ``random``: uniform proposals. ``grid``: every architecture in order (feasible ones only).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import UsageError
from .base import OPTIMIZERS, ArchOptimizer

Feasible = Callable[[list[int]], bool]


class DerivativeFree(ArchOptimizer):
    fits = "single_path"
    derivative_free = True

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.rng = np.random.default_rng(int(self.config.seed) + 29)
        self.sizes: list[int] = []
        self.feasible: Feasible = lambda idx: True
        self.repair: Callable[[np.random.Generator], list[int]] | None = None
        self.scores: dict[tuple[int, ...], float] = {}

    def bind_space(self, sizes: list[int], feasible: Feasible | None = None,
                   repair: Callable[[np.random.Generator], list[int]] | None = None) -> None:
        """The number of options per decision, the constraint, and a way to make a random feasible architecture
        when drawing fails (a tight target: random changes that lower the latency, until it fits)."""
        self.sizes = list(sizes)
        self.feasible = feasible or (lambda idx: True)
        self.repair = repair

    def random(self) -> list[int]:
        # one call for every decision: the same draws as one call per decision, a tenth of the time (a tight
        # latency band rejects most random proposals: thousands are drawn per generation)
        return self.rng.integers(0, self.sizes).tolist() if self.sizes else []

    def feasible_from(self, make: Callable[[], list[int]], tries: int = 200) -> list[int]:
        for _ in range(tries):
            idx = make()
            if self.feasible(idx):
                return idx
        if self.repair is None:
            raise UsageError(f"{self.name}: no architecture met the latency constraint in {tries} draws")
        return self.repair(self.rng)

    def mutate(self, idx: list[int], prob: float) -> list[int]:
        return [int(self.rng.integers(n)) if self.rng.random() < prob else i for i, n in zip(idx, self.sizes,
                                                                                             strict=True)]

    def tell(self, indices: list[int], score: float) -> None:
        self.scores[tuple(int(i) for i in indices)] = float(score)

    def best(self) -> tuple[list[int], float] | None:
        if not self.scores:
            return None
        key = max(self.scores, key=lambda k: self.scores[k])
        return list(key), self.scores[key]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "scores": [[list(k), v] for k, v in self.scores.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("rng"):
            self.rng.bit_generator.state = state["rng"]
        self.scores = {tuple(k): float(v) for k, v in state.get("scores", [])}


@OPTIMIZERS.register("random", "RandomSearchOptim")
class RandomSearch(DerivativeFree):
    def ask(self, n: int) -> list[list[int]]:
        return [self.feasible_from(self.random) for _ in range(n)]


@OPTIMIZERS.register("grid", "GridSearchOptim")
class GridSearch(DerivativeFree):
    def __init__(self, **context: Any):
        super().__init__(**context)
        self.position = 0

    def ask(self, n: int) -> list[list[int]]:
        out: list[list[int]] = []
        grid = itertools.islice(itertools.product(*(range(s) for s in self.sizes)), self.position, None)
        for idx in grid:
            self.position += 1
            if self.feasible(list(idx)):
                out.append(list(idx))
                if len(out) == n:
                    break
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.position = int(state.get("position", 0))


@OPTIMIZERS.register("evolution", "EvolutionOptim")
class Evolution(DerivativeFree):
    def __init__(self, *, population: int = 50, parents: float = 0.25, mutate_prob: float = 0.1,
                 mutation_share: float = 0.5, **context: Any):
        super().__init__(**context)
        if population < 2 or not 0 < parents < 1 or not 0 <= mutate_prob <= 1 or not 0 <= mutation_share <= 1:
            raise UsageError("evolution needs population >= 2, 0 < parents < 1, 0 <= mutate_prob <= 1 and "
                             "0 <= mutation_share <= 1")
        self.population, self.parents = int(population), float(parents)
        self.mutate_prob, self.mutation_share = float(mutate_prob), float(mutation_share)
        self.members: list[list[int]] = []   # the current generation, in the order it was asked for

    def ask(self, n: int) -> list[list[int]]:
        """The next generation (``n`` is ignored: a generation is ``population`` architectures)."""
        if not self.members:
            self.members = [self.feasible_from(self.random) for _ in range(self.population)]
            return [list(m) for m in self.members]
        ranked = sorted(self.members, key=lambda m: self.scores.get(tuple(m), float("-inf")), reverse=True)
        par = ranked[:max(2, int(round(self.parents * self.population)))]
        n_mut = int(round((self.population - len(par)) * self.mutation_share))
        n_cross = self.population - len(par) - n_mut

        def pick() -> list[int]:
            return par[int(self.rng.integers(len(par)))]

        def cross() -> list[int]:
            a, b = pick(), pick()
            return [x if self.rng.random() < 0.5 else y for x, y in zip(a, b, strict=True)]

        kids = [self.feasible_from(lambda: self.mutate(pick(), self.mutate_prob)) for _ in range(n_mut)]
        kids += [self.feasible_from(cross) for _ in range(n_cross)]
        self.members = [list(m) for m in par] + kids
        return [list(k) for k in self.members]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "members": self.members}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.members = [list(m) for m in state.get("members", [])]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "population": self.population, "parents": self.parents,
                "mutate_prob": self.mutate_prob, "mutation_share": self.mutation_share}


@OPTIMIZERS.register("regularized-evolution", "RegularizedEvolutionOptim")
class RegularizedEvolution(DerivativeFree):
    def __init__(self, *, population: int = 100, sample: int = 25, **context: Any):
        super().__init__(**context)
        if population < 2 or not 1 <= sample <= population:
            raise UsageError("regularized-evolution needs population >= 2 and 1 <= sample <= population")
        self.population, self.sample = int(population), int(sample)
        self.queue: list[list[int]] = []   # the population, oldest first

    def ask(self, n: int) -> list[list[int]]:
        if len(self.queue) < self.population:
            return [self.feasible_from(self.random) for _ in range(min(n, self.population - len(self.queue)))]
        out = []
        for _ in range(n):
            pool = [self.queue[int(i)] for i in self.rng.choice(len(self.queue), self.sample, replace=False)]
            parent = max(pool, key=lambda m: self.scores.get(tuple(m), float("-inf")))

            def child(parent: list[int] = parent) -> list[int]:
                kid = list(parent)
                d = int(self.rng.integers(len(kid)))
                kid[d] = int(self.rng.integers(self.sizes[d]))
                return kid

            out.append(self.feasible_from(child))
        return out

    def tell(self, indices: list[int], score: float) -> None:
        super().tell(indices, score)
        self.queue.append([int(i) for i in indices])
        if len(self.queue) > self.population:
            self.queue.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "queue": self.queue}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.queue = [list(m) for m in state.get("queue", [])]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "population": self.population, "sample": self.sample}
