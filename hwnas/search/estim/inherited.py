"""``inherited``: search a trained supernet without training it (Once-for-All's and SPOS's second half; ModularNAS's
supernet estimator driven by ``EvolutionOptim``). Each epoch is one round of a derivative-free optimizer: it
proposes architectures, each is scored by its accuracy on the held-out split with the supernet's weights, and the
optimizer learns from the scores.

- Scoring a candidate: its accuracy on the held-out split with the supernet's weights. The supernet's BatchNorm
  running statistics mix every path and fit none, so (``bn="batch"``, the default) the path is run inside the
  supernet with each held-out batch normalised by its own statistics; no child is built and nothing is
  re-estimated. ``bn="recalibrate"`` (the default before; SPOS's and Once-for-All's recipe): the child network is
  cut out of the supernet (its weights are slices of the shared ones), its BatchNorm statistics are re-estimated
  on ``recalibrate_batches`` training batches, and it is evaluated. Its calibration images are one fixed draw, the
  same for every candidate (Once-for-All's fixed calibration subset). Either way a score depends on the
  architecture alone, not on when it was scored (read the held-out batches in order). On
  ``examples/chain_space.py`` ``batch`` ranks networks as ``recalibrate`` does (``benchmarks/scoring_cost.py``) at
  2.4x less a score; with a population of 50 (the default) a target costs 4.4-4.6x less than before, and the
  networks found were level with the old defaults' (``benchmarks/search_quality_model.py``). Scores are cached per architecture in the run (``scores.csv``) and, when the supernet comes from another run (``--supernet RUN``), in that run too
  (``RUN/scores-<digest>.csv``), so every later target and device reuses them.
- The latency constraint: proposals the latency model (or ``latency_fn``) puts over the target, or more than
  ``band`` under it, are drawn again, so every network found lands within the band under its target.
- ``predictor`` > 0: an accuracy predictor (Once-for-All's: a small MLP over the one-hot architecture encoding,
  scikit-learn's ``MLPRegressor``) is fitted on that many random architectures of the whole space (the same ones
  for every search of a supernet, so their scores come from its cache after the first), and the optimizer then
  learns from its predictions; the ``top_k`` best predicted are scored for real at the end: what a new target
  costs.
- The pick: the best score within the band, or with ``tie`` > 0 the network of most MACs among those scored
  within ``tie`` standard errors of the best (the binomial standard error of an accuracy over the held-out images).
  The supernet cannot tell those apart (400 held-out images at 85% give 1.8 pp), and taking the best of many
  noisy scores picks noise (the winner's curse); among networks it cannot tell apart, the larger one is the
  better bet.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import RandomSampler, Subset

from ...errors import OutputError, UsageError
from ...io import atomic_write
from ...space.builder import build_model
from ...train.data import ImageSet, make_loader
from ...train.data.loaders import default_workers
from ...train.deploy import recalibrate_bn
from ...train.training import evaluate, generator
from .base import ESTIMATORS, Estimator, SearchState

logger = logging.getLogger(__name__)

SCORES = "scores.csv"
SAVE_EVERY = 20  # scores between two saves of the score caches within a round (the predictor's sample is long)
PREDICTOR_SAMPLES_SEED = 25  # the accuracy predictor's sample set: one per supernet, whatever the search's seed
CALIBRATION_SEED = 5  # the BatchNorm calibration batches: one set per supernet and data, whatever the search's seed
# a score's BatchNorm statistics: each held-out batch's own, in the supernet (the default), or re-estimated on
# training batches in the child (the default before: its score caches keep their names)
BN_MODES = ("batch", "recalibrate")
MIN_STAT_BATCH = 32  # bn=batch: held-out batches smaller than this get a warning (noisy statistics)


@ESTIMATORS.register("inherited", "SuperNetEvaluator", "evolve")
class InheritedAccuracy(Estimator):
    phase = "evolve"
    trains = False

    def __init__(self, *, epochs: int, per_round: int = 50, recalibrate_batches: int = 10, band: float = 0.05,
                 predictor: int = 0, top_k: int = 10, tie: float = 1.0, bn: str = "batch"):
        super().__init__(epochs=epochs)
        if per_round < 1 or recalibrate_batches < 0 or not 0 <= band < 1 or predictor < 0 or top_k < 1 \
                or not 0 <= tie <= 10:
            raise UsageError("inherited: per_round >= 1, recalibrate_batches >= 0, 0 <= band < 1, predictor >= 0, "
                             "top_k >= 1 and 0 <= tie <= 10")
        if bn not in BN_MODES:
            raise UsageError(f"inherited: bn is one of {', '.join(BN_MODES)}, not {bn!r}")
        self.per_round, self.recalibrate_batches, self.band = per_round, recalibrate_batches, float(band)
        self.predictor, self.top_k, self.tie, self.bn = predictor, top_k, float(tie), bn

    # ---- set-up -------------------------------------------------------------------------------------------------
    def validate(self, cfg: Any, space: Any, costs: Any, optim: Any, latency_fn: Any) -> None:
        if not optim.derivative_free:
            raise UsageError(f"the {self.name} estimator scores architectures that a derivative-free optimizer "
                             f"proposes (evolution, regularized-evolution, random, grid), not {optim.name}")
        if optim.name == "evolution" and self.per_round != ESTIMATORS.settings(self.name)["per_round"]:
            logger.warning(f"per_round ({self.per_round}) is how many architectures random, grid and "
                           f"regularized-evolution propose in a round; evolution proposes a generation of its "
                           f"population ({optim.population}) and ignores it: set that instead "
                           f"(--optim-arg population=N)")
        if cfg.target_ms is not None and latency_fn is None:
            check_target(cfg.target_ms, costs.min_ms(), costs.max_ms(), self.band)

    def check(self, st: SearchState) -> None:
        t = st.cfg.target_ms
        space = st.net.space

        def latency(idx: list[int]) -> float:
            if st.latency_fn is None:  # the block costs are per decision: no architecture to build
                return st.costs.indices_ms(idx)
            return float(st.latency_fn(space.from_indices(idx)))

        def feasible(idx: list[int]) -> bool:
            if t is None:
                return True
            lat = latency(idx)
            return t * (1 - self.band) <= lat <= t

        def repair(rng: np.random.Generator) -> list[int]:
            """A random architecture moved into the band: random per-decision probabilities, fitted to the target
            by the export's own fitting (cheaper where over, richer where under)."""
            from ..derive import fit_to_target

            p = tuple(tuple(float(v) for v in rng.dirichlet(np.ones(n))) for n in sizes)
            return space.indices(fit_to_target(p, st.costs, space, t, fill=self.band))

        if st.ctx.is_main:
            self._check_scoring(st)
        sizes = [d.n for d in st.net.decisions()]
        st.optim.bind_space(sizes, feasible, repair if t is not None else None)
        st.extra["latency"] = latency

    # ---- scoring ------------------------------------------------------------------------------------------------
    def _check_scoring(self, st: SearchState) -> None:
        """Warnings for scoring settings that do nothing, or do it badly, with this ``bn``."""
        if self.bn != "batch":
            return
        if self.recalibrate_batches != ESTIMATORS.settings(self.name)["recalibrate_batches"]:
            logger.warning(f"recalibrate_batches ({self.recalibrate_batches}) is used by bn=recalibrate only; this "
                           f"search scores with bn=batch (each held-out batch's own statistics) and ignores it")
        if isinstance(getattr(st.eval_loader, "sampler", None), RandomSampler):
            logger.warning("bn=batch normalises each held-out batch by its own statistics, and the held-out loader "
                           "shuffles: a score then depends on which images share its batches, so the same network "
                           "scores differently from pass to pass; give a loader with shuffle=False (or bn=recalibrate)")
        batch = getattr(st.eval_loader, "batch_size", None)
        if batch and batch < MIN_STAT_BATCH:
            logger.warning(f"bn=batch normalises each held-out batch by its own statistics; batches of {batch} "
                           f"images give noisy ones (use {MIN_STAT_BATCH} or more, or bn=recalibrate)")

    def _loaders(self, st: SearchState) -> tuple[Any, Any]:
        """The calibration batches (drawn once, the same for every candidate and every search of a supernet, as
        the supernet's score cache assumes) and the held-out loader."""
        if "calib_batches" not in st.extra:
            if st.data is not None:
                # a fixed draw of recalibrate_batches x the global batch of images, read in order: every pass
                # yields the same batches, and nothing is held in memory between candidates
                train = st.data.train.with_augment(False) if isinstance(st.data.train, ImageSet) else st.data.train
                n = min(len(train), self.recalibrate_batches * st.gb)
                keep = torch.randperm(len(train), generator=generator(CALIBRATION_SEED))[:n].tolist()
                workers = st.cfg.workers if st.cfg.workers is not None else default_workers(train, st.rt.device)
                calib: Any = make_loader(Subset(train, keep), st.gb, shuffle=False, workers=workers,
                                         device=st.rt.device)
            else:  # the user's DataLoader: its first batches, kept for every candidate (the same images only
                # across searches where the user's loader draws them from its own seeded generator)
                calib = list(itertools.islice(st.train_loader, self.recalibrate_batches))
            st.extra["calib_batches"] = calib
        return st.extra["calib_batches"], st.eval_loader

    def score(self, st: SearchState, idx: list[int]) -> float:
        """Held-out accuracy of the path with the supernet's weights (BatchNorm statistics as ``bn`` says)."""
        key = st.net.space.from_indices(idx).to_string()
        cache = st.extra.setdefault("scores", {})
        if key in cache:
            return cache[key]
        if self.bn == "batch":
            # every rank scores the whole held-out split: without synchronised BatchNorm, statistics over a rank's
            # share of a batch would make a score depend on the number of processes (the cache is shared by
            # searches with any); with it, the ranks compute the same statistics, redundantly
            cache[key] = batch_stat_accuracy(st.net, idx, st.eval_loader, st.rt, batch_size=st.gb)
        else:
            calib, valid = self._loaders(st)
            cache[key] = inherited_accuracy(st.net, st.net.space.from_indices(idx), calib, valid, st.rt,
                                            self.recalibrate_batches, batch_size=st.gb, dist=st.ctx)
        st.extra["new_scores"] = st.extra.get("new_scores", 0) + 1
        if st.extra["new_scores"] % SAVE_EVERY == 0:  # a kill loses at most SAVE_EVERY scores
            save_cache(st)
        return cache[key]

    def _fit_predictor(self, st: SearchState) -> Any:
        """Once-for-All's accuracy predictor, fitted once per search on ``predictor`` architectures drawn over the
        whole space by a fixed generator (not within this target's band): every search of one supernet, at any
        target and under any latency model, draws the same ones, finds their scores in the supernet's cache and
        fits the same predictor, so a new target costs only its ``top_k`` real scores."""
        if "accuracy_model" in st.extra:
            return st.extra["accuracy_model"]
        sizes = st.optim.sizes
        rng = np.random.default_rng(PREDICTOR_SAMPLES_SEED)
        drawn = [[int(rng.integers(n)) for n in sizes] for _ in range(self.predictor)]
        xs = np.array([_one_hot(i, sizes) for i in drawn])
        ys = np.array([self.score(st, i) for i in drawn])
        # the fit is deterministic in (xs, ys): its weights are kept beside the score cache, so a later search of
        # the same supernet loads them instead of fitting again
        digest = hashlib.sha256(xs.tobytes() + ys.tobytes()).hexdigest()[:12]
        path = cache_files(st)[-1].with_name(f"accuracy-mlp-{digest}.npz")
        model = _load_mlp(path)
        if model is None:
            # imported only to fit: a search that loads a kept fit goes without it (a ~1 s import)
            from sklearn.neural_network import MLPRegressor

            fitted = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=2000, random_state=0).fit(xs, ys)
            model = MLP(fitted.coefs_, fitted.intercepts_)
            if st.ctx.is_main:
                try:
                    atomic_write(path, lambda fh: np.savez(fh, **model.arrays()), mode="wb")
                except (OSError, OutputError):  # an unwritable supernet folder costs the next search a fit
                    pass
        st.extra["accuracy_model"] = model
        return model

    # ---- one round ----------------------------------------------------------------------------------------------
    def run_epoch(self, st: SearchState, epoch: int, stage_epoch: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        load_cache(st)
        st.extra["new_scores"] = 0
        model = None
        if self.predictor:
            model = self._fit_predictor(st)
        proposals = st.optim.ask(self.per_round)
        if model is not None and proposals:
            predicted = model.predict(np.array([_one_hot(idx, st.optim.sizes) for idx in proposals]))
        for i, idx in enumerate(proposals):
            st.optim.tell(idx, float(predicted[i]) if model is not None else self.score(st, idx))
        if model is not None and stage_epoch == self.epochs - 1:  # the best predicted, scored for real
            ranked = sorted(st.optim.scores.items(), key=lambda kv: kv[1], reverse=True)[:self.top_k]
            st.extra["final"] = {k: self.score(st, list(k)) for k, _ in ranked}
        save_cache(st)
        best = self.best(st)
        row: dict[str, Any] = {"epoch": epoch + 1, "phase": self.phase, "round": stage_epoch + 1,
                               "proposed": len(proposals), "scored": len(st.extra.get("scores", {})),
                               "new_scores": st.extra["new_scores"], "train_s": round(time.perf_counter() - t0, 4),
                               "target_ms": st.cfg.target_ms}
        if best is not None:
            arch = st.net.space.from_indices(best[0])
            row.update(best_score=best[1], best_arch=arch.to_string(), best_ms=st.extra["latency"](best[0]),
                       # the best score among the networks the pick chose from (tie: the pick may score lower)
                       top_score=st.extra.get("top_score", best[1]),
                       # before the last round's top_k are scored for real, the best is the predictor's estimate
                       best_is="predicted" if model is not None and "final" not in st.extra else "scored")
            t = st.cfg.target_ms
            if stage_epoch == self.epochs - 1 and t is not None and row["best_ms"] < t * (1 - self.band) \
                    and st.ctx.is_main:
                logger.warning(f"no network scored lies within {self.band:.0%} under the target {t:.4g} ms (the "
                               f"space may have none there): the best one found is at {row['best_ms']:.4g} ms, "
                               f"{1 - row['best_ms'] / t:.0%} under it")
        return row

    def best(self, st: SearchState) -> tuple[list[int], float] | None:
        """The best architecture scored for real (with a predictor: among the re-scored ``top_k``) within the band
        under the target; where the space has none there (a coarse space), the best under the target."""
        final = st.extra.get("final")
        pool = {k: v for k, v in (final or st.optim.scores).items()}
        t = st.cfg.target_ms
        for ok in (lambda k: st.optim.feasible(list(k)),
                   lambda k: t is None or st.extra["latency"](list(k)) <= t):
            feasible = {k: v for k, v in pool.items() if ok(k)}
            if feasible:
                k = self._pick(st, feasible)
                st.extra["top_score"] = max(feasible.values())
                return list(k), feasible[k]
        return None

    def _pick(self, st: SearchState, scored: dict[tuple[int, ...], float]) -> tuple[int, ...]:
        """The best score; with ``tie``, the most MACs among the scores within ``tie`` standard errors of it."""
        top = max(scored, key=lambda k: scored[k])
        n = held_out_size(st)
        if not self.tie or not n:
            return top
        p = min(max(scored[top], 0.0), 1.0)  # a predicted score may fall outside [0, 1]
        floor = scored[top] - self.tie * math.sqrt(p * (1 - p) / n)
        space = st.net.space
        return max((k for k, v in scored.items() if v >= floor),
                   key=lambda k: (space.macs(space.from_indices(list(k))), scored[k]))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "per_round": self.per_round, "recalibrate_batches": self.recalibrate_batches,
                "band": self.band, "predictor": self.predictor, "top_k": self.top_k, "tie": self.tie, "bn": self.bn}


