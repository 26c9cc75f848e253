"""``spos``: train the supernet's weights for ranking, not for one search (Guo et al. 2019, single-path one-shot;
Yu et al. 2020, BigNAS / the sandwich rule).

Every weight step trains uniformly drawn single paths, so every candidate sees the same share of steps and the
inherited weights of any child are trained as well as any other's. With ``sandwich``, each step trains the
largest path, the smallest and ``paths`` random ones, their gradients summed (the largest and smallest bound the
space, so both ends stay trained); with ``distill`` (in-place distillation) the largest path learns from the
labels and every other path from the largest path's predictions. "Largest" and "smallest" are the options the
latency model prices highest and lowest in each decision, so the rule works on any space.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UsageError
from .base import ESTIMATORS, Estimator, SearchState, backward


def extreme_paths(st: SearchState, allowed: list[list[int]] | None = None) -> tuple[list[int], list[int]]:
    """(largest, smallest): per decision the allowed option the latency model prices highest / lowest."""
    largest, smallest = [], []
    for d, costs in enumerate(st.costs.costs):
        opts = allowed[d] if allowed is not None else list(range(len(costs)))
        largest.append(max(opts, key=lambda i: (costs[i], i)))
        smallest.append(min(opts, key=lambda i: (costs[i], i)))
    return largest, smallest


def random_path(st: SearchState, allowed: list[list[int]] | None = None) -> list[int]:
    g = st.gens["arch"]
    if allowed is None:
        return [int(torch.randint(d.n, (1,), generator=g)) for d in st.net.decisions()]
    return [opts[int(torch.randint(len(opts), (1,), generator=g))] for opts in allowed]


@ESTIMATORS.register("spos", "SPOSEstimator", "OneShotEstimator")
class SinglePathOneShot(Estimator):
    phase = "train"

    def __init__(self, *, epochs: int, sandwich: bool = False, distill: bool = False, paths: int = 2):
        super().__init__(epochs=epochs)
        if distill and not sandwich:
            raise UsageError("spos: distill learns from the largest path, which only the sandwich rule trains in "
                             "every step: set sandwich: true too")
        if not isinstance(paths, int) or paths < 0:
            raise UsageError(f"spos: paths must be an integer >= 0, not {paths!r}")
        self.sandwich, self.distill, self.paths = bool(sandwich), bool(distill), paths

    def allowed(self, st: SearchState, stage_epoch: int) -> list[list[int]] | None:
        """The options each decision may take in this epoch (all of them; progressive shrinking narrows them)."""
        return None

    def set_path(self, st: SearchState, step: int) -> None:
        st.net.set_indices(random_path(st, st.extra.get("allowed")))

    def forward_backward(self, st: SearchState, x: torch.Tensor, y: torch.Tensor, n: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.sandwich:
            return super().forward_backward(st, x, y, n)
        allowed = st.extra.get("allowed")
        largest, smallest = extreme_paths(st, allowed)
        st.net.set_indices(largest)
        loss, out = self.forward(st, x, y, n)
        backward(st, loss)
        soft = torch.softmax(out.detach(), dim=1) if self.distill else None
        total = loss.detach()
        for path in [smallest] + [random_path(st, allowed) for _ in range(self.paths)]:
            st.net.set_indices(path)
            sub, _ = self.forward(st, x, y, n, target=soft)
            backward(st, sub)
            total = total + sub.detach()
        return total / (2 + self.paths), out

    def run_epoch(self, st: SearchState, epoch: int, stage_epoch: int) -> dict[str, Any]:
        st.extra["allowed"] = self.allowed(st, stage_epoch)
        try:
            return super().run_epoch(st, epoch, stage_epoch)
        finally:
            st.extra.pop("allowed", None)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sandwich": self.sandwich, "distill": self.distill, "paths": self.paths}
