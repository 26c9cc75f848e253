"""Each network of the picture, evaluated once: a short retrain for its test accuracy and its latency measured on
the device (:func:`evaluate_arch`, cached in ``evals.csv`` by :class:`EvalCache`), more seeds for the noise
(:func:`seed_runs`), and the one-shot supernet that scores the evolutionary baseline's candidates
(:func:`oneshot_fitness`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UsageError
from ..io import atomic_write
from ..predictors.block_costs import BlockCosts
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.data import DataSplits
from .config import ParetoConfig, search_config

logger = logging.getLogger(__name__)


def device_latency(space: SearchSpace, backend: Any, rounds: int = 3) -> Callable[[ArchSpec], float]:
    """Latency of a network on ``backend`` (ms, the protocol's headline; the least disturbed of ``rounds``, as
    :func:`evaluate_arch` measures): it depends on the architecture only, so an untrained network will do."""
    from ..space.builder import build_model
    from ..train.retrain import least_disturbed

    def measure(arch: ArchSpec) -> float:
        m = least_disturbed(backend, build_model(arch, space).eval(), tuple(space.input_shape), rounds)
        return float(m[m["headline"]])

    return measure


class _DropMessage(logging.Filter):
    """Drops the log records that start with ``prefix``."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def oneshot_fitness(space: SearchSpace, data: DataSplits, cfg: ParetoConfig, run_dir: Path, costs: BlockCosts
                    ) -> Callable[[ArchSpec], float]:
    """Validation accuracy of a child inside a one-shot supernet trained on uniformly random paths for as many
    epochs as one search (warm-up + search), as Once-for-All scores candidates with its supernet."""
    import torch

    from ..search import run_search
    from ..search.run import RunDir
    from ..search.supernet import build_supernet
    from ..train.device import Runtime
    from ..train.training import evaluate

    rd = RunDir(run_dir)
    if not (run_dir / RunDir.ARCH).exists():
        # weights only, on purpose: the search's warning that α never moved (and its advice to run search epochs)
        # would tell a user of `hwnas pareto` about a search they did not ask for; its other warnings still show
        searcher_log = logging.getLogger("hwnas.search.searcher")
        drop = _DropMessage("α never moved")
        searcher_log.addFilter(drop)
        try:
            run_search(space, costs, data, search_config(cfg, None, n_epochs=0,
                                                          warmup_epochs=cfg.warmup_epochs + cfg.search_epochs),
                       run_dir=run_dir, resume=rd.has_checkpoint, log=None)
        finally:
            searcher_log.removeFilter(drop)
    rt = Runtime.create(cfg.device, cfg.amp, cfg.channels_last, space=space)
    net = build_supernet(space, weights=cfg.supernet_weights)
    net.load_state_dict(rd.load_checkpoint()["net"])
    net = rt.place_module(net).eval()

    def fitness(arch: ArchSpec) -> float:
        with torch.no_grad():
            net.set_arch(arch)
            return evaluate(net, data.valid, 256, batch_stats=True, runtime=rt)[1]

    return fitness


