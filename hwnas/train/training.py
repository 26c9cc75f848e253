"""Pieces shared by search and retraining: seeded model building, optimisers, the cosine LR, evaluation."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from .data import make_loader
from .device import Runtime

M = TypeVar("M", bound=nn.Module)
# a weight optimiser given as a factory: params -> torch.optim.Optimizer (e.g. functools.partial(torch.optim.SGD, ...))
WeightOptimizer = Callable[[list[nn.Parameter]], torch.optim.Optimizer]


def seeded(build: Callable[[], M], seed: int) -> M:
    """Build a module with its weights initialised from ``seed``, leaving the global random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def sgd(params: list[nn.Parameter], *, lr: float, momentum: float, nesterov: bool, weight_decay: float
        ) -> torch.optim.SGD:
    """SGD with weight decay on conv / linear weights only (not on BatchNorm or biases)."""
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0)


def cosine_lr(base: float, step: int, total: int) -> float:
    return 0.5 * base * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


@contextlib.contextmanager
def batch_stat_bn(net: nn.Module) -> Iterator[None]:
    """Evaluate with each batch's own BatchNorm statistics, without touching the running averages (the shared
    running statistics of a supernet mix many paths and fit none), and with dropout off."""
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in net.modules()]
    try:
        net.eval()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
                m.track_running_stats = False  # use batch statistics, leave the running buffers alone
        yield
    finally:
        for m, training, track in saved:
            m.training = training
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.track_running_stats = track


def evaluate(net: nn.Module, data: Any, batch_size: int, *, batch_stats: bool = False,
             label_smoothing: float = 0.0, dist: Any = None, workers: int | None = None,
             runtime: Runtime | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) over ``data`` (a dataset, read in order, or a DataLoader); ``batch_stats`` uses
    per-batch BatchNorm statistics (supernets). Batches reach the network through ``runtime`` (the run's device,
    channels-last and mixed precision; default: wherever the network is, fp32); the sums stay on the device until
    the end (no host sync per batch).

    ``dist`` (a :class:`hwnas.train.distributed.DistContext`): every rank evaluates its share of each batch of
    ``batch_size`` images and the totals are summed over ranks."""
    loader = data if isinstance(data, DataLoader) else make_loader(data, batch_size, shuffle=False, workers=workers)
    rt = runtime or Runtime.of(net)
    sums = torch.zeros(2, dtype=torch.float64, device=rt.device)  # loss, correct
    seen = 0
    ctx = batch_stat_bn(net) if batch_stats else _eval_mode(net)
    prev = None  # the last batch seen: a batch of one image takes its per-batch statistics together with it
    with torch.no_grad(), ctx:
        for x, y in loader:
            seen += len(y)
            if dist is not None:
                x, y = dist.shard(x, y)
            if len(y) == 0:
                continue
            x, y = rt.place_batch(x, y)
            with rt.autocast():
                try:
                    out = net(x)
                except ValueError as exc:
                    # per-batch BatchNorm on one value per channel (a BatchNorm1d after pooling, a batch of one
                    # image) is undefined: the image is normalised together with the previous batch, scored alone
                    if not (batch_stats and len(y) == 1 and prev is not None and "more than 1 value" in str(exc)):
                        raise
                    out = net(torch.cat([prev, x]))[-1:]
            prev = x
            out = out.float()
            sums[0] += F.cross_entropy(out, y, label_smoothing=label_smoothing, reduction="sum")
            sums[1] += (out.argmax(1) == y).sum()
    if seen == 0:
        return float("nan"), float("nan")
    totals = sums.cpu()
    if dist is not None and dist.enabled:
        totals = dist.all_reduce_sum(totals)
    return float(totals[0]) / seen, round(float(totals[1])) / seen


@contextlib.contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    was = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was)


def rng_state(gens: dict[str, torch.Generator]) -> dict[str, Any]:
    return {"generators": {k: g.get_state() for k, g in gens.items()}, "torch": torch.get_rng_state()}


def restore_rng_state(gens: dict[str, torch.Generator], state: dict[str, Any]) -> None:
    for k, g in gens.items():
        g.set_state(state["generators"][k])
    torch.set_rng_state(state["torch"])
