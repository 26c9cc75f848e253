"""Latency predictors: LUT-sum, calibrated and fitted estimators, transfer, and the differentiable latency term.

The names below are imported on first use (PEP 562), so that a search, which needs only
:mod:`hwnas.predictors.block_costs`, does not load scikit-learn, SciPy and pandas: about 120 MB of resident
memory and two seconds of start-up on the 2-core reference machine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "ArchDataset": "archs", "measure_archs": "archs", "plan_archs": "archs", "read_arch_list": "archs",
    "BlockCosts": "block_costs", "expected_latency_ms": "block_costs", "lut_block_costs": "block_costs",
    "CalibratedPredictor": "estimators", "FlopsLinearPredictor": "estimators", "LUTSumPredictor": "estimators",
    "TablePredictor": "estimators", "FittedPredictor": "fitted", "accuracy_report": "metrics",
    "format_report": "metrics", "load_predictor": "persist", "save_predictor": "persist",
    "TransferPredictor": "transfer",
}

__all__ = ["PREDICTORS", *sorted(_WHERE)]

if TYPE_CHECKING:
    from .archs import ArchDataset, measure_archs, plan_archs, read_arch_list  # noqa: F401
    from .block_costs import BlockCosts, expected_latency_ms, lut_block_costs  # noqa: F401
    from .estimators import CalibratedPredictor, FlopsLinearPredictor, LUTSumPredictor, TablePredictor  # noqa: F401
    from .fitted import FittedPredictor  # noqa: F401
    from .metrics import accuracy_report, format_report  # noqa: F401
    from .persist import load_predictor, save_predictor  # noqa: F401
    from .transfer import TransferPredictor  # noqa: F401


def __getattr__(name: str) -> Any:
    if name == "PREDICTORS":
        from .estimators import CalibratedPredictor, FlopsLinearPredictor, LUTSumPredictor
        from .fitted import FittedPredictor

        value: Any = {"lut": LUTSumPredictor, "flops": FlopsLinearPredictor, "calibrated": CalibratedPredictor,
                      "fitted": FittedPredictor}
    elif name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
