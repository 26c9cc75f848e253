"""``WeightedSum`` (DARTS): every candidate runs, weighted by softmax(α); α's gradient comes straight from
autograd. Memory and time grow with the number of candidates (6–8× the child step on an H200, issue 24)."""

from __future__ import annotations

from typing import Any

import torch

from .base import MIXED_OPS, MixedOp, weighted_input_sum


@MIXED_OPS.register("WeightedSum", "weighted-sum")
class WeightedSum(MixedOp):
    gradient = True
    single_path = False
    modes = ("sum",)

    def weight_path(self, net: Any, generator: torch.Generator, *, uniform: bool = False) -> None:
        """The mixture for weight steps too (DARTS trains the weights of every candidate at once); a warm-up
        (``uniform``) trains single uniformly drawn paths, with α left alone."""
        if uniform:
            return super().weight_path(net, generator, uniform=True)
        net.set_mode("sum")

    def arch_mode(self, net: Any, generator: torch.Generator) -> None:
        net.set_mode("sum")

    def forward(self, decision: Any, candidates: Any, x: torch.Tensor) -> torch.Tensor:
        p = decision.probs()
        return sum(p[i] * op(x) for i, op in enumerate(candidates))

    def input_forward(self, decision: Any, choice: Any, subsets: list[list[Any]], like: Any) -> Any:
        return weighted_input_sum(decision, choice, subsets, like, decision.probs(), range(decision.n))
