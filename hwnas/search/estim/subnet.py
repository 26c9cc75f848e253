"""``subnet`` (ModularNAS ``SubNetEstimator``): every architecture a derivative-free optimizer proposes is trained
on its own, from scratch, for ``epochs_each`` epochs on the training split (``hwnas.train.retrain``), and scored by
its accuracy on the held-out split. No weight is shared, so the scores are what training gives, at the price of a
training per candidate: the multi-trial mode inside one search run (``hwnas multitrial`` runs the same kind of
study on Optuna, across processes and machines)."""

from __future__ import annotations

from typing import Any

from ...errors import UsageError
from .base import ESTIMATORS, SearchState
from .inherited import InheritedAccuracy


@ESTIMATORS.register("subnet", "SubNetEstimator")
class SubNet(InheritedAccuracy):
    phase = "subnet"

    def __init__(self, *, epochs: int, per_round: int = 8, epochs_each: int = 2, band: float = 0.05,
                 tie: float = 0.0):
        # tie (the pick among scores within tie standard errors) is 0 here: measured on supernet scores only
        super().__init__(epochs=epochs, per_round=per_round, recalibrate_batches=0, band=band, tie=tie)
        if epochs_each < 1:
            raise UsageError("subnet: epochs_each must be >= 1")
        self.epochs_each = epochs_each

    def _check_scoring(self, st: SearchState) -> None:
        """Each candidate is trained and scored as it is: no BatchNorm setting applies."""

    def check(self, st: SearchState) -> None:
        if st.data is None:  # pragma: no cover - refused before the run starts (run_search checks the data)
            raise UsageError("the subnet estimator trains each candidate on the search's data splits; it cannot run "
                             "on the user's own DataLoaders")
        super().check(st)

    def score(self, st: SearchState, idx: list[int]) -> float:
        from dataclasses import replace

        from ...train.retrain import RetrainConfig, retrain

        arch = st.net.space.from_indices(idx)
        key = arch.to_string()
        cache = st.extra.setdefault("scores", {})
        if key not in cache:
            cfg = st.cfg
            # trained on the training split only and tested on the held-out one: the search never sees the test set
            import torch.utils.data

            split = replace(st.data, test=st.data.valid, valid=torch.utils.data.Subset(st.data.valid, []))
            res = retrain(arch, st.net.space, split, RetrainConfig(
                epochs=self.epochs_each, batch_size=cfg.batch_size, lr=cfg.init_lr * 2, seed=cfg.seed,
                device=str(st.rt.device), amp=st.rt.amp, channels_last=st.rt.channels_last, workers=cfg.workers,
                label_smoothing=cfg.label_smoothing),
                progress=False, log=None, formats=())
            cache[key] = float(res.test_acc)
            st.extra["new_scores"] = st.extra.get("new_scores", 0) + 1
        return cache[key]

    def describe(self) -> dict[str, Any]:
        own = {k: v for k, v in super().describe().items() if k != "bn"}  # each candidate is trained: no BN choice
        return {**own, "epochs_each": self.epochs_each}
