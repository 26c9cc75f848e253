"""The last stage: accuracy–latency fronts and hypervolume, the multi-target experiment, its report and figures, and
the end-to-end demo."""

from .config import ParetoConfig, ParetoResult
from .experiment import run_pareto
from .fronts import front, hypervolume, pareto_mask, summarise

__all__ = ["ParetoConfig", "ParetoResult", "front", "hypervolume", "pareto_mask", "run_pareto", "summarise"]
