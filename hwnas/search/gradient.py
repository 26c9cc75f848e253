"""Proxyless-G: one architecture step with binary gates and the latency loss on a held-out batch."""

from __future__ import annotations

from typing import Any

import torch

from ..predictors.block_costs import BlockCosts, expected_latency_ms
from ..train.device import Runtime
from ..train.distributed import SINGLE, DistContext
from .config import SearchConfig
from .latency_loss import architecture_loss
from .supernet import Supernet


class GradientArchStep:
    """Sample gates in ``config.binary_mode``, back-propagate CE ⊕ E[LAT] to the gates and α, step α (Adam),
    then (``two`` mode) rescale the sampled pair. Only α and the gates get gradients: the weights are left alone.

    Distributed (``dist``): each rank back-propagates its share of the batch on the plain module (not DDP) and
    α's gradient is averaged over ranks before the step, so every rank takes the same step.

    The batch reaches the network through ``runtime`` (its device; the network's forward under the run's mixed
    precision, as the weight steps, so the step holds no more activation memory than they do; the gates, α and
    the latency term stay fp32)."""

    def __init__(self, config: SearchConfig, costs: BlockCosts, *, dist: DistContext | None = None,
                 runtime: Runtime | None = None):
        self.config, self.costs = config, costs
        self.dist = dist or SINGLE
        self.runtime = runtime
        self._cost_tensors: list[torch.Tensor] | None = None

    def expected_ms(self, net: Supernet) -> torch.Tensor:
        if self._cost_tensors is None:
            self._cost_tensors = self.costs.tensors(net.arch_parameters()[0].device)
        return expected_latency_ms(net.probs(), self._cost_tensors, self.costs.const_ms)

    def step(self, net: Supernet, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        cfg = self.config
        n = len(y)
        rt = self.runtime or Runtime.of(net)
        x, y = rt.place_batch(*self.dist.shard(x, y))
        net.train()
        net.sample(generator, mode=cfg.binary_mode)
        try:
            with rt.autocast():
                logits = net(x)
            logits = logits.float()
            ce = self.dist.cross_entropy(logits, y, n, cfg.label_smoothing)
            exp_ms = self.expected_ms(net) if cfg.target_ms is not None else None
            loss = architecture_loss(ce, exp_ms, cfg.target_ms, kind=cfg.latency_loss, alpha=cfg.loss_alpha,
                                     beta=cfg.loss_beta, lam=cfg.loss_lambda)
            if not torch.isfinite(loss):
                return {"arch_loss": float(loss.detach()), "finite": False}
            optimizer.zero_grad(set_to_none=True)
            inputs = net.arch_parameters() + net.gates()
            torch.autograd.backward(loss, inputs=inputs)
            net.accumulate_alpha_grads()
            self.dist.average_grads(net.arch_parameters())
            optimizer.step()
            net.rescale()
        finally:
            net.set_mode(None)
        acc = float((logits.argmax(1) == y).float().mean())
        return {"arch_loss": float(loss.detach()), "arch_ce": float(ce.detach()), "arch_acc": acc, "finite": True,
                "expected_ms": float(exp_ms.detach()) if exp_ms is not None else float("nan")}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
