"""``ProxylessNasTrainer``: the seed's (NNI's) trainer API over :func:`hwnas.search.run_search`.

Every argument of NNI's ``ProxylessNasTrainer`` keeps its name and default (``model_optim``, ``device``,
``train_loader``, ``valid_loader``, ``label_smoothing``, ``n_epochs``, ``init_lr``, ``binary_mode``,
``arch_init_type``, ``arch_init_ratio``, ``arch_optim_lr``, ``arch_weight_decay``, ``grad_update_arch_param_every``,
``grad_update_steps``, ``warmup``, ``warmup_epochs``, ``arch_valid_frequency``, ``load_ckpt``, ``ckpt_path``,
``arch_path``); hwnas adds the latency model and target (keywords after those).

``model`` is an hwnas :class:`~hwnas.space.SearchSpace` (the supernet is built from it). ``model_optim`` is the
weight optimiser: a factory ``params -> torch.optim.Optimizer`` (e.g. ``functools.partial(torch.optim.SGD,
lr=0.05, momentum=0.9)``) or ``None`` for SGD with Nesterov momentum; as in NNI, its learning rate follows a cosine
schedule from ``init_lr``. ``ckpt_path`` is the run directory (checkpoint after every epoch; ``load_ckpt=True``
continues it); ``arch_path`` receives the exported architecture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..io import atomic_write_json
from ..predictors.block_costs import BlockCosts
from ..space.spaces import SearchSpace
from .config import SearchConfig
from .searcher import SearchResult, run_search

logger = logging.getLogger(__name__)


class ProxylessNasTrainer:
    def __init__(self, model: SearchSpace, model_optim: Any = None, device: Any = None, train_loader: Any = None,
                 valid_loader: Any = None, label_smoothing: float = 0.1, n_epochs: int = 120, init_lr: float = 0.025,
                 binary_mode: str = "full_v2", arch_init_type: str = "normal", arch_init_ratio: float = 1e-3,
                 arch_optim_lr: float = 1e-3, arch_weight_decay: float = 0, grad_update_arch_param_every: int = 5,
                 grad_update_steps: int = 1, warmup: bool = True, warmup_epochs: int = 25,
                 arch_valid_frequency: int = 1, load_ckpt: bool = False, ckpt_path: str | None = None,
                 arch_path: str | None = None, *, latency: BlockCosts | str | Path | None = None,
                 target_ms: float | None = None, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 amp: str = "off", seed: int = 0, batch_size: int | None = None, **search_settings: Any):
        self.model = model
        self.model_optim = model_optim
        self.device = device
        self.train_loader = train_loader
        self.valid_loader = valid_loader
        self.label_smoothing = label_smoothing
        self.n_epochs = n_epochs
        self.init_lr = init_lr
        self.binary_mode = binary_mode
        self.arch_init_type = arch_init_type
        self.arch_init_ratio = arch_init_ratio
        self.arch_optim_lr = arch_optim_lr
        self.arch_weight_decay = arch_weight_decay
        self.grad_update_arch_param_every = grad_update_arch_param_every
        self.grad_update_steps = grad_update_steps
        self.warmup = warmup
        self.warmup_epochs = warmup_epochs
        self.arch_valid_frequency = arch_valid_frequency
        self.load_ckpt = load_ckpt
        self.ckpt_path = ckpt_path
        self.arch_path = arch_path
        self.latency = latency
        self.target_ms = target_ms
        self.loss = loss
        self.amp = amp
        self.seed = seed
        self.batch_size = batch_size
        self.search_settings = search_settings
        self.result_: SearchResult | None = None

    # ---- what the settings resolve to ------------------------------------------------------------------------
    def config(self) -> SearchConfig:
        if isinstance(self.model_optim, torch.optim.Optimizer):
            raise UsageError("model_optim: pass a factory params -> Optimizer (e.g. functools.partial("
                             "torch.optim.SGD, momentum=0.9)); the supernet's weights are built by the trainer")
        batch = self.batch_size or getattr(self.train_loader, "batch_size", None) or 64
        return SearchConfig(
            target_ms=self.target_ms, seed=self.seed, n_epochs=self.n_epochs, warmup=self.warmup,
            warmup_epochs=self.warmup_epochs, batch_size=int(batch), init_lr=self.init_lr,
            label_smoothing=self.label_smoothing, grad_update_arch_param_every=self.grad_update_arch_param_every,
            grad_update_steps=self.grad_update_steps, arch_valid_frequency=self.arch_valid_frequency,
            binary_mode=self.binary_mode, arch_init_type=self.arch_init_type, arch_init_ratio=self.arch_init_ratio,
            arch_optim_lr=self.arch_optim_lr, arch_weight_decay=self.arch_weight_decay,
            device=str(self.device) if self.device is not None else "auto", amp=self.amp,
            **self.search_settings)

    def costs(self) -> BlockCosts:
        if isinstance(self.latency, BlockCosts):
            return self.latency
        if self.latency is None:
            # accuracy only: a zero latency model (no target may be set)
            if self.target_ms is not None:
                raise UsageError("target_ms needs a latency model: latency=BlockCosts or a table/predictor path")
            return BlockCosts(0.0, tuple((0.0,) * len(p.choices) for p in self.model.positions()))
        from ..predictors.loader import load_latency_model

        path = str(self.latency)
        kw = {"predictor": path} if path.endswith(".joblib") else {"table": path}
        return load_latency_model(space=self.model, **kw).costs

    # ---- NNI's methods --------------------------------------------------------------------------------------
    def train(self) -> SearchResult:
        """Warm-up, then search; checkpoints in ``ckpt_path`` (a temporary directory if None)."""
        if self.train_loader is None or self.valid_loader is None:
            raise UsageError("ProxylessNasTrainer needs train_loader and valid_loader")
        self.result_ = run_search(self.model, self.costs(), None, self.config(), run_dir=self.ckpt_path,
                                  resume=self.load_ckpt, train_loader=self.train_loader,
                                  valid_loader=self.valid_loader, loss_fn=self.loss,
                                  weight_optimizer=self.model_optim)
        if self.arch_path:
            self.export(self.arch_path)
        return self.result_

    def export(self, file: str | Path) -> Path:
        """Write the chosen architecture: hwnas's ``arch.json`` record (readable by ``hwnas retrain``)."""
        if self.result_ is None:
            raise UsageError("call train() before export()")
        path = Path(file)
        atomic_write_json(path, self.result_.exported.to_dict())
        return path