def held_out_size(st: SearchState) -> int | None:
    """How many images a score is the accuracy over: the held-out loader's sampler's length (a user's loader may
    sample part of its dataset), else its dataset's; None where neither says (the pick is then the best score)."""
    for size in (lambda: len(st.eval_loader.sampler), lambda: len(st.eval_loader.dataset)):
        try:
            return int(size())
        except (AttributeError, TypeError):
            continue
    return None


def check_target(t: float, lo: float, hi: float, band: float) -> None:
    """One line where no network of the latency range ``[lo, hi]`` can land within ``band`` under the target."""
    if not lo <= t:
        raise UsageError(f"target {t:.4g} ms is below the fastest architecture ({lo:.4g} ms)")
    if t * (1 - band) > hi:
        raise UsageError(f"target {t:.4g} ms minus the band ({band:.0%}) is above the slowest architecture "
                         f"({hi:.4g} ms): no architecture lands within the band; raise band or lower the target")


def batch_stat_accuracy(net: Any, idx: list[int], valid: Any, runtime: Any, *, batch_size: int = 256) -> float:
    """Accuracy on ``valid`` of the path ``idx`` run inside the supernet ``net``, each batch normalised by its own
    BatchNorm statistics (the supernet's running averages are left as they are)."""
    net.set_indices(idx)
    return float(evaluate(net, valid, batch_size, batch_stats=True, runtime=runtime)[1])


