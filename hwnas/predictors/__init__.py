"""Latency predictors: LUT-sum, calibrated and fitted estimators, transfer, and the differentiable latency term."""

from .archs import ArchDataset, measure_archs, plan_archs
from .block_costs import BlockCosts, expected_latency_ms, lut_block_costs
from .estimators import CalibratedPredictor, FlopsLinearPredictor, LUTSumPredictor, TablePredictor
from .fitted import FittedPredictor
from .metrics import accuracy_report, format_report
from .persist import load_predictor, save_predictor
from .transfer import TransferPredictor

PREDICTORS = {
    "lut": LUTSumPredictor,
    "flops": FlopsLinearPredictor,
    "calibrated": CalibratedPredictor,
    "fitted": FittedPredictor,
}

__all__ = [
    "PREDICTORS", "ArchDataset", "BlockCosts", "CalibratedPredictor", "FittedPredictor", "FlopsLinearPredictor",
    "LUTSumPredictor", "TablePredictor", "TransferPredictor", "accuracy_report", "expected_latency_ms",
    "format_report", "load_predictor", "lut_block_costs", "measure_archs", "plan_archs", "save_predictor",
]
