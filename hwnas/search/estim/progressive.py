"""``progressive``: Once-for-All's progressive shrinking (Cai et al., ICLR 2020), on a weight-shared supernet.

The stage's epochs are split into phases, in Once-for-All's order: the full network first (largest kernel and
expansion everywhere, no skipped block: the teacher), then elastic kernel (7 → 5 → 3), then elastic depth (the last
block of each stage may be skipped, then the last two, ...), then elastic width (every expansion). Each phase draws
its paths uniformly from the options allowed so far, with the sandwich rule and in-place distillation from the
largest path (:mod:`.oneshot`). Shrinking lifted Once-for-All's subnets by +3.3 pp over training them all at once.

It needs elastic kernels and widths, so shared weights (``supernet_weights: shared``) on a built-in space.
"""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from .base import ESTIMATORS, SearchState
from .oneshot import SinglePathOneShot

PHASES = ("full", "kernel", "depth", "expand")


@ESTIMATORS.register("progressive", "ProgressiveShrinkingEstimator", "ofa")
class ProgressiveShrinking(SinglePathOneShot):
    phase = "progressive"

    def __init__(self, *, epochs: int, schedule: tuple[float, ...] | list[float] = (0.25, 0.25, 0.25, 0.25),
                 sandwich: bool = True, distill: bool = True, paths: int = 2):
        super().__init__(epochs=epochs, sandwich=sandwich, distill=distill, paths=paths)
        sched = [float(v) for v in schedule]
        if len(sched) != len(PHASES) or any(v < 0 for v in sched) or sum(sched) <= 0:
            raise UsageError(f"progressive: schedule must give {len(PHASES)} non-negative shares of the epochs "
                             f"({', '.join(PHASES)}), not {list(schedule)}")
        self.schedule = [v / sum(sched) for v in sched]

    def validate(self, cfg: Any, space: Any, costs: Any, optim: Any, latency_fn: Any) -> None:
        if getattr(space, "kind", None) == "model":
            raise UsageError("progressive shrinking shrinks kernels, depth and widths of MBConv blocks; a model space's "
                             "candidates are arbitrary modules: use the spos estimator (sandwich, distill) instead")
        if cfg.supernet_weights == "separate":
            raise UsageError("progressive shrinking trains elastic kernels and widths, which need shared weights: "
                             "this supernet has separate weights per candidate (use --supernet-weights shared)")

    def phase_at(self, stage_epoch: int) -> tuple[str, float]:
        """The phase of an epoch, and how far into that phase it is (0..1)."""
        pos = (stage_epoch + 0.5) / max(self.epochs, 1)
        start = 0.0
        for name, share in zip(PHASES, self.schedule, strict=True):
            if pos < start + share or name == PHASES[-1]:
                return name, min(max((pos - start) / share, 0.0), 1.0) if share else 1.0
            start += share
        return PHASES[-1], 1.0  # pragma: no cover

    def allowed(self, st: SearchState, stage_epoch: int) -> list[list[int]]:
        phase, within = self.phase_at(stage_epoch)
        order = PHASES.index(phase)
        positions = st.net.space.positions()
        out = []
        for pos in positions:
            real = [c for c in pos.choices if not c.is_zero]
            kmax, emax = max(c.kernel for c in real), max(c.expand for c in real)
            kernels = sorted({c.kernel for c in real}, reverse=True)
            # inside a phase the range opens step by step, as Once-for-All's 7 -> 5 -> 3
            n_k = len(kernels) if order > 1 else (1 + int(within * len(kernels)) if order == 1 else 1)
            keep_k = set(kernels[:max(1, min(n_k, len(kernels)))])
            stage_len = sum(1 for p in positions if p.stage == pos.stage)
            from_end = stage_len - sum(1 for p in positions if p.stage == pos.stage and p.index < pos.index)
            depth_steps = (stage_len - 1) if order > 2 else (int(within * (stage_len - 1)) + 1 if order == 2 else 0)
            ok = []
            for i, c in enumerate(pos.choices):
                if c.is_zero:
                    if from_end <= depth_steps:
                        ok.append(i)
                elif c.kernel in keep_k and (order >= 3 or c.expand == emax) and (order >= 1 or c.kernel == kmax):
                    ok.append(i)
            out.append(ok or [max(range(len(pos.choices)), key=lambda i: (pos.choices[i].kernel,
                                                                           pos.choices[i].expand))])
        return out

    def run_epoch(self, st: SearchState, epoch: int, stage_epoch: int) -> dict[str, Any]:
        row = super().run_epoch(st, epoch, stage_epoch)
        row["phase"] = f"progressive-{self.phase_at(stage_epoch)[0]}"
        return row

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "schedule": self.schedule}
