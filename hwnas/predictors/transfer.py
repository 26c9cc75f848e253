"""Adapting a predictor from device A to device B with a handful of networks measured on B."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.utils.validation import check_is_fitted

from ..errors import UsageError
from .estimators import CalibratedPredictor, TablePredictor


class TransferPredictor(RegressorMixin, BaseEstimator):
    """``base`` is a predictor fitted on device A. With K networks measured on device B:

    - always: log(lat_B) = a + b·log(pred_A) (b = 1 while K < ``min_k_slope``), a monotone map that keeps A's
      ranking and fixes B's overall speed and scaling;
    - when K ≥ ``min_k_recalibrate``: also a :class:`CalibratedPredictor` refitted on B's measurements with A's
      table (per-stage and per-candidate rescaling), used if cross-validation says it is better.
    """

    fits_networks = True  # mapped onto networks measured on the target device

    def __init__(self, *, base: TablePredictor | None = None, min_k_slope: int = 5, min_k_recalibrate: int = 20,
                 random_state: int = 0):
        self.base, self.min_k_slope, self.min_k_recalibrate = base, min_k_slope, min_k_recalibrate
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> TransferPredictor:
        if self.base is None:
            raise UsageError("TransferPredictor needs base=<a predictor fitted on the source device>")
        check_is_fitted(self.base)
        y = np.asarray(y, dtype=float)
        self.k_ = len(y)
        if self.k_ < 1:
            raise UsageError("need at least one network measured on the target device")
        self.a_, self.b_ = self._fit_map(np.log(self.base.predict(X)), np.log(y))
        self.recalibrated_ = None
        if self.k_ >= self.min_k_recalibrate:
            recal = CalibratedPredictor(table=self.base.table)
            folds = KFold(n_splits=5, shuffle=True, random_state=self.random_state)
            Xa = np.asarray(X, dtype=object)
            err_recal = np.abs(cross_val_predict(clone(recal), Xa, y, cv=folds) / y - 1).mean()
            err_map = np.mean([np.abs(self._cv_map(Xa, y, tr, te)).mean() for tr, te in folds.split(Xa)])
            if err_recal < err_map:
                self.recalibrated_ = recal.fit(X, y)
        self.table_meta_ = self.base.table_meta_
        return self

    def _fit_map(self, lp: np.ndarray, ly: np.ndarray) -> tuple[float, float]:
        if len(ly) >= self.min_k_slope and np.ptp(lp) > 0:
            b, a = np.polyfit(lp, ly, 1)
            return float(a), float(b)
        return float(np.mean(ly - lp)), 1.0

    def _cv_map(self, X: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        lp = np.log(self.base.predict(X))
        a, b = self._fit_map(lp[tr], np.log(y[tr]))
        return np.exp(a + b * lp[te]) / y[te] - 1

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "a_")
        if self.recalibrated_ is not None:
            return self.recalibrated_.predict(X)
        return np.exp(self.a_ + self.b_ * np.log(self.base.predict(X)))
