"""Table-based latency predictors as scikit-learn estimators.

``X`` is a sequence of architecture strings (or :class:`ArchSpec`); ``y`` the measured whole-network
latencies in ms. Every predictor keeps the metadata of the table it was fitted with (``table_meta_``) so
that it can refuse measurements from another device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.utils.validation import check_is_fitted

from ..errors import UsageError
from ..profilers.records import COMPARABLE_FIELDS, TableMismatchError, space_problems
from ..profilers.table import LatencyTable
from ..space.spaces import SearchSpace
from .block_costs import BlockCosts, lut_block_costs
from .features import as_archs, block_matrix, linear_features, n_groups


class TablePredictor(RegressorMixin, BaseEstimator):
    """Base: holds a latency table and turns architectures into per-block table costs."""

    # fitted on measured whole networks (so it errs both ways around them); not the LUT sum
    fits_networks = True

    def __init__(self, *, table: LatencyTable | None = None):
        self.table = table

    def _setup(self) -> None:
        if self.table is None:
            raise UsageError(f"{type(self).__name__} needs a latency table (table=LatencyTable.load(...))")
        self.space_: SearchSpace = self.table.space
        self.costs_: BlockCosts = lut_block_costs(self.table, self.space_)
        self.table_meta_ = {k: self.table.meta.get(k) for k in ("settings", "environment", "space", "hwnas")}

    def _matrix(self, X: Any):
        archs = as_archs(X, self.space_)
        return archs, block_matrix(archs, self.space_, self.costs_)

    def check_measurements(self, meta: dict[str, Any], what: str = "these measurements") -> None:
        """Refuse measurements (an arch dataset's or table's metadata) from another device or backend."""
        mine, theirs = self.table_meta_.get("settings") or {}, meta.get("settings") or {}
        problems = [f"{k}: predictor's table has {mine.get(k)!r}, {what} have {theirs.get(k)!r}"
                    for k in COMPARABLE_FIELDS if mine.get(k) != theirs.get(k)]
        dm, dt = (self.table_meta_.get("environment") or {}).get("device_model"), \
            (meta.get("environment") or {}).get("device_model")
        if dm != dt:
            problems.append(f"device: predictor's table was measured on {dm!r}, {what} on {dt!r}")
        problems += space_problems(self.space_.to_dict(), meta.get("space"), mine_is="the predictor's table",
                                   theirs_are=what)
        if problems:
            raise TableMismatchError("the predictor was fitted for another device, backend or space:\n  "
                                     + "\n  ".join(problems) + "\nPass force=True (--force) to use it anyway.")


class LUTSumPredictor(TablePredictor):
    """The field baseline (ProxylessNAS, Once-for-All): the sum of isolated layer latencies. ``fit`` learns
    nothing from ``y``."""

    fits_networks = False  # off the same way on every network by construction (isolated blocks)

    def fit(self, X: Any = None, y: Any = None) -> LUTSumPredictor:
        self._setup()
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "costs_")
        return np.array([self.costs_.arch_ms(a, self.space_) for a in as_archs(X, self.space_)])

    def block_costs(self) -> BlockCosts:
        check_is_fitted(self, "costs_")
        return self.costs_


class FlopsLinearPredictor(TablePredictor):
    """Latency as an affine function of multiply-accumulates: what a FLOPs proxy can do at best."""

    def fit(self, X: Any, y: Any) -> FlopsLinearPredictor:
        self._setup()
        self.model_ = LinearRegression().fit(self._macs(X), np.asarray(y, dtype=float))
        return self

    def _macs(self, X: Any) -> np.ndarray:
        return np.array([[self.space_.macs(a) / 1e6] for a in as_archs(X, self.space_)])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict(self._macs(X))


class CalibratedPredictor(TablePredictor):
    """LUT-sum corrected by a regularised linear model of per-block terms.

    measured ≈ LUT-sum + c + Σ_stages (a_s·LUT_s + z_s·active_s) + Σ_candidates k_c·LUT_c, fitted on relative
    error. Every correction is a sum over blocks, so :meth:`block_costs` gives per-block, per-choice costs and
    search can differentiate the expected latency exactly as with a plain table.
    """

    def __init__(self, *, table: LatencyTable | None = None, alphas: tuple[float, ...] = (1e-3, 1e-2, 0.1, 1.0, 10.0)):
        super().__init__(table=table)
        self.alphas = alphas

    def fit(self, X: Any, y: Any) -> CalibratedPredictor:
        self._setup()
        y = np.asarray(y, dtype=float)
        _, m = self._matrix(X)
        F = linear_features(m, n_groups(self.space_), len(self.space_.kinds()))
        self.ridge_ = RidgeCV(alphas=self.alphas).fit(F, y - m.lut_ms, sample_weight=1.0 / y**2)
        self.block_costs_ = self._calibrated_costs()
        return self

    def _calibrated_costs(self) -> BlockCosts:
        space = self.space_
        n_st, n_c = n_groups(space), len(space.kinds())
        w = self.ridge_.coef_
        a, z, k = w[:n_st], w[n_st:2 * n_st], w[2 * n_st:2 * n_st + n_c]
        costs = []
        for d, (g, row) in enumerate(zip(space.decision_groups(), self.costs_.costs, strict=True)):
            out = []
            for o, lat in enumerate(row):
                kind = space.choice_kind(d, o)
                scale = 1 + a[g] + (k[kind] if kind >= 0 else 0.0)
                out.append(lat * scale + z[g] if space.choice_active(d, o) else 0.0)
            costs.append(tuple(out))
        return BlockCosts(self.costs_.const_ms + float(self.ridge_.intercept_), tuple(costs))

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "block_costs_")
        return np.array([self.block_costs_.arch_ms(a, self.space_) for a in as_archs(X, self.space_)])

    def block_costs(self) -> BlockCosts:
        check_is_fitted(self, "block_costs_")
        return self.block_costs_
