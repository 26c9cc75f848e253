"""Baselines a searched architecture is compared with at the same evaluation budget: random architectures under
the latency constraint, a Once-for-All style evolutionary search on a one-shot supernet, and hand-designed
networks expressible in the space."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import UsageError
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec, BlockSpec

LatencyFn = Callable[[ArchSpec], float]


def hand_designed(space: SearchSpace) -> dict[str, ArchSpec]:
    """MobileNetV2-like (every block k3e6) and the smallest network (the cheapest candidate, zero where allowed);
    for a model space, the network as written (first candidates and inputs)."""
    if getattr(space, "kind", None) == "model":
        return {"as written (first choices)": space.first()}
    out: dict[str, ArchSpec] = {}
    k3e6 = BlockSpec.parse("k3e6")
    if k3e6 in space.candidates:
        out["mobilenetv2-like (all k3e6)"] = space.uniform(k3e6)
    smallest = min(space.candidates, key=lambda c: (c.expand, c.kernel))
    blocks = [BlockSpec.zero() if BlockSpec.zero() in p.choices else smallest for p in space.positions()]
    out[f"smallest (all {smallest.token}, zero where allowed)"] = space.validate(
        ArchSpec.from_blocks(blocks, space.depths))
    return out


def random_under_target(space: SearchSpace, latency_fn: LatencyFn, target_ms: float, rng: np.random.Generator, *,
                        tries: int = 20000) -> ArchSpec:
    """A random architecture whose predicted latency is at most ``target_ms``: a uniform sample, then (if it is
    too slow) random single-block changes, each kept only if it lowers the latency, until it fits. Tight targets
    that uniform sampling almost never meets are reached this way too."""
    labels = space.choice_labels()
    arch = space.sample(rng)
    lat = latency_fn(arch)
    for _ in range(tries):
        if lat <= target_ms:
            return arch
        b = int(rng.integers(len(labels)))
        idx = space.indices(arch)
        idx[b] = int(rng.integers(len(labels[b])))
        cand = space.from_indices(idx)
        cand_lat = latency_fn(cand)
        if cand_lat < lat:
            arch, lat = cand, cand_lat
    raise UsageError(f"no random architecture within {target_ms:.4g} ms after {tries} changes; the fastest "
                     f"architecture may be slower than the target")


def largest_under_target(space: SearchSpace, costs: Any, target_ms: float, *, bins: int = 4000) -> ArchSpec:
    """The architecture of most MACs (of those, the slowest) whose latency under ``costs`` (per-choice
    :class:`BlockCosts`) is at most ``target_ms``: what a search must beat to have found more than "the largest
    network that fits" (on ``examples/chain_space.py`` it was level with or above every one-shot search of hwnas
    with its defaults).

    Found by dynamic programming over the choices (a multiple-choice knapsack), with each choice's latency rounded
    up to ``bins`` steps of the target, so what it returns always fits (and is the optimum but for that rounding).
    It assumes MACs add up over the choices, as they do in the built-in spaces and in model spaces whose choices
    do not change each other's shapes."""
    labels = space.choice_labels()
    base = [0] * len(labels)
    m0 = space.macs(space.from_indices(base))
    # among networks of equal MACs, the slowest (the one closest under the target): each choice's latency, scaled
    # so that all of them together weigh less than one MAC
    w = 0.5 / max(sum(max(max(c), 0.0) for c in costs.costs), 1e-12)
    gain = [[space.macs(space.from_indices(base[:d] + [o] + base[d + 1:])) - m0 + w * costs.costs[d][o]
             for o in range(len(opts))] for d, opts in enumerate(labels)]
    room = target_ms - costs.const_ms
    if target_ms < costs.min_ms() * (1 - 1e-12):
        raise UsageError(f"no architecture within {target_ms:.4g} ms: the fastest takes {costs.min_ms():.4g} ms")
    if room <= 0:  # only the constant part fits: every choice costs nothing at its cheapest
        return space.from_indices(costs.fastest_indices())
    step = room / bins
    best = np.full(bins + 1, -np.inf)
    best[0] = 0.0
    picks = []
    for d, opts in enumerate(costs.costs):
        new = np.full(bins + 1, -np.inf)
        pick = np.full(bins + 1, -1)
        for o, ms in enumerate(opts):
            k = int(math.ceil(max(ms, 0.0) / step - 1e-9))
            if k > bins:
                continue
            cand = np.full(bins + 1, -np.inf)
            cand[k:] = best[:bins + 1 - k] + gain[d][o]
            better = cand > new
            new[better], pick[better] = cand[better], o
        best = new
        picks.append(pick)
    if not np.isfinite(best).any():  # every choice's rounding up overfilled the target: only a tight fit exists
        return space.from_indices(costs.fastest_indices())
    c = int(np.argmax(best))
    idx = [0] * len(labels)
    for d in range(len(labels) - 1, -1, -1):
        o = int(picks[d][c])
        idx[d] = o
        c -= int(math.ceil(max(costs.costs[d][o], 0.0) / step - 1e-9))
    return space.from_indices(idx)


