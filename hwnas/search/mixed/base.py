"""What a mixed op is: how one decision of the supernet runs its candidates (ModularNAS's ``mixed_op``).

Every decision (:class:`hwnas.search.supernet.ArchDecision`) holds α, the active option and a *mode*. In mode
``None`` it runs the active option alone (a plain child network: weight steps of single-path methods, evaluation);
in any other mode it asks its mixed op, which defines those modes. A mixed op also says how the supernet's paths are
drawn for a weight step and for a gradient step on α, and what happens to α's gradient after ``backward`` and after
the optimiser's step. It holds no tensors of its own: its state lives on the decisions, so checkpoints stay
the supernet's.

A new mixed op is one file: subclass :class:`MixedOp`, register it (``@MIXED_OPS.register("MyOp")``), and import
the file in :mod:`hwnas.search.mixed` (``docs/write-your-own.md``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..registry import Registry


class MixedOp:
    """The interface. ``gradient``: α learns from the loss's gradient through this op (gradient optimizers fit it);
    ``single_path``: weight steps run one candidate, so a sampled path can be scored alone (REINFORCE, ENAS and
    the derivative-free optimizers fit it). ``modes``: the decision modes it defines besides the single path."""

    name: ClassVar[str]
    gradient: ClassVar[bool] = False
    single_path: ClassVar[bool] = True
    modes: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.progress = 0.0

    # ---- what a step runs ---------------------------------------------------------------------------------------
    def weight_path(self, net: Any, generator: torch.Generator, *, uniform: bool = False) -> None:
        """Set every decision for a weight step: a single path drawn from softmax(α), or uniformly (warm-up)."""
        for d in net.decisions():
            d.sample(generator, uniform=uniform)

    def arch_mode(self, net: Any, generator: torch.Generator) -> None:
        """Set every decision for a gradient step on α (only ops with ``gradient``)."""
        raise NotImplementedError(f"{self.name} gives α no gradient")

    def on_mode(self, decision: Any) -> None:
        """A decision entered one of this op's modes (or ``None``): make what that mode needs (binary gates)."""

    # ---- forward ------------------------------------------------------------------------------------------------
    def forward(self, decision: Any, candidates: Any, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def input_forward(self, decision: Any, choice: Any, subsets: list[list[Any]], like: Any) -> Any:
        """An ``InputChoice`` under one of this op's modes; ``subsets[i]`` are option i's tensors."""
        raise NotImplementedError

    # ---- α's gradient -------------------------------------------------------------------------------------------
    def grad_inputs(self, net: Any) -> list[torch.Tensor]:
        """What a gradient step back-propagates to (α; binary gates add theirs)."""
        return list(net.arch_parameters())

    def after_backward(self, net: Any) -> None:
        """Turn what ``backward`` left into α's gradient (binary gates)."""

    def after_step(self, net: Any) -> None:
        """After the optimiser stepped α (``two`` gates rescale the sampled pair)."""

    def set_progress(self, fraction: float) -> None:
        """How far the search is (0..1): schedules such as a Gumbel temperature follow it."""
        self.progress = float(min(max(fraction, 0.0), 1.0))

    def describe(self) -> dict[str, Any]:
        # a part of your own: the settings it was created with (hwnas's own parts spell theirs out)
        return {"type": self.name, **getattr(self, "resolved_settings", {})}


MIXED_OPS: Registry[MixedOp] = Registry("mixed op", "MIXED_OPS", "hwnas.search.mixed")


def weighted_input_sum(decision: Any, choice: Any, subsets: list[list[Any]], like: Any, weights: torch.Tensor,
                       indices: Any) -> Any:
    """Σ weights[i]·reduce(subset i) over ``indices`` (an empty subset counts as zeros)."""
    out = 0
    for i in indices:
        out = out + weights[i] * choice.reduce(subsets[i], like)
    return out
