"""The one way search and Pareto runs get their latency model: a table's LUT-sum or a saved predictor's per-block
costs, for a given space, with where it was measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..space.model_space import check_same_space
from ..space.spaces import SearchSpace
from .block_costs import BlockCosts, lut_block_costs


@dataclass(frozen=True)
class LatencyModel:
    """Per-block costs (what search differentiates), the space they are for, the metadata of the measurements
    behind them (``settings``, ``environment``), and the predictor when one was loaded (REINFORCE scores
    sampled architectures with its ``predict``)."""

    costs: BlockCosts
    space: SearchSpace
    meta: dict[str, Any]
    predictor: Any = None
    source: str = ""

    @property
    def backend(self) -> str | None:
        return (self.meta.get("settings") or {}).get("backend")

    @property
    def device_model(self) -> str:
        return (self.meta.get("environment") or {}).get("device_model") or ""


def load_latency_model(*, table: str | Path | None = None, predictor: str | Path | None = None,
                       space: SearchSpace | None = None, force: bool = False) -> LatencyModel:
    """Exactly one of ``table`` (LUT-sum) or ``predictor`` (anything saved with ``block_costs()``, e.g. a calibrated
    predictor). ``space`` defaults to the model's own; a predictor fitted for another space is refused, a table is
    used if it covers ``space``."""
    from ..profilers.table import LatencyTable

    if (table is None) == (predictor is None):
        raise UsageError("give exactly one latency model: --table T.csv (LUT-sum) or --predictor P.joblib "
                         "(e.g. a calibrated predictor)")
    if table is not None:
        t = LatencyTable.load(table)
        check_same_space(t.meta.get("space"), space, f"table {table}")
        space = space or t.space
        return LatencyModel(lut_block_costs(t, space), space, t.meta, None, f"table {table}")
    from .persist import load_predictor

    pred = load_predictor(predictor, force=force)
    if not hasattr(pred, "block_costs"):
        raise UsageError(f"predictor {predictor} ({type(pred).__name__}) has no per-block costs, which a search prices "
                         "its blocks with (the latency term, the reachable targets); fit a calibrated one (hwnas predictor fit --kind calibrated) or "
                         "use --table")
    own = pred.space_
    if getattr(space, "kind", None) == "model" or getattr(own, "kind", None) == "model":
        check_same_space(own.to_dict(), space, f"predictor {predictor}")
        return LatencyModel(pred.block_costs(), space or own, getattr(pred, "table_meta_", None) or {}, pred,
                            f"predictor {predictor}")
    if space is not None and space.to_dict() != own.to_dict():
        from ..profilers.records import diff_settings

        diff = "; ".join(diff_settings(own.to_dict(), space.to_dict(), have="predictor has"))
        raise UsageError(f"predictor {predictor} was fitted for another space than the one asked for ({diff}); "
                         "give the predictor's space flags or fit one for this space")
    return LatencyModel(pred.block_costs(), own, getattr(pred, "table_meta_", None) or {}, pred,
                        f"predictor {predictor}")
