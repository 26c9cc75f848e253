"""Latency predictors: LUT-sum, calibrated and fitted estimators, and the differentiable latency term."""

from .block_costs import BlockCosts, expected_latency_ms, lut_block_costs

__all__ = ["BlockCosts", "expected_latency_ms", "lut_block_costs"]
