"""ENAS (Pham et al., 2018; NNI ``EnasTrainer``): an LSTM controller proposes the supernet's paths, one decision
after another, and learns by REINFORCE with a moving-average baseline and an entropy bonus; the weights train on
the paths it samples and are shared by all of them.

The reward is the path's accuracy on a held-out batch times (LAT/T)^w, as Proxyless-R's, so the controller sees the
latency target too. The controller is small (an LSTM cell of ``hidden`` units, one embedding and one output layer
per decision) and lives on the CPU, where the search's generators draw its samples; its logits pass through
``tanh_constant``·tanh(·/``temperature``) as ENAS's do. The exported architecture is its greedy decoding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import UsageError
from .base import OPTIMIZERS, ArchOptimizer
from .reinforce import PathScorer


class Controller(nn.Module):
    def __init__(self, sizes: list[int], hidden: int, temperature: float, tanh_constant: float):
        super().__init__()
        self.sizes, self.temperature, self.tanh_constant = list(sizes), temperature, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        self.embed = nn.ModuleList(nn.Embedding(n, hidden) for n in sizes)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in sizes)

    def forward(self, n: int, generator: torch.Generator | None = None, *, greedy: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``n`` paths: (indices (n, decisions), log p (n,), entropy (n,), each decision's probabilities)."""
        h = c = torch.zeros(n, self.start.shape[1])
        inp = self.start.expand(n, -1)
        picks, log_p, ent, probs = [], torch.zeros(n), torch.zeros(n), []
        for d in range(len(self.sizes)):
            h, c = self.cell(inp, (h, c))
            logits = self.tanh_constant * torch.tanh(self.heads[d](h) / self.temperature)
            lp = F.log_softmax(logits, dim=-1)
            p = lp.exp()
            idx = p.detach().argmax(-1) if greedy else torch.multinomial(p.detach(), 1, generator=generator)[:, 0]
            picks.append(idx)
            log_p = log_p + lp.gather(1, idx[:, None])[:, 0]
            ent = ent - (p * lp).sum(-1)
            probs.append(p.detach()[0])
            inp = self.embed[d](idx)
        return torch.stack(picks, 1), log_p, ent, probs


@OPTIMIZERS.register("enas", "EnasOptim")
class EnasOptim(ArchOptimizer):
    fits = "single_path"
    steps_on_valid = True

    def __init__(self, *, hidden: int = 64, lr: float = 3.5e-4, entropy_weight: float = 1e-4,
                 baseline_decay: float = 0.95, temperature: float = 5.0, tanh_constant: float = 2.5,
                 **context: Any):
        super().__init__(**context)
        if hidden < 1 or lr <= 0 or entropy_weight < 0 or not 0 <= baseline_decay < 1:
            raise UsageError("enas needs hidden >= 1, lr > 0, entropy_weight >= 0 and 0 <= baseline_decay < 1")
        self.hidden, self.lr, self.entropy_weight = int(hidden), float(lr), float(entropy_weight)
        self.baseline_decay, self.temperature, self.tanh_constant = float(baseline_decay), float(temperature), \
            float(tanh_constant)
        self.controller: Controller | None = None
        self.baseline: float | None = None
        self.scorer = PathScorer(self)

    def _ctl(self, net: Any) -> Controller:
        if self.controller is None:
            sizes = [d.n for d in net.decisions()]
            with torch.random.fork_rng(devices=[]):  # the controller's initial weights from the search's seed
                torch.manual_seed(self.config.seed + 17)
                self.controller = Controller(sizes, self.hidden, self.temperature, self.tanh_constant)
        return self.controller

    def parameters(self, net: Any) -> list[nn.Parameter]:
        return list(self._ctl(net).parameters())

    def optimizer_settings(self) -> dict[str, Any]:
        """ENAS's own Adam learning rate for the controller (not α's)."""
        return {"lr": self.lr, "betas": (0.9, 0.999)}

    def weight_path(self, net: Any, generator: torch.Generator) -> bool:
        with torch.no_grad():
            idx, *_ = self._ctl(net)(1, generator)
        net.set_indices(idx[0].tolist())
        return True

    def step(self, net: Any, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
             generator: torch.Generator) -> dict[str, Any]:
        ctl = self._ctl(net)
        idx, log_p, ent, _ = ctl(self.config.rl_samples, generator)
        accs, lats = self.scorer(net, idx.tolist(), x, y)
        r = torch.tensor(self.scorer.rewards(accs, lats))
        if not torch.all(torch.isfinite(r)):
            return {"arch_loss": float("nan"), "finite": False}
        mean_r = float(r.mean())
        base = mean_r if self.baseline is None else self.baseline
        loss = -((r - base) * log_p).mean() - self.entropy_weight * ent.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        d = self.baseline_decay
        self.baseline = mean_r if self.baseline is None else d * self.baseline + (1 - d) * mean_r
        return {"arch_loss": float(loss.detach()), "reward": mean_r, "baseline": self.baseline,
                "arch_acc": sum(accs) / len(accs), "sampled_ms": sum(lats) / len(lats), "finite": True}

    def best_indices(self, net: Any) -> list[int]:
        with torch.no_grad():
            idx, *_ = self._ctl(net)(1, greedy=True)
        return idx[0].tolist()

    def probabilities(self, net: Any) -> list[torch.Tensor]:
        with torch.no_grad():
            return self._ctl(net)(1, greedy=True)[3]

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline,
                "controller": self.controller.state_dict() if self.controller is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = state.get("baseline")
        if state.get("controller") is not None and self.controller is not None:
            self.controller.load_state_dict(state["controller"])

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "hidden": self.hidden, "lr": self.lr, "entropy_weight": self.entropy_weight,
                "baseline_decay": self.baseline_decay}
