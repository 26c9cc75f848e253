"""From searched probabilities to one architecture that meets the latency target.

ProxylessNAS exports argmax α per block. When α has not converged (short searches) the argmax network's latency can
sit well above the expected latency the search steered to the target. :func:`fit_to_target` starts from the argmax and,
while the latency model puts it over the target, makes the single-block change that saves the most milliseconds per
unit of log-probability given up, so the result is the most likely architecture the search found that fits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import UsageError
from ..predictors.block_costs import BlockCosts
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec

# how far under the target an exported network may stay before the export spends the rest of the budget. 2.5%:
# with 5%, 3 of 27 searched networks of benchmarks/search_quality.py measured 5.0-5.7% under their target; with
# 2.5%, all 27 within -2.7%..+2.5% at the same accuracy (the benchmark's notes)
FILL_BAND = 0.025
MAX_FILL_STEPS = 10_000


def fit_to_target(probs: Sequence[Sequence[float]], costs: BlockCosts, space: SearchSpace, target_ms: float, *,
                  fill: float | None = None) -> ArchSpec:
    """The argmax architecture, cheapened block by block (most ms saved per log-probability lost) until the
    latency model predicts at most ``target_ms``. With ``fill`` (e.g. 0.05), an architecture more than that share
    under the target then takes the most probable single-block changes that still fit (where none does, the most
    probable change of two blocks that does), until it is within ``fill`` of the target or nothing more fits: the
    latency budget is spent rather than left unused.
    Raises ValueError if even the fastest architecture is over the target."""
    if costs.min_ms() > target_ms:
        raise UsageError(f"target {target_ms:.4g} ms is below the fastest architecture ({costs.min_ms():.4g} ms)")
    logp = [np.log(np.clip(np.asarray(p, dtype=float), 1e-12, None)) for p in probs]
    lat = [np.asarray(c, dtype=float) for c in costs.costs]
    idx = [int(np.argmax(lp)) for lp in logp]
    total = costs.const_ms + sum(lat[b][i] for b, i in enumerate(idx))
    while total > target_ms + 1e-12:
        best, best_score = None, -np.inf
        for b, i in enumerate(idx):
            for j in range(len(lat[b])):
                saved = lat[b][i] - lat[b][j]
                if saved <= 0:
                    continue
                score = saved / (logp[b][i] - logp[b][j] + 1e-6)  # ms saved per nat of probability given up
                if score > best_score:
                    best, best_score = (b, j), score
        if best is None:  # cannot happen when min_ms() <= target
            break
        b, j = best
        total -= lat[b][idx[b]] - lat[b][j]
        idx[b] = j
    steps = 0
    # each fill step adds latency, so this ends; the cap only guards against a pathological table
    while fill is not None and total < target_ms * (1 - fill) and steps < MAX_FILL_STEPS:
        steps += 1
        move = _most_probable_fill(idx, lat, logp, total, target_ms)
        if move is None:
            break
        for b, j in move:
            total += lat[b][j] - lat[b][idx[b]]
            idx[b] = j
    return space.from_indices(idx)


def _most_probable_fill(idx: list[int], lat: list[np.ndarray], logp: list[np.ndarray], total: float,
                        target_ms: float) -> list[tuple[int, int]] | None:
    """The most probable change that adds latency and keeps ``total`` within ``target_ms``: a single-block change
    where one fits; where none does (on a coarse space every step up may be larger than the gap left), a change of
    two blocks that adds less (one up, the other up or down); None where neither fits."""
    moves = [(b, j, lat[b][j] - lat[b][i], logp[b][j] - logp[b][i])
             for b, i in enumerate(idx) for j in range(len(lat[b])) if j != i]
    moves = [m for m in moves if math.isfinite(m[2]) and math.isfinite(m[3])]  # a missing cost, a NaN probability
    singles = [(m[3], [(m[0], m[1])]) for m in moves if m[2] > 0 and total + m[2] <= target_ms]
    if singles:
        return max(singles, key=lambda s: s[0])[1]
    blocks = np.array([m[0] for m in moves])
    added = np.array([m[2] for m in moves])
    gain = np.array([m[3] for m in moves])
    best, best_gain = None, -np.inf
    for a in range(len(moves)):  # a row at a time: memory in the number of moves, not its square
        net = added[a] + added
        fits = (blocks > blocks[a]) & (net > 0) & (total + net <= target_ms)
        if fits.any():
            g = np.where(fits, gain[a] + gain, -np.inf)
            b = int(np.argmax(g))
            if g[b] > best_gain:
                best, best_gain = (a, b), g[b]
    if best is None:
        return None
    a, b = best
    return [(moves[a][0], moves[a][1]), (moves[b][0], moves[b][1])]


def fit_measured(probs: Sequence[Sequence[float]], costs: BlockCosts, space: SearchSpace, target_ms: float,
                 measure: Callable[[ArchSpec], float], *, fill: float | None = FILL_BAND, tolerance: float = 0.05,
                 tries: int = 3) -> tuple[ArchSpec, list[dict[str, float | str]]]:
    """:func:`fit_to_target`, checked on the device: the fitted network is measured, and while it is more than
    ``tolerance`` off ``target_ms`` it is refitted to the goal ``target_ms`` × predicted ÷ measured of the last
    network (the latency model's error on the networks this search prefers, often unlike the random ones the model
    was fitted on, is taken out; a gap the fill could not close is left as it is). At most ``tries`` measurements.
    Returns the network kept (within ``tolerance`` and closest to the target; else the closest under it; else the
    closest) and every try (``arch``, ``goal_ms``, ``predicted_ms``, ``measured_ms``)."""
    goal, history = target_ms, []
    for _ in range(max(1, tries)):
        arch = fit_to_target(probs, costs, space, goal, fill=fill)
        if any(h["arch"] == str(arch) for h in history):  # the refit changed nothing: measuring again tells nothing
            break
        predicted, measured = costs.arch_ms(arch, space), float(measure(arch))
        if not (math.isfinite(measured) and measured > 0):
            raise UsageError(f"the backend measured {measured} ms for {arch}: not a latency")
        history.append({"arch": str(arch), "goal_ms": goal, "predicted_ms": predicted, "measured_ms": measured})
        if abs(measured / target_ms - 1) <= tolerance:
            break
        goal = max(costs.min_ms(), target_ms * predicted / measured)

    def rank(h: dict[str, Any]) -> tuple[int, float]:
        off = h["measured_ms"] / target_ms - 1
        return (0 if abs(off) <= tolerance else 1 if off <= 0 else 2), abs(off)

    best = min(history, key=rank)
    return space.parse(str(best["arch"])), history
