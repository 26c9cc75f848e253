"""``BinGate`` (ProxylessNAS) and ``BinGateUniform``: binary gates over sampled candidates.

Weight steps run one path drawn from softmax(α) (``BinGate``) or uniformly (``BinGateUniform``, ModularNAS's: the
weights see every candidate equally often, whatever α prefers). A gradient step on α samples gates in
``binary_mode``:

- ``full``   : every candidate forward; the active one with its graph, the others detached; out = Σ g_i·o_i.
- ``two``    : two sampled candidates forward (active with graph, the other detached); out = Σ g_i·o_i; after the
  α step the pair is shifted so that the other candidates keep their probabilities.
- ``full_v2``: the active candidate only; the others are recomputed in backward to get their gate gradients
  (input choices, whose options are sums of tensors, run as ``full``).

Zero (skip) outputs its input, so every candidate returns the whole block output; the constant this adds to every
gate gradient cancels in the α gradient, since Σ_j p_j·(δ_ij − p_i) = 0.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UsageError
from ..gates import ActivePathWithGateGrads
from .base import MIXED_OPS, MixedOp

BINARY_MODES = ("full", "two", "full_v2")


class _Path:
    """What ``full_v2``'s autograd function reads: the candidates and the decision's active/involved options."""

    def __init__(self, candidates: Any, decision: Any):
        self.candidates, self.active, self.involved = candidates, decision.active, decision.involved


@MIXED_OPS.register("BinGate", "bingate")
class BinGate(MixedOp):
    gradient = True
    single_path = True
    modes = BINARY_MODES

    def __init__(self, *, binary_mode: str = "full_v2"):
        super().__init__()
        if binary_mode not in BINARY_MODES:
            raise UsageError(f"binary_mode must be one of {', '.join(BINARY_MODES)}, not {binary_mode!r}")
        self.binary_mode = binary_mode

    def arch_mode(self, net: Any, generator: torch.Generator) -> None:
        for d in net.decisions():
            d.sample(generator, mode=self.binary_mode)

    def on_mode(self, decision: Any) -> None:
        decision.gates = None
        if decision.mode in BINARY_MODES:
            g = torch.zeros(decision.n, device=decision.alpha.device)
            g[decision.active] = 1.0
            decision.gates = g.requires_grad_(True)

    def forward(self, decision: Any, candidates: Any, x: torch.Tensor) -> torch.Tensor:
        if decision.mode == "full_v2":
            return ActivePathWithGateGrads.apply(x, decision.gates, _Path(candidates, decision))
        out = 0
        for i in decision.involved:
            if i == decision.active:
                oi = candidates[i](x)
            else:
                with torch.no_grad():
                    oi = candidates[i](x)
            out = out + decision.gates[i] * oi
        return out

    def input_forward(self, decision: Any, choice: Any, subsets: list[list[Any]], like: Any) -> Any:
        out = 0
        for i in (range(decision.n) if decision.mode == "full_v2" else decision.involved):
            oi = choice.reduce(subsets[i], like)
            out = out + decision.gates[i] * (oi if i == decision.active else oi.detach())
        return out

    def grad_inputs(self, net: Any) -> list[torch.Tensor]:
        return list(net.arch_parameters()) + net.gates()

    def after_backward(self, net: Any) -> None:
        net.accumulate_alpha_grads()

    def after_step(self, net: Any) -> None:
        net.rescale()

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "binary_mode": self.binary_mode}


@MIXED_OPS.register("BinGateUniform", "bingate-uniform")
class BinGateUniform(BinGate):
    """Binary gates for α's steps; weight steps on uniformly drawn paths."""

    def weight_path(self, net: Any, generator: torch.Generator, *, uniform: bool = False) -> None:
        super().weight_path(net, generator, uniform=True)
