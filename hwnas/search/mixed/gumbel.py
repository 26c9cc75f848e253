"""``GumbelSum`` (SNAS, FBNet, GDAS): candidates weighted by a Gumbel-softmax sample of α at temperature τ, which
falls linearly from ``tau_max`` to ``tau_min`` over the search (GDAS: 10 → 0.1).

``hard=True`` (GDAS, the default) runs only the sampled candidate and passes α's gradient straight through the
one-hot sample (h = onehot − sg(s) + s, s = softmax((α + g)/τ)), so a step costs one path; ``hard=False`` (SNAS)
runs every candidate weighted by s. The Gumbel noise is drawn from the search's generator, so ranks and resumed
runs draw the same."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ...errors import UsageError
from .base import MIXED_OPS, MixedOp, weighted_input_sum


@MIXED_OPS.register("GumbelSum", "gumbel-sum")
class GumbelSum(MixedOp):
    gradient = True
    modes = ("gumbel",)

    def __init__(self, *, tau_max: float = 10.0, tau_min: float = 0.1, hard: bool = True):
        super().__init__()
        if not 0 < float(tau_min) <= float(tau_max):
            raise UsageError(f"GumbelSum needs 0 < tau_min <= tau_max, not {tau_min} and {tau_max}")
        self.tau_max, self.tau_min, self.hard = float(tau_max), float(tau_min), bool(hard)

    @property
    def single_path(self) -> bool:  # type: ignore[override]
        return self.hard

    @property
    def tau(self) -> float:
        return self.tau_max - (self.tau_max - self.tau_min) * self.progress

    def _sample(self, net: Any, generator: torch.Generator, *, with_grad: bool) -> None:
        for d in net.decisions():
            u = torch.rand(d.n, generator=generator).clamp_(1e-10, 1 - 1e-7)
            g = -torch.log(-torch.log(u))
            logits = (d.alpha if with_grad else d.alpha.detach()) + g.to(d.alpha.device)
            soft = F.softmax(logits / self.tau, dim=0)
            idx = int(torch.argmax(logits.detach()))
            if self.hard:
                d.set_active(idx, "gumbel")
                d.mix = torch.zeros_like(soft).index_fill_(0, torch.tensor([idx], device=soft.device), 1.0) \
                    - soft.detach() + soft
            else:
                d.set_active(idx, "gumbel")
                d.mix = soft

    def weight_path(self, net: Any, generator: torch.Generator, *, uniform: bool = False) -> None:
        if uniform:
            return super().weight_path(net, generator, uniform=True)
        self._sample(net, generator, with_grad=False)
        if self.hard:  # the sampled candidate alone: a plain single path for the weights
            net.set_mode(None)

    def arch_mode(self, net: Any, generator: torch.Generator) -> None:
        self._sample(net, generator, with_grad=True)

    def on_mode(self, decision: Any) -> None:
        if decision.mode != "gumbel":
            decision.mix = None

    def forward(self, decision: Any, candidates: Any, x: torch.Tensor) -> torch.Tensor:
        w = decision.mix
        if self.hard:
            return w[decision.active] * candidates[decision.active](x)
        return sum(w[i] * op(x) for i, op in enumerate(candidates))

    def input_forward(self, decision: Any, choice: Any, subsets: list[list[Any]], like: Any) -> Any:
        idx = (decision.active,) if self.hard else range(decision.n)
        return weighted_input_sum(decision, choice, subsets, like, decision.mix, idx)

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "tau_max": self.tau_max, "tau_min": self.tau_min, "hard": self.hard}
