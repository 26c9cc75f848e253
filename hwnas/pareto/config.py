"""``hwnas pareto``'s settings (:class:`ParetoConfig`), its result, and what follows from the settings alone: the
search configuration at a target, the label the searched networks get, and each target's folder name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..search.derive import FILL_BAND

SEARCH, RANDOM, EVOLUTION, REFERENCE = "proxylessnas", "random", "evolution (OFA-style)", "hand-designed"
LARGEST = "largest (most MACs)"  # the network of most MACs under the target: what size alone finds, no search


@dataclass(frozen=True)
class ParetoConfig:
    targets_ms: tuple[float, ...]
    data: str = "digits-hard"
    data_limit: int | None = 600
    method: str = "grad"
    # hwnas.search.shared; None: shared for the methods that train one supernet and score networks on it (spos,
    # ofa), separate (the ProxylessNAS paper's, and what the search-quality benchmark measured) for the searches
    supernet_weights: str | None = None
    # the same as the CLI's (hwnas pareto --epochs, --retrain-epochs, which read these) and the demo's
    search_epochs: int = 6
    warmup_epochs: int = 3
    batch_size: int = 32
    # Adam learning rate of α. 0.01 (not 0.1) for these short searches: measured over 5 seeds in
    # benchmarks/search_quality.py, +2.4 / +1.5 pp over random at 0.2 / 0.4 of the latency range where 0.1 gave
    # +0.7 / -0.5 (at 0.6, where the untrained α's expected latency is already the target, -0.6 against +0.8)
    arch_lr: float = 0.01
    latency_loss: str = "add#abs"
    loss_lambda: float = 1.0
    binary_mode: str = "two"
    retrain_epochs: int = 10
    evo_population: int = 16
    evo_generations: int = 4
    seed: int = 0
    progress: bool = True
    device: str = "auto"            # where searches and retraining run (hwnas.train.device)
    amp: str = "off"
    channels_last: bool | None = None  # None: on for the built-in spaces, off for model spaces
    workers: int | None = None
    # the two fastest networks evaluated are retrained with this many more seeds: the seed-to-seed spread of
    # accuracy that the report weighs the front against (0: not measured)
    noise_seeds: int = 2
    # the exported network is filled up to within this share under its target (hwnas.search.derive.fit_to_target)
    fill_band: float = FILL_BAND
    # the exported network is measured on the device and refitted while it is more than this share off its target
    # (0: not checked; the latency model alone decides)
    export_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.supernet_weights is None:
            from ..search.methods import get_method

            object.__setattr__(self, "supernet_weights", "shared" if get_method(self.method).search else "separate")


@dataclass
class ParetoResult:
    points: pd.DataFrame
    summary: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flatness: dict[str, Any] = field(default_factory=dict)


def search_config(cfg: ParetoConfig, target: float | None, **over: Any):
    from ..search import SearchConfig

    kw = dict(method=cfg.method, target_ms=target, n_epochs=cfg.search_epochs, warmup_epochs=cfg.warmup_epochs,
              batch_size=cfg.batch_size, arch_optim_lr=cfg.arch_lr, grad_update_arch_param_every=1,
              binary_mode=cfg.binary_mode, init_lr=0.05, supernet_weights=cfg.supernet_weights, latency_loss=cfg.latency_loss, loss_lambda=cfg.loss_lambda,
              seed=cfg.seed, progress=cfg.progress, device=cfg.device, amp=cfg.amp, channels_last=cfg.channels_last,
              workers=cfg.workers)
    from ..search.methods import get_method

    if get_method(cfg.method).optim in ("reinforce", "enas"):
        kw.update(rl_preset="hard", rl_samples=4)
    kw.update(over)
    return SearchConfig(**kw)


def search_label(cfg: ParetoConfig) -> str:
    """The searched networks' method in points.csv: ``proxylessnas`` for ProxylessNAS (gradient or REINFORCE), else
    the method's name."""
    from ..search.methods import canonical

    name = canonical(cfg.method)
    return SEARCH if name in ("proxyless-g", "proxyless-r") else name


def trains_once(cfg: ParetoConfig) -> bool:
    """Whether the method trains one supernet and searches it per target (spos, ofa) rather than searching anew."""
    from ..search.methods import get_method

    return get_method(cfg.method).search


def target_dir(t: float) -> str:
    """``T6``, ``T0.45``: four significant digits when they name ``t`` exactly (as before), else every digit, so
    two targets never share a folder (``T0.30001`` and ``T0.30002``, not both ``T0.3``)."""
    short = f"{t:.4g}"
    return f"T{short}" if float(short) == t else f"T{t!r}"