def inherited_accuracy(net: Any, arch: Any, calib: Any, valid: Any, runtime: Any, batches: int, *,
                       batch_size: int = 256, dist: Any = None) -> float:
    """Accuracy on ``valid`` of ``arch`` cut out of the supernet ``net`` (its weights are slices of the shared
    ones), its BatchNorm statistics re-estimated on ``batches`` batches of ``calib`` first (0: the supernet's)."""
    child = build_model(arch, net.space)
    child.load_state_dict(net.child_state_dict(arch))
    child = runtime.place_module(child)
    if batches:
        recalibrate_bn(child, calib, batches, runtime)
    return float(evaluate(child, valid, batch_size, dist=dist, runtime=runtime)[1])


class MLP:
    """A fitted ``MLPRegressor``'s forward pass (ReLU hidden layers, identity output) from its weights alone, so
    that they can be kept in an ``.npz`` (no pickle) and loaded by later searches."""

    def __init__(self, coefs: list[np.ndarray], intercepts: list[np.ndarray]):
        if len(coefs) != len(intercepts) or not coefs:
            raise ValueError("one intercept per weight matrix")
        self.coefs = [np.asarray(c, dtype=float) for c in coefs]
        self.intercepts = [np.asarray(b, dtype=float) for b in intercepts]

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=float)
        for w, b in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return (h @ self.coefs[-1] + self.intercepts[-1]).ravel()

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"w{i}": w for i, w in enumerate(self.coefs)}, **{f"b{i}": b for i, b in enumerate(self.intercepts)}}


