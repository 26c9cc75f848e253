"""Latency as a sum of per-block terms: what search needs to differentiate expected latency.

A :class:`BlockCosts` holds, for every searchable block of a space, the latency each of its choices adds
(aligned with ``BlockPosition.choices``; ``zero`` costs 0 unless a calibration says otherwise), plus a
constant for the fixed layers. LUT-sum and the calibrated predictor both produce one; search turns the
architecture probabilities into ``E[LAT] = const + Σ_b Σ_i p_bi · cost_bi`` with :func:`expected_latency_ms`,
which stays in the autograd graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..errors import UsageError
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec

if TYPE_CHECKING:
    from ..profilers.table import LatencyTable


@dataclass(frozen=True)
class BlockCosts:
    const_ms: float
    costs: tuple[tuple[float, ...], ...]  # costs[b][i]: ms added by choice i of block b

    def arch_ms(self, arch: ArchSpec, space: SearchSpace) -> float:
        """The latency of one architecture under these costs (any space: its ``indices`` pick the costs)."""
        return self.indices_ms(space.indices(arch))

    def indices_ms(self, indices: list[int] | tuple[int, ...]) -> float:
        """The latency of the architecture that takes option ``indices[b]`` at every decision ``b``."""
        return float(self.const_ms + sum(cost[int(i)] for cost, i in zip(self.costs, indices, strict=True)))

    def min_ms(self) -> float:
        """The fastest architecture's latency (each block at its cheapest choice)."""
        return float(self.const_ms + sum(min(c) for c in self.costs))

    def max_ms(self) -> float:
        return float(self.const_ms + sum(max(c) for c in self.costs))

    def fastest_indices(self) -> list[int]:
        """The fastest architecture's option indices (each block's cheapest choice; the first on a tie)."""
        return [min(range(len(c)), key=lambda i, c=c: c[i]) for c in self.costs]

    def tensors(self, device: torch.device | str = "cpu") -> list[torch.Tensor]:
        return [torch.tensor(c, dtype=torch.float32, device=device) for c in self.costs]


def lut_block_costs(table: LatencyTable, space: SearchSpace, column: str | None = None, *,
                    allow_missing: bool = False) -> BlockCosts:
    """Per-block costs straight from a latency table: the LUT-sum model (the sum of the layers' isolated
    latencies). ``allow_missing`` gives layers the table lacks a NaN cost instead of refusing the table (a published
    table that covers only part of a space): architectures made of covered layers still get their LUT-sum."""
    if not allow_missing:
        table.check_covers(space)

    def ms(key) -> float:
        return table.latency_ms(key, column) if key in table else float("nan")

    const = sum(ms(k) for k in space.fixed_keys())
    costs = tuple(tuple(float(sum(ms(k) for k in space.choice_keys(d, o))) for o in range(len(labels)))
                  for d, labels in enumerate(space.choice_labels()))
    return BlockCosts(float(const), costs)


def expected_latency_ms(probs: Sequence[torch.Tensor], costs: BlockCosts | Sequence[torch.Tensor],
                        const_ms: float | None = None) -> torch.Tensor:
    """E[LAT] = const + Σ_b probs[b] · costs[b], differentiable with respect to ``probs``.

    ``probs[b]`` is the probability vector over the choices of block b (e.g. ``softmax(alpha_b)``).
    """
    if isinstance(costs, BlockCosts):
        const_ms = costs.const_ms if const_ms is None else const_ms
        costs = costs.tensors(probs[0].device)
    if len(probs) != len(costs):
        raise UsageError(f"{len(probs)} probability vectors for {len(costs)} blocks")
    total = probs[0].new_tensor(float(const_ms or 0.0))
    for p, c in zip(probs, costs, strict=True):
        if p.shape != c.shape:
            raise UsageError(f"probabilities of shape {tuple(p.shape)} for costs of shape {tuple(c.shape)}")
        total = total + (p * c.to(p.dtype)).sum()
    return total

