"""Architecture features for predictors, computed from a space and its per-block table costs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .block_costs import BlockCosts


def as_archs(X: Iterable, space: SearchSpace) -> list[ArchSpec]:
    """Accept arch strings, architecture objects (:class:`ArchSpec`, ``ModelArch``) or a 1-column array of either."""
    out = []
    for x in np.asarray(X, dtype=object).reshape(-1):
        out.append(space.parse(x) if isinstance(x, str) else space.validate(x))
    return out


@dataclass(frozen=True)
class BlockMatrix:
    """Per-network, per-decision view: ``lat[n, b]`` table latency of the chosen option, ``active[n, b]`` (the
    option runs something), ``cand[n, b]`` the option's kind in ``space.kinds()`` (-1: none, e.g. ``zero``),
    ``stage[b]`` the decision's calibration group (a stage of an MBConv space)."""

    lat: np.ndarray
    active: np.ndarray
    cand: np.ndarray
    stage: np.ndarray  # stage of each block
    const_ms: float

    @property
    def lut_ms(self) -> np.ndarray:
        return self.const_ms + self.lat.sum(axis=1)


def block_matrix(archs: Sequence[ArchSpec], space: SearchSpace, costs: BlockCosts) -> BlockMatrix:
    n, b = len(archs), space.num_decisions
    lat, active, cand = np.zeros((n, b)), np.zeros((n, b)), np.full((n, b), -1, dtype=int)
    for i, arch in enumerate(archs):
        for j, o in enumerate(space.indices(arch)):
            lat[i, j] = costs.costs[j][o]
            if space.choice_active(j, o):
                active[i, j] = 1.0
            cand[i, j] = space.choice_kind(j, o)
    return BlockMatrix(lat, active, cand, np.array(space.decision_groups()), costs.const_ms)


def n_groups(space: SearchSpace) -> int:
    return max(space.decision_groups()) + 1


def linear_features(m: BlockMatrix, n_stages: int, n_cands: int) -> np.ndarray:
    """Features that are sums of per-block terms: per-stage LUT sums, per-stage active counts and
    per-candidate LUT sums. A linear model on them is still a per-block cost model."""
    cols = []
    for s in range(n_stages):
        cols.append(m.lat[:, m.stage == s].sum(axis=1))
    for s in range(n_stages):
        cols.append(m.active[:, m.stage == s].sum(axis=1))
    for c in range(n_cands):
        cols.append(np.where(m.cand == c, m.lat, 0.0).sum(axis=1))
    return np.stack(cols, axis=1)


def rich_features(archs: Sequence[ArchSpec], space: SearchSpace, m: BlockMatrix) -> np.ndarray:
    """Linear features plus whole-network quantities (MACs, params, memory traffic, depth, LUT total)."""
    n_st, n_c = n_groups(space), len(space.kinds())
    lin = linear_features(m, n_st, n_c)
    extra = []
    for a in archs:
        keys = space.arch_keys(a)
        extra.append([sum(k.macs() for k in keys) / 1e6, sum(k.params() for k in keys) / 1e6,
                      sum(k.activation_elems() for k in keys) / 1e6])
    lut = m.lut_ms[:, None]
    counts = np.stack([(m.cand == c).sum(axis=1) for c in range(n_c)], axis=1)
    return np.hstack([lin, np.asarray(extra), lut, np.log(lut), m.active.sum(axis=1, keepdims=True), counts])
