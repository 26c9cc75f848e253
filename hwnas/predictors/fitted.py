"""A non-linear predictor on architecture features, chosen by cross-validation, with an uncertainty."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..errors import UsageError
from ..profilers.table import LatencyTable
from .estimators import TablePredictor
from .features import rich_features


def candidate_models(random_state: int) -> dict[str, Any]:
    return {
        "ridge": make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
        "gbr": GradientBoostingRegressor(n_estimators=300, max_depth=2, learning_rate=0.05, subsample=0.8,
                                         random_state=random_state),
        "forest": RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=random_state, n_jobs=1),
    }


class FittedPredictor(TablePredictor):
    """Learns log(measured / LUT-sum) from per-stage and per-candidate table latencies, MACs, parameters,
    memory traffic and depth. ``model='auto'`` picks ridge, gradient boosting or a random forest by
    ``cv``-fold cross-validation; ``n_ensemble`` bootstrap refits give ``predict(X, return_std=True)``."""

    def __init__(self, *, table: LatencyTable | None = None, model: str = "auto", cv: int = 5, n_ensemble: int = 8,
                 random_state: int = 0):
        super().__init__(table=table)
        self.model, self.cv, self.n_ensemble, self.random_state = model, cv, n_ensemble, random_state

    def _features(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        archs, m = self._matrix(X)
        return rich_features(archs, self.space_, m), m.lut_ms

    def fit(self, X: Any, y: Any) -> FittedPredictor:
        self._setup()
        y = np.asarray(y, dtype=float)
        F, lut = self._features(X)
        target = np.log(y / lut)
        models = candidate_models(self.random_state)
        if self.model == "auto":
            folds = KFold(n_splits=min(self.cv, len(y)), shuffle=True, random_state=self.random_state)
            self.cv_scores_ = {name: float(-cross_val_score(est, F, target, cv=folds,
                                                             scoring="neg_root_mean_squared_error").mean())
                               for name, est in models.items()}
            self.model_name_ = min(self.cv_scores_, key=self.cv_scores_.get)
        elif self.model in models:
            self.model_name_, self.cv_scores_ = self.model, {}
        else:
            raise UsageError(f"unknown model {self.model!r}; use 'auto' or one of {sorted(models)}")
        base = models[self.model_name_]
        self.estimator_ = clone(base).fit(F, target)
        rng = np.random.default_rng(self.random_state)
        self.ensemble_ = []
        for _ in range(self.n_ensemble):
            idx = rng.integers(0, len(y), len(y))
            self.ensemble_.append(clone(base).fit(F[idx], target[idx]))
        return self

    def predict(self, X: Any, return_std: bool = False):
        check_is_fitted(self, "estimator_")
        F, lut = self._features(X)
        mean = lut * np.exp(self.estimator_.predict(F))
        if not return_std:
            return mean
        if not self.ensemble_:
            return mean, np.zeros_like(mean)
        logs = np.stack([est.predict(F) for est in self.ensemble_])
        return mean, mean * logs.std(axis=0)
