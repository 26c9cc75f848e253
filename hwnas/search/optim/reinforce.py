"""Proxyless-R: REINFORCE on the architecture logits with the MnasNet reward ACC·(LAT/T)^w (ModularNAS
``REINFORCEOptim``)."""

from __future__ import annotations

from typing import Any

import torch

from ...space.spec import ArchSpec
from ...train.device import Runtime
from ...train.training import batch_stat_bn
from .base import OPTIMIZERS, ArchOptimizer


def reward(acc: float, latency_ms: float, target_ms: float | None, alpha: float, beta: float) -> float:
    """ACC·(LAT/T)^w with w = α if LAT ≤ T else β; plain ACC without a target."""
    if target_ms is None:
        return float(acc)
    w = alpha if latency_ms <= target_ms else beta
    return float(acc * (latency_ms / target_ms) ** w)


class PathScorer:
    """Scores sampled single paths on one held-out batch: accuracy (the batch's own BatchNorm statistics) and
    latency (``latency_fn``, else the latency model), for the policy optimizers.

    Distributed: every rank scores the same paths on its share of the batch; the hit counts are summed over ranks
    (and the latencies taken from rank 0, the only one that measures), so accuracies are the whole batch's and
    identical on every rank."""

    def __init__(self, optimizer: ArchOptimizer):
        self.o = optimizer
        self._cache: dict[str, float] = {}

    def latency_ms(self, arch: ArchSpec, net: Any) -> float:
        key = arch.to_string()
        if key not in self._cache:
            fn = self.o.latency_fn
            self._cache[key] = float(fn(arch) if fn else self.o.costs.arch_ms(arch, net.space))
        return self._cache[key]

    def __call__(self, net: Any, rows: list[list[int]], x: torch.Tensor, y: torch.Tensor
                 ) -> tuple[list[float], list[float]]:
        d = self.o.dist
        n = len(y)
        rt = self.o.runtime or Runtime.of(net)
        x, y = rt.place_batch(*d.shard(x, y))
        scores, lats = [], []
        with torch.no_grad(), batch_stat_bn(net), rt.autocast():
            for row in rows:
                net.set_indices(row)
                hits = (net(x).argmax(1) == y).float()
                scores.append(hits.sum() if d.enabled else hits.mean())  # on the device: read once, below
                lats.append(self.latency_ms(net.indices_to_arch(row), net) if d.is_main else 0.0)
        accs = torch.stack(scores).cpu().tolist()
        if d.enabled:  # whole-batch accuracy (hits over ranks / n) and rank 0's latencies, on every rank
            k = len(accs)
            t = d.all_reduce_sum(torch.tensor(accs + lats, dtype=torch.float64))
            accs, lats = [float(v) / n for v in t[:k]], [float(v) for v in t[k:]]
        return accs, lats

    def rewards(self, accs: list[float], lats: list[float]) -> list[float]:
        cfg = self.o.config
        alpha, beta = cfg.reward_exponents
        return [reward(acc, lat, cfg.target_ms, alpha, beta) for acc, lat in zip(accs, lats, strict=True)]


@OPTIMIZERS.register("reinforce", "REINFORCEOptim", "proxyless-r")
class ReinforceOptim(ArchOptimizer):
    """Sample ``rl_samples`` architectures from softmax(α), score each on one held-out batch, and step α along
    Σ (R − b)·∇log p with the moving-average baseline b ← decay·b + (1 − decay)·mean(R) (the baseline from before
    this step is used, so it does not depend on the rewards it centres)."""

    fits = "single_path"
    steps_on_valid = True

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.baseline: float | None = None
        self.scorer = PathScorer(self)

    def step(self, net: Any, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        cfg = self.config
        indices = net.sample_indices(generator, cfg.rl_samples)
        accs, lats = self.scorer(net, indices.tolist(), x, y)
        r = torch.tensor(self.scorer.rewards(accs, lats))
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
        return {"arch_loss": float(loss.detach()), "reward": mean_r, "baseline": self.baseline,
                "arch_acc": sum(accs) / len(accs), "sampled_ms": sum(lats) / len(lats),
                "finite": bool(torch.isfinite(loss))}

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = state.get("baseline")