def _load_mlp(path: Path) -> MLP | None:
    """The weights kept by an earlier search, or None (none yet, or a damaged file: fitted again)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            n = len([k for k in z.files if k.startswith("w")])
            return MLP([z[f"w{i}"] for i in range(n)], [z[f"b{i}"] for i in range(n)])
    except (OSError, ValueError, KeyError):
        return None


def _one_hot(idx: list[int], sizes: list[int]) -> list[float]:
    out: list[float] = []
    for i, n in zip(idx, sizes, strict=True):
        out += [1.0 if j == i else 0.0 for j in range(n)]
    return out


# ---- the score cache ------------------------------------------------------------------------------------------
def cache_files(st: SearchState) -> list[Path]:
    """This run's ``scores.csv`` and, for a supernet from another run, that run's cache for these scoring settings
    (a digest of the checkpoint's epoch, the data and the estimator settings)."""
    files = [st.rd.file(SCORES)]
    sup = st.extra.get("supernet_dir")
    if sup is not None:
        # the pick among scores (tie) changes no score: searches that differ in it share the cache; bn keys only
        # where it is not "recalibrate" (the only way before it existed: those caches keep their names)
        scoring = {k: v for k, v in (st.extra.get("scoring") or {}).items()
                   if k != "tie" and not (k == "bn" and v == "recalibrate")}
        key = json.dumps({"epoch": st.extra.get("supernet_epoch"), "data": st.extra.get("data_desc"),
                          "estimator": scoring or None,
                          # the calibration images: a draw of CALIBRATION_SEED in batches of the global batch
                          "calibration": {"seed": CALIBRATION_SEED, "batch": st.gb,
                                          "from": "data" if st.data is not None else "the training loader"}},
                         sort_keys=True)
        files.append(Path(sup) / f"scores-{hashlib.sha256(key.encode()).hexdigest()[:12]}.csv")
    return files


def _read_scores(f: Path, into: dict[str, float]) -> None:
    if not f.exists():
        return
    try:
        for line in f.read_text().splitlines()[1:]:
            arch, _, score = line.rpartition(",")
            v = float(score)
            if arch and math.isfinite(v) and 0 <= v <= 1:
                into.setdefault(arch, v)
    except (OSError, ValueError):  # a damaged cache is only lost time: scores are computed again
        return


def load_cache(st: SearchState) -> None:
    cache = st.extra.setdefault("scores", {})
    for f in cache_files(st):
        _read_scores(f, cache)


def save_cache(st: SearchState) -> None:
    """Atomic writes of every score known. The supernet's cache, which other searches of it write too, is read
    again just before and merged, so two searches at once keep each other's scores (but for the rows one of them
    adds within that moment, which the cache then misses and a later search computes again)."""
    if not st.ctx.is_main:
        return
    cache = st.extra.get("scores", {})
    for i, f in enumerate(cache_files(st)):
        rows = dict(cache)
        if i > 0:
            _read_scores(f, rows)
        text = "arch,score\n" + "".join(f"{a},{v!r}\n" for a, v in sorted(rows.items()))
        try:
            atomic_write(f, lambda fh, text=text: fh.write(text))
        except OSError:
            if i == 0:
                raise

