"""The ProxylessNAS schedule (ModularNAS ``DefaultEstimator`` / ``SuperNetEstimator``): ``warmup`` trains the
weights alone on uniformly drawn single paths; ``supernet`` alternates weight steps (on paths the optimizer or
the mixed op draws) with an architecture step on a held-out batch every ``arch_every`` weight steps."""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from .base import ESTIMATORS, Estimator, SearchState, check_finite


@ESTIMATORS.register("warmup", "WarmupEstimator")
class Warmup(Estimator):
    phase = "warmup"

    def set_path(self, st: SearchState, step: int) -> None:
        st.mixed.weight_path(st.net, st.gens["arch"], uniform=True)


@ESTIMATORS.register("supernet", "SuperNetEstimator", "DefaultEstimator")
class Alternating(Estimator):
    """``arch_every`` / ``arch_steps`` default to the search settings (``grad_update_arch_param_every``,
    ``grad_update_steps``: NNI's names)."""

    phase = "search"

    def __init__(self, *, epochs: int, arch_every: int | None = None, arch_steps: int | None = None):
        super().__init__(epochs=epochs)
        if any(v is not None and v < 1 for v in (arch_every, arch_steps)):
            raise UsageError("supernet: arch_every and arch_steps are 1 or more (or left out: the search settings')")
        self.arch_every, self.arch_steps = arch_every, arch_steps

    def check(self, st: SearchState) -> None:
        """An epoch shorter than ``arch_every`` weight steps would never reach an architecture step (the count
        restarts every epoch), so α would never move: take one every epoch's last step instead, and say so."""
        every = self.arch_every or st.cfg.grad_update_arch_param_every
        self._every = every
        if st.optim.steps_on_valid and self.epochs and every > st.nb:
            self._every = st.nb
            if st.log:
                st.log(f"an epoch holds {st.nb} training batch(es), fewer than the {every} weight steps between "
                       f"architecture steps (--arch-every, grad_update_arch_param_every): an architecture step "
                       f"every {st.nb} weight steps instead")

    def after_step(self, st: SearchState, step: int, valid_iter: Any, add: Any) -> None:
        if not st.optim.steps_on_valid:
            return
        every = getattr(self, "_every", None) or self.arch_every or st.cfg.grad_update_arch_param_every
        if (step + 1) % every:
            return
        for _ in range(self.arch_steps or st.cfg.grad_update_steps):
            vx, vy = next(valid_iter)
            if len(vy) == 1 and _batches(st.valid_loader) > 1:  # a last batch of one image: take the next one
                vx, vy = next(valid_iter)
            m = st.optim.step(st.net, vx, vy, st.arch_opt, st.gens["arch"])
            if not m.pop("finite", True):
                import torch

                check_finite(torch.tensor(float("nan")), "architecture loss", st.extra["epoch"], step, st.rd)
            add(m)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "arch_every": self.arch_every, "arch_steps": self.arch_steps}


def _batches(loader: Any) -> int:
    try:
        return len(loader)
    except TypeError:  # an iterable without a length
        return 2
