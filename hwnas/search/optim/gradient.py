"""Gradient optimizers of α: the architecture loss (cross-entropy ⊕ the expected-latency term) back-propagated
through the mixed op, α stepped by Adam.

- ``binarygate`` (ProxylessNAS's Proxyless-G, ModularNAS ``BinaryGateOptim``): a step on a held-out batch through
  binary gates (``BinGate``); the gates' gradients become α's.
- ``darts`` (DARTS first order, ModularNAS ``DARTSOptim`` / ``DirectGradOptimBiLevel``): a step on a held-out
  batch through the softmax(α)-weighted sum (``WeightedSum``) or a Gumbel sample (``GumbelSum``), α's gradient
  straight from autograd. The second-order (unrolled) step is not implemented.
- ``directgrad`` (ModularNAS ``DirectGradOptim``, single level): no held-out step; every weight step runs the
  α-differentiable forward and α is stepped on the same training batch's gradient.

E[LAT] = Σ_decisions Σ_options softmax(α)·cost stays in the autograd graph in every form.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UsageError
from ...predictors.block_costs import expected_latency_ms
from ...train.device import Runtime
from ..latency_loss import architecture_loss, resolve_latency_loss
from .base import OPTIMIZERS, ArchOptimizer


class GradientOptim(ArchOptimizer):
    fits = "gradient"
    steps_on_valid = True

    def __init__(self, **context: Any):
        super().__init__(**context)
        self._cost_tensors: list[torch.Tensor] | None = None
        cfg = self.config
        self.latency_loss = resolve_latency_loss(cfg.latency_loss, cfg.target_ms, self.costs.min_ms()) \
            if cfg is not None and self.costs is not None else None

    def expected_ms(self, net: Any) -> torch.Tensor:
        if self._cost_tensors is None:
            self._cost_tensors = self.costs.tensors(net.arch_parameters()[0].device)
        return expected_latency_ms(net.probs(), self._cost_tensors, self.costs.const_ms)

    def loss(self, net: Any, ce: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.config
        exp_ms = self.expected_ms(net) if cfg.target_ms is not None else None
        return architecture_loss(ce, exp_ms, cfg.target_ms, kind=self.latency_loss, alpha=cfg.loss_alpha,
                                 beta=cfg.loss_beta, lam=cfg.loss_lambda), exp_ms

    def step(self, net: Any, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        """Sample the mixed op's α-differentiable forward, back-propagate CE ⊕ E[LAT] to α only (the weights are
        left alone), step α; distributed, α's gradient is averaged over ranks first, so every rank steps alike."""
        cfg = self.config
        op = net.mixed_op
        n = len(y)
        rt = self.runtime or Runtime.of(net)
        x, y = rt.place_batch(*self.dist.shard(x, y))
        net.train()
        op.arch_mode(net, generator)
        try:
            with rt.autocast():
                logits = net(x)
            logits = logits.float()
            ce = self.dist.cross_entropy(logits, y, n, cfg.label_smoothing)
            loss, exp_ms = self.loss(net, ce)
            if not torch.isfinite(loss):
                return {"arch_loss": float(loss.detach()), "finite": False}
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(loss, inputs=op.grad_inputs(net))
            op.after_backward(net)
            self.dist.average_grads(net.arch_parameters())
            optimizer.step()
            op.after_step(net)
        finally:
            net.set_mode(None)
        acc = float((logits.argmax(1) == y).float().mean())
        return {"arch_loss": float(loss.detach()), "arch_ce": float(ce.detach()), "arch_acc": acc, "finite": True,
                "expected_ms": float(exp_ms.detach()) if exp_ms is not None else float("nan")}


@OPTIMIZERS.register("binarygate", "BinaryGateOptim", "proxyless-g")
class BinaryGateOptim(GradientOptim):
    pass


@OPTIMIZERS.register("darts", "DARTSOptim", "directgrad-bilevel", "DirectGradOptimBiLevel")
class DartsOptim(GradientOptim):
    pass


@OPTIMIZERS.register("directgrad", "DirectGradOptim")
class DirectGradOptim(GradientOptim):
    """Single level: α and the weights learn from the same training batch. Each weight step runs the mixed op's
    α-differentiable forward, its loss gets the latency term, and after the weights' step α is stepped too."""

    steps_on_valid = False

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.arch_optimizer: torch.optim.Optimizer | None = None

    def bind(self, optimizer: torch.optim.Optimizer) -> None:  # zeroed before each weight step's forward
        self.arch_optimizer = optimizer

    def weight_path(self, net: Any, generator: torch.Generator) -> bool:
        op = net.mixed_op
        if getattr(op, "binary_mode", None) == "full_v2":
            raise UsageError("directgrad trains the weights through the α-differentiable forward, and BinGate's "
                             "full_v2 gives the active candidate's weights no gradient: use binary_mode two or full")
        if self.arch_optimizer is not None:
            self.arch_optimizer.zero_grad(set_to_none=True)
        op.arch_mode(net, generator)
        return True

    def weight_loss(self, net: Any, loss: torch.Tensor) -> torch.Tensor:
        return self.loss(net, loss)[0]

    def after_weight_step(self, net: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        op = net.mixed_op
        op.after_backward(net)
        self.dist.average_grads(net.arch_parameters())
        optimizer.step()
        op.after_step(net)
        net.set_mode(None)
        return {}
