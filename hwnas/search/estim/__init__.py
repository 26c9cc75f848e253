"""Estimators: how the supernet's weights are trained and candidates scored (registry :data:`ESTIMATORS`).

``warmup``, ``supernet`` (alternating weight and architecture steps: ProxylessNAS, DARTS, ENAS), ``spos``
(uniform single paths, sandwich rule, in-place distillation), ``progressive`` (Once-for-All's progressive
shrinking), ``inherited`` (derivative-free search scored with the supernet's weights), ``subnet`` (each candidate
trained alone)."""

from . import alternating, inherited, oneshot, progressive, subnet  # noqa: F401  (each registers itself)
from .base import ESTIMATORS, Estimator, SearchDiverged, SearchState

__all__ = ["ESTIMATORS", "Estimator", "SearchDiverged", "SearchState"]