class EvalCache:
    """``evals.csv``: one row per retrained and measured architecture, saved after each so a rerun resumes."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                frame = pd.read_csv(path)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise UsageError(f"{path} is not a readable evaluation file ({exc}); move it away to start over") from None
            need = ("arch", "accuracy", "measured_ms")
            if any(c not in frame for c in need) or frame["arch"].map(lambda v: not isinstance(v, str)).any():
                raise UsageError(f"{path} is not an evaluation file of hwnas pareto (columns {', '.join(need)}); move it "
                                 "away to start over")
            for col in ("accuracy", "measured_ms", "predicted_ms", "macs", "params"):
                if col in frame:
                    values = pd.to_numeric(frame[col], errors="coerce")
                    if (frame[col].notna() & values.isna()).any() or (values < 0).any() \
                            or values.isin([float("inf")]).any():
                        raise UsageError(f"{path}: column {col} holds a value that is not a non-negative number; move "
                                         "the file away to start the evaluations over")
                    frame[col] = values
            self.rows = {r["arch"]: r for r in frame.to_dict("records")}

    def get(self, arch: ArchSpec) -> dict[str, Any] | None:
        return self.rows.get(str(arch))

    def put(self, row: dict[str, Any]) -> None:
        self.rows[row["arch"]] = row
        frame = pd.DataFrame(list(self.rows.values()))
        atomic_write(self.path, lambda fh: frame.to_csv(fh, index=False))


# a network measured this much slower than the latency model predicts is measured again (3 more rounds) and the
# least disturbed of all its rounds kept: a machine's passing slowdown can outlast one network's 3 rounds (seen in a
# demo: +46% over the prediction, then 0.8% on measuring again)
REMEASURE_ABOVE = 0.15


def evaluate_arch(arch: ArchSpec, space: SearchSpace, data: DataSplits, backend: Any, costs: BlockCosts,
                  cfg: ParetoConfig, cache: EvalCache) -> dict[str, Any]:
    """Short retrain (test accuracy) and measured latency (the least disturbed of 3 rounds, and of 3 more where
    the first are ``REMEASURE_ABOVE`` over the latency model's prediction) of ``arch``; cached by architecture
    string."""
    from ..train.retrain import RetrainConfig, retrain

    hit = cache.get(arch)
    if hit is not None:
        return hit
    r = retrain(arch, space, data, RetrainConfig(epochs=cfg.retrain_epochs, batch_size=cfg.batch_size, seed=cfg.seed,
                                                 device=cfg.device, amp=cfg.amp, channels_last=cfg.channels_last,
                                                 workers=cfg.workers),
                backend=backend, costs=costs, progress=False, log=None, measure_rounds=3)
    measured = r.measured_ms
    if measured and r.predicted_ms and measured > r.predicted_ms * (1 + REMEASURE_ABOVE):
        again = device_latency(space, backend)(arch)  # the latency depends on the architecture, not the weights
        logger.info(f"{arch}: measured {measured:.4g} ms, {measured / r.predicted_ms - 1:+.0%} against the latency "
                    f"model; measured again: {again:.4g} ms")
        measured = min(measured, again)
    row = {"arch": str(arch), "accuracy": r.test_acc, "measured_ms": measured, "predicted_ms": r.predicted_ms,
           "macs": space.macs(arch), "params": space.params(arch)}
    cache.put(row)
    return row


def seed_runs(archs: list[ArchSpec], space: SearchSpace, data: DataSplits, cfg: ParetoConfig, path: Path,
              first: dict[str, float]) -> pd.DataFrame:
    """Test accuracy of each of ``archs`` retrained with ``cfg.noise_seeds`` more seeds (beside ``first``, its
    accuracy with ``cfg.seed``), saved to ``path`` after each retrain so that a rerun resumes."""
    from ..train.retrain import RetrainConfig, retrain

    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["arch", "seed", "accuracy"])
    rows = done.to_dict("records")
    have = {(str(r["arch"]), int(r["seed"])) for r in rows}
    for arch in archs:
        for seed in range(cfg.seed + 1, cfg.seed + 1 + cfg.noise_seeds):
            if (str(arch), seed) in have:
                continue
            r = retrain(arch, space, data, RetrainConfig(epochs=cfg.retrain_epochs, batch_size=cfg.batch_size,
                                                         seed=seed, device=cfg.device, amp=cfg.amp,
                                                         channels_last=cfg.channels_last, workers=cfg.workers),
                        progress=False, log=None)
            rows.append({"arch": str(arch), "seed": seed, "accuracy": r.test_acc})
            frame = pd.DataFrame(rows)
            atomic_write(path, lambda fh, f=frame: f.to_csv(fh, index=False))
    rows += [{"arch": a, "seed": cfg.seed, "accuracy": acc} for a, acc in first.items()]
    return pd.DataFrame(rows)
