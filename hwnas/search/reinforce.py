"""Proxyless-R: REINFORCE on the architecture logits with the MnasNet reward ACC·(LAT/T)^w."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..predictors.block_costs import BlockCosts
from ..space.spec import ArchSpec
from ..train.device import Runtime
from ..train.distributed import SINGLE, DistContext
from ..train.training import batch_stat_bn
from .config import SearchConfig
from .supernet import Supernet


def reward(acc: float, latency_ms: float, target_ms: float | None, alpha: float, beta: float) -> float:
    """ACC·(LAT/T)^w with w = α if LAT ≤ T else β; plain ACC without a target."""
    if target_ms is None:
        return float(acc)
    w = alpha if latency_ms <= target_ms else beta
    return float(acc * (latency_ms / target_ms) ** w)


class ReinforceArchStep:
    """Sample ``rl_samples`` architectures from softmax(α), score each on one held-out batch (accuracy of the
    single path, latency from ``latency_fn``), and step α along Σ (R − b)·∇log p with the moving-average
    baseline b ← decay·b + (1 − decay)·mean(R) (the baseline from before this step is used, so it does not
    depend on the rewards it centres).

    Distributed (``dist``): every rank draws the same architectures and scores them on its share of the batch;
    the hit counts are summed over ranks (and the latencies taken from rank 0, the only one that measures), so
    accuracy, rewards and advantages are those of the whole batch and identical on every rank."""

    def __init__(self, config: SearchConfig, costs: BlockCosts,
                 latency_fn: Callable[[ArchSpec], float] | None = None, *, dist: DistContext | None = None,
                 runtime: Runtime | None = None):
        self.config, self.costs = config, costs
        self.dist = dist or SINGLE
        self.runtime = runtime
        self.latency_fn = latency_fn
        self.baseline: float | None = None
        self._cache: dict[str, float] = {}

    def latency_ms(self, arch: ArchSpec, net: Supernet) -> float:
        key = arch.to_string()
        if key not in self._cache:
            self._cache[key] = float(self.latency_fn(arch) if self.latency_fn else self.costs.arch_ms(arch, net.space))
        return self._cache[key]

    def step(self, net: Supernet, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        cfg = self.config
        alpha, beta = cfg.reward_exponents
        indices = net.sample_indices(generator, cfg.rl_samples)
        d = self.dist
        n = len(y)
        rt = self.runtime or Runtime.of(net)
        x, y = rt.place_batch(*d.shard(x, y))
        scores, lats = [], []
        with torch.no_grad(), batch_stat_bn(net), rt.autocast():
            for row in indices.tolist():
                net.set_indices(row)
                hits = (net(x).argmax(1) == y).float()
                scores.append(hits.sum() if d.enabled else hits.mean())  # on the device: read once, below
                lats.append(self.latency_ms(net.indices_to_arch(row), net) if d.is_main else 0.0)
        accs = torch.stack(scores).cpu().tolist()
        if d.enabled:  # whole-batch accuracy (hits over ranks / n) and rank 0's latencies, on every rank
            k = len(accs)
            t = d.all_reduce_sum(torch.tensor(accs + lats, dtype=torch.float64))
            accs, lats = [float(v) / n for v in t[:k]], [float(v) for v in t[k:]]
        rewards = [reward(acc, lat, cfg.target_ms, alpha, beta) for acc, lat in zip(accs, lats, strict=True)]
        r = torch.tensor(rewards)
        if not torch.all(torch.isfinite(r)):
            return {"arch_loss": float("nan"), "finite": False}
        mean_r = float(r.mean())
        base = mean_r if self.baseline is None else self.baseline
        log_p = net.log_prob(indices)
        loss = -((r.to(log_p.device) - base) * log_p).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        decay = cfg.rl_baseline_decay
        self.baseline = mean_r if self.baseline is None else decay * self.baseline + (1 - decay) * mean_r
        return {"arch_loss": float(loss.detach()), "reward": mean_r, "baseline": self.baseline, "arch_acc": sum(accs) / len(accs),
                "sampled_ms": sum(lats) / len(lats), "finite": bool(torch.isfinite(loss))}

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = state.get("baseline")