def _mutate(space: SearchSpace, arch: ArchSpec, rng: np.random.Generator, prob: float) -> ArchSpec:
    idx = [int(rng.integers(len(labels))) if rng.random() < prob else i
           for labels, i in zip(space.choice_labels(), space.indices(arch), strict=True)]
    return space.from_indices(idx)


def _crossover(space: SearchSpace, a: ArchSpec, b: ArchSpec, rng: np.random.Generator) -> ArchSpec:
    idx = [x if rng.random() < 0.5 else y for x, y in zip(space.indices(a), space.indices(b), strict=True)]
    return space.from_indices(idx)


def evolutionary_search(space: SearchSpace, fitness: Callable[[ArchSpec], float], latency_fn: LatencyFn,
                        target_ms: float, rng: np.random.Generator, *, population: int = 16, generations: int = 5,
                        parents: float = 0.25, mutate_prob: float = 0.1, mutation_share: float = 0.5
                        ) -> tuple[ArchSpec, float, int]:
    """Once-for-All's evolution under a latency constraint: keep the best ``parents`` share, refill half by
    mutation and half by crossover, only with children the latency model puts within ``target_ms``.

    Returns (best architecture, its fitness, number of fitness evaluations)."""
    cache: dict[str, float] = {}

    def score(arch: ArchSpec) -> float:
        key = str(arch)
        if key not in cache:
            cache[key] = float(fitness(arch))
        return cache[key]

    def feasible(make: Callable[[], ArchSpec]) -> ArchSpec:
        for _ in range(500):
            arch = make()
            if latency_fn(arch) <= target_ms:
                return arch
        return random_under_target(space, latency_fn, target_ms, rng)

    pop = [random_under_target(space, latency_fn, target_ms, rng) for _ in range(population)]
    n_par = max(2, int(round(parents * population)))
    for _ in range(generations):
        pop = sorted(pop, key=score, reverse=True)
        par = pop[:n_par]
        n_mut = int(round((population - n_par) * mutation_share))
        pop = par + _children(space, par, n_mut, population - n_par - n_mut, feasible, rng, mutate_prob)
    best = max(pop, key=score)
    return best, score(best), len(cache)


def _children(space: SearchSpace, par: list[ArchSpec], n_mut: int, n_cross: int,
              feasible: Callable[[Callable[[], ArchSpec]], ArchSpec], rng: np.random.Generator, mutate_prob: float
              ) -> list[ArchSpec]:
    def pick() -> ArchSpec:
        return par[int(rng.integers(len(par)))]

    kids = [feasible(lambda: _mutate(space, pick(), rng, mutate_prob)) for _ in range(n_mut)]
    return kids + [feasible(lambda: _crossover(space, pick(), pick(), rng)) for _ in range(n_cross)]
