"""The search loop: warm-up on random single paths, then weight steps on ``train`` interleaved with
architecture steps (gradient or REINFORCE) on the held-out ``valid`` split; a checkpoint after every epoch."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import HwnasError, UsageError
from ..io import output_lock
from ..predictors.block_costs import BlockCosts, expected_latency_ms
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.data import DataSplits, cycle, make_loader
from ..train.device import Runtime
from ..train.distributed import SINGLE, DistContext, setup
from ..train.training import (
    WeightOptimizer,
    cosine_lr,
    evaluate,
    generator,
    restore_rng_state,
    rng_state,
    seeded,
    set_lr,
    sgd,
)
from .config import SearchConfig
from .export import ExportedArch, export_arch, save_exported
from .gradient import GradientArchStep
from .latency_loss import check_latency_loss
from .reinforce import ReinforceArchStep
from .run import RunDir, RunError, temp_run_dir
from .supernet import Supernet, build_supernet

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, Any]], None]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SearchDiverged(HwnasError, ValueError):
    """A loss or α became NaN/inf; the run directory keeps the last good checkpoint."""


@dataclass(frozen=True)
class SearchResult:
    arch: ArchSpec
    predicted_ms: float
    expected_ms: float
    target_ms: float | None
    run_dir: Path
    history: tuple[dict[str, Any], ...]
    exported: ExportedArch

    @property
    def arch_string(self) -> str:
        return self.arch.to_string()


def check_costs(costs: BlockCosts, space: SearchSpace) -> None:
    """The latency model must have one cost per option of every decision of ``space``."""
    want = [len(labels) for labels in space.choice_labels()]
    shape = [len(c) for c in costs.costs]
    if shape != want:
        raise UsageError(f"the latency model has costs for {len(costs.costs)} decisions ({shape} options) but space "
                         f"{space.name!r} has {len(want)} ({want} options); was it built for another space?")


def check_target(costs: BlockCosts, config: SearchConfig) -> None:
    """Refuse a target no architecture of the space can meet, naming the smallest achievable latency."""
    if config.target_ms is None:
        return
    fastest = costs.min_ms()
    if config.target_ms < fastest:
        raise UsageError(f"target {config.target_ms:.4g} ms is below the fastest architecture in the space: the "
                         f"smallest achievable latency is {fastest:.4g} ms under this latency model "
                         f"(slowest {costs.max_ms():.4g} ms)")
    if config.method == "grad":
        check_latency_loss(config.latency_loss, config.target_ms, fastest)


def run_search(space: SearchSpace, costs: BlockCosts, data: DataSplits | None, config: SearchConfig, *,
               run_dir: str | Path | None = None, resume: bool = False,
               latency_fn: Callable[[ArchSpec], float] | None = None,
               callbacks: Sequence[EpochCallback] = (), log: Callable[[str], None] | None = logger.info,
               inputs: dict[str, Any] | None = None, train_loader: Any = None, valid_loader: Any = None,
               loss_fn: LossFn | None = None, weight_optimizer: WeightOptimizer | None = None) -> SearchResult:
    """Search ``space`` on ``data`` for ``config.target_ms`` under the latency model ``costs``.

    ``latency_fn`` (REINFORCE only) scores sampled architectures instead of ``costs`` (a predictor or a
    profiler). Writes the run directory (a temporary one if ``run_dir`` is None) and returns the exported
    argmax architecture with its predicted latency. ``callbacks(epoch, row)`` run after each saved epoch.
    ``inputs`` (plain data: the data set, latency-model files, ... the caller used) is recorded in config.json, so
    that a caller can continue the run from its directory alone; ``log`` gets the progress lines (None: silent).

    Started by torchrun (``WORLD_SIZE`` > 1), or in a process group the caller initialised, the search runs on
    every rank under DistributedDataParallel (:mod:`hwnas.train.distributed`): ``config.batch_size`` is then
    the per-rank batch, the global batch is ``batch_size × world_size``; only rank 0 writes ``run_dir`` and
    logs; callbacks run on every rank; every rank returns the same result.

    The device, mixed precision and DataLoader workers come from ``config`` (``device``, ``amp``, ``workers``).
    Instead of ``data`` the caller may pass its own ``train_loader`` and ``valid_loader`` (batches of (x, y); the
    validation loader feeds the architecture steps and the per-epoch evaluation), and may replace the weight
    step's loss (``loss_fn(logits, y)``, default cross-entropy with ``config.label_smoothing``) and its optimiser
    (``weight_optimizer(params)`` returning a ``torch.optim.Optimizer``, default SGD with Nesterov momentum and
    weight decay on conv / linear weights; its learning rate still follows the cosine schedule from
    ``config.init_lr``). ``--resume`` is exact when those loaders draw their order from seeded generators.
    """
    check_costs(costs, space)
    check_target(costs, config)
    if data is not None:
        data.check_space(space)
        for split in ("train", "valid"):
            if len(getattr(data, split)) == 0:
                raise UsageError(f"data {data.name!r} has no {split} images")
    elif train_loader is None or valid_loader is None:
        raise UsageError("run_search needs data (DataSplits) or both train_loader and valid_loader")
    ctx = setup()
    # one search per run directory: a second one (even with --resume) would mix two runs in it
    lock = output_lock(run_dir, "search run", folder=True) if run_dir is not None and ctx.is_main \
        else contextlib.nullcontext()
    try:
        with lock:
            return _search(space, costs, data, config, ctx, run_dir=run_dir, resume=resume, latency_fn=latency_fn,
                           callbacks=callbacks, log=(log if ctx.is_main else None) or (lambda _msg: None),
                           inputs=inputs, loaders=(train_loader, valid_loader), loss_fn=loss_fn,
                           weight_optimizer=weight_optimizer)
    finally:
        ctx.close()


def _search(space: SearchSpace, costs: BlockCosts, data: DataSplits | None, config: SearchConfig, ctx: DistContext,
            *, run_dir: str | Path | None, resume: bool, latency_fn: Callable[[ArchSpec], float] | None,
            callbacks: Sequence[EpochCallback], log: Callable[[str], None], inputs: dict[str, Any] | None,
            loaders: tuple[Any, Any], loss_fn: LossFn | None, weight_optimizer: WeightOptimizer | None
            ) -> SearchResult:
    # one process: the configured device; under torchrun each rank's device comes from its local rank
    rt = Runtime.create(ctx.device if ctx.enabled else config.device, config.amp, config.channels_last)
    if not ctx.enabled:
        ctx = replace(ctx, device=rt.device)
    data_desc = data.describe() if data is not None else (
        f"user DataLoaders: {_loader_size(loaders[0])} train / {_loader_size(loaders[1])} valid images")

    def start() -> tuple[Path, dict[str, Any] | None]:  # rank 0 only: the others get its answer
        rd = RunDir(run_dir if run_dir is not None else temp_run_dir())
        resolved = rd.describe(config, space, costs, data_desc,
                               {"latency_fn": getattr(latency_fn, "__name__", type(latency_fn).__name__)}
                               if latency_fn else None, inputs=inputs)
        resolved["runtime"] = rt.describe()
        if ctx.enabled:
            resolved["distributed"] = ctx.describe()
        return rd.path, rd.start(resolved, costs, resume=resume)

    path, ckpt = ctx.from_main(start)
    rd = RunDir(path)

    cfg = config
    # the one placement path: the supernet (weights, α, BatchNorm buffers) on the run's device before any optimiser
    # is built, so their states live there too
    net = rt.place_module(ctx.prepare(seeded(lambda: build_supernet(space, dropout=cfg.dropout,
                                                                    weights=cfg.supernet_weights), cfg.seed)))
    gens = {"arch": generator(cfg.seed + 1), "data": generator(cfg.seed + 2), "valid": generator(cfg.seed + 3)}
    net.init_arch(cfg.arch_init_type, cfg.arch_init_ratio, gens["arch"])
    if weight_optimizer is not None:
        weight_opt = weight_optimizer(net.weight_parameters())
    else:
        weight_opt = sgd(net.weight_parameters(), lr=cfg.init_lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                         weight_decay=cfg.weight_decay)
    scaler = rt.scaler()
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_optim_lr,
                                betas=(float(cfg.arch_adam_beta1), float(cfg.arch_adam_beta2)), eps=cfg.arch_adam_eps,
                                weight_decay=cfg.arch_weight_decay)
    strategy = (GradientArchStep(cfg, costs, dist=ctx, runtime=rt) if cfg.method == "grad"
                else ReinforceArchStep(cfg, costs, latency_fn, dist=ctx, runtime=rt))
    history: list[dict[str, Any]] = []
    start = 0
    if ckpt is not None:
        try:
            net.load_state_dict(ckpt["net"])
            weight_opt.load_state_dict(ckpt["weight_opt"])
            arch_opt.load_state_dict(ckpt["arch_opt"])
            strategy.load_state_dict(ckpt["strategy"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            restore_rng_state(gens, ckpt["rng"])
            history, start = list(ckpt["history"]), int(ckpt["epoch"]) + 1
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:  # another run's, or edited
            raise RunError(f"the checkpoint in {rd.path} does not fit this run ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); move it away to start over") \
                from None
        log(f"resuming {rd.path} after epoch {start} of {cfg.warmup_epochs_effective + cfg.n_epochs}")
    # weight steps through DDP (a no-op wrapper in one process); α is averaged by the architecture steps
    model = ctx.wrap(net, net.arch_parameter_names())

    warm = cfg.warmup_epochs_effective
    total = warm + cfg.n_epochs
    gb = cfg.batch_size * ctx.world_size  # the global batch: every rank takes its share of it
    train_loader, valid_loader = loaders
    if data is not None:
        n_train = len(data.train)
        # a last batch of one image would stop BatchNorm ("expected more than 1 value per channel"): drop it
        train_loader = make_loader(data.train, gb, generator=gens["data"], drop_last=n_train % gb == 1 and n_train > 1,
                                   workers=cfg.workers, device=rt.device)
        valid_loader = make_loader(data.valid, gb, generator=gens["valid"], drop_last=len(data.valid) >= gb,
                                   workers=cfg.workers, device=rt.device)
        eval_loader = make_loader(data.valid, gb, shuffle=False, workers=cfg.workers, device=rt.device)
    else:
        eval_loader = valid_loader
    nb = len(train_loader)
    if nb == 0:
        raise UsageError(f"the training data gives no batch of {gb} images: lower --batch-size")
    log(f"training on {rt.device}" + (f" ({rt.describe().get('device_name')})" if rt.device.type == "cuda" else "")
        + f", mixed precision {rt.amp}" + (", channels-last" if rt.channels_last else ""))
    if ctx.enabled:
        log(f"distributed search: {ctx.world_size} processes ({ctx.backend}), {cfg.batch_size} images per process "
            f"and step, global batch {gb}, {nb} steps per epoch")
    st = _State(net, model, strategy, train_loader, valid_loader, cfg, weight_opt, arch_opt, gens, rd, ctx, nb, gb,
                total, rt, scaler, loss_fn, eval_loader)
    for epoch in range(start, total):
        row = _epoch(st, epoch)
        ctx.check_in_sync(net, gens, f"in epoch {epoch + 1}")
        history.append(row)
        if ctx.is_main:
            rd.write_log(history)
            rd.save_checkpoint({"epoch": epoch, "net": net.state_dict(), "weight_opt": weight_opt.state_dict(),
                                "arch_opt": arch_opt.state_dict(), "strategy": strategy.state_dict(),
                                "rng": rng_state(gens), "history": history, "config": cfg.to_dict(),
                                "scaler": scaler.state_dict() if scaler is not None else None,
                                "device": str(rt.device)})
        ctx.barrier()  # the epoch's checkpoint is on disk before any rank starts the next one
        log(_summary(row, total, cfg.target_ms))
        for cb in callbacks:
            cb(epoch, row)

    exported = export_arch(net, costs, cfg.target_ms, how=cfg.export)
    if ctx.is_main:
        save_exported(exported, rd.file(RunDir.ARCH))
    ctx.barrier()
    if exported.argmax is not None:
        log(f"argmax architecture {exported.argmax} predicted {costs.arch_ms(exported.argmax, space):.4g} ms; "
            f"fitted to the target")
    log(f"exported {exported.arch} (predicted {exported.predicted_ms:.4g} ms"
        + (f", target {cfg.target_ms:.4g} ms" if cfg.target_ms else "") + f") to {rd.file(RunDir.ARCH)}")
    return SearchResult(exported.arch, exported.predicted_ms, exported.expected_ms, cfg.target_ms, rd.path,
                        tuple(history), exported)


@dataclass
class _State:
    """What every epoch of one search works on; ``model`` is ``net`` or ``net`` under DDP, ``gb`` the global
    batch (``ctx`` shards it), ``nb`` the steps per epoch."""

    net: Supernet
    model: torch.nn.Module
    strategy: Any
    train_loader: Any
    valid_loader: Any
    cfg: SearchConfig
    weight_opt: torch.optim.Optimizer
    arch_opt: torch.optim.Optimizer
    gens: dict[str, torch.Generator]
    rd: RunDir
    ctx: DistContext
    nb: int
    gb: int
    total: int
    rt: Runtime
    scaler: Any = None
    loss_fn: LossFn | None = None
    eval_loader: Any = None


def _epoch(st: _State, epoch: int) -> dict[str, Any]:
    """One epoch: weight steps on random single paths (warm-up) or sampled from α, with architecture steps."""
    net, model, strategy, cfg, ctx, rd, nb, gb = st.net, st.model, st.strategy, st.cfg, st.ctx, st.rd, st.nb, st.gb
    weight_opt, arch_opt, gens, total = st.weight_opt, st.arch_opt, st.gens, st.total
    warm = cfg.warmup_epochs_effective
    phase = "warmup" if epoch < warm else "search"
    t0, span = (epoch * nb, warm * nb) if phase == "warmup" else ((epoch - warm) * nb, cfg.n_epochs * nb)
    valid_iter = cycle(st.valid_loader)
    started = time.perf_counter()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(metrics: dict[str, Any]) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1

    # the bar is updated by hand: tqdm.auto's asyncio bar calls iter() on what it wraps, and a second iter() of a
    # DataLoader with persistent workers starts a second pass (its sampler draws a second permutation)
    bar = tqdm(total=nb, disable=not cfg.progress or not ctx.is_main, desc=f"{phase} {epoch + 1}/{total}",
               unit="batch", leave=False)
    # the weight steps' loss and hits stay on the device: reading them every step would wait for the GPU each time
    # (a host sync per step); they are read, and checked for NaN, every `check_every` steps and at the end
    running = torch.zeros(3, dtype=torch.float64, device=st.rt.device)  # Σ step loss, Σ step accuracy, steps
    check_every = max(1, min(25, nb))
    lr = cosine_lr(cfg.init_lr, t0, span)
    for i, (x, y) in enumerate(st.train_loader):
        bar.update()
        lr = cosine_lr(cfg.init_lr, t0 + i, span)
        set_lr(weight_opt, lr)
        n = len(y)
        x, y = st.rt.place_batch(*ctx.shard(x, y))
        net.train()
        net.sample(gens["arch"], uniform=phase == "warmup")  # the same path on every rank: same generator
        weight_opt.zero_grad(set_to_none=True)
        with st.rt.autocast():  # weights only: α, its optimiser and the latency term stay fp32
            out = model(x)
        out = out.float()
        loss = (st.loss_fn(out, y) if st.loss_fn is not None else ctx.cross_entropy(out, y, n, cfg.label_smoothing))
        if st.scaler is not None:
            st.scaler.scale(loss).backward()
            st.scaler.step(weight_opt)
            st.scaler.update()
        else:
            loss.backward()
            weight_opt.step()
        if len(y):
            with torch.no_grad():
                running[0] += loss.detach()
                running[1] += (out.argmax(1) == y).double().mean()
                running[2] += 1
        if (i + 1) % check_every == 0 or i + 1 == nb:
            loss_sum, _, steps = running.tolist()
            _check_finite(torch.tensor(loss_sum), "training loss", epoch, i, rd)
            shown = {"train_loss": loss_sum / steps} if steps else {}
            if "arch_loss" in sums:
                shown["arch_loss"] = sums["arch_loss"] / counts["arch_loss"]
            bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
        if phase == "search" and (i + 1) % cfg.grad_update_arch_param_every == 0:
            for _ in range(cfg.grad_update_steps):
                vx, vy = next(valid_iter)
                m = strategy.step(net, vx, vy, arch_opt, gens["arch"])
                if not m.pop("finite", True):
                    _check_finite(torch.tensor(float("nan")), "architecture loss", epoch, i, rd)
                add(m)
    bar.close()
    loss_sum, acc_sum, steps = running.tolist()  # waits for the device: the epoch's steps are done
    train_s = time.perf_counter() - started
    if steps:
        sums.update(train_loss=loss_sum, train_acc=acc_sum)
        counts.update(train_loss=int(steps), train_acc=int(steps))
    means = _mean_over_ranks(sums, counts, ctx) if ctx.enabled else {k: sums[k] / counts[k] for k in sums}
    row = _row(net, strategy, st.eval_loader, cfg, epoch, phase, lr, means, ctx, gb, st.rt)
    row["train_s"] = round(train_s, 4)  # the epoch's weight and architecture steps, without evaluation or saving
    for name, t in net.state_dict().items():  # α, weights and BatchNorm statistics: nothing bad is checkpointed
        if t.is_floating_point():
            _check_finite(t, f"network state ({name})", epoch, nb, rd)
    return row


def _check_finite(t: torch.Tensor, what: str, epoch: int, step: int, rd: RunDir) -> None:
    if not bool(torch.all(torch.isfinite(t.detach()))):
        kept = (f"the last good checkpoint (after epoch {rd.load_checkpoint()['epoch'] + 1}) "
                f"is kept in {rd.path}" if rd.has_checkpoint else f"no epoch had finished, so {rd.path} has no checkpoint")
        raise SearchDiverged(f"{what} became NaN/inf in epoch {epoch + 1}, step {step + 1}; stopped. {kept}. "
                             f"Lower --init-lr / --arch-lr, or check the data for NaN values")


_METRICS = ("train_loss", "train_acc", "arch_loss", "arch_ce", "arch_acc", "reward", "baseline", "sampled_ms")


def _mean_over_ranks(sums: dict[str, float], counts: dict[str, int], ctx: DistContext) -> dict[str, float]:
    """The epoch's means over every rank's steps (one message; each rank's loss is its share of the global
    batch's, so the mean over ranks is the global batch's value)."""
    keys = sorted(set(_METRICS) | set(sums))
    t = torch.tensor([sums.get(k, 0.0) for k in keys] + [float(counts.get(k, 0)) for k in keys], dtype=torch.float64)
    t = ctx.all_reduce_sum(t)
    return {k: float(t[i] / t[len(keys) + i]) for i, k in enumerate(keys) if t[len(keys) + i] > 0}


def _row(net: Supernet, strategy, valid_loader: Any, cfg: SearchConfig, epoch: int, phase: str, lr: float,
         means: dict[str, float], ctx: DistContext = SINGLE, gb: int | None = None, rt: Runtime | None = None
         ) -> dict[str, Any]:
    arch = net.argmax_arch()
    costs = strategy.costs
    with torch.no_grad():
        exp_ms = float(expected_latency_ms(net.probs(), costs))
    row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase, "lr": lr}
    for k in ("train_loss", "train_acc", "arch_loss", "arch_ce", "arch_acc", "reward", "baseline", "sampled_ms"):
        row[k] = means.get(k, float("nan"))
    row["valid_loss"] = row["valid_acc"] = float("nan")
    if (epoch + 1) % cfg.arch_valid_frequency == 0:
        net.set_arch(arch)
        row["valid_loss"], row["valid_acc"] = evaluate(net, valid_loader, gb or cfg.batch_size, batch_stats=True,
                                                       label_smoothing=cfg.label_smoothing, dist=ctx, runtime=rt)
    row.update({"expected_ms": exp_ms, "argmax_ms": costs.arch_ms(arch, net.space), "target_ms": cfg.target_ms,
                "entropy": net.entropy(), "arch": arch.to_string()})
    for d, (labels, p) in enumerate(zip(net.space.choice_labels(), net.probs(), strict=True)):
        for label, v in zip(labels, p.tolist(), strict=True):
            row[f"p{d}_{label}"] = round(v, 6)
    return row


def _summary(row: dict[str, Any], total: int, target: float | None) -> str:
    parts = [f"epoch {row['epoch']}/{total} [{row['phase']}]", f"train loss {row['train_loss']:.3f}",
             f"acc {row['train_acc']:.3f}"]
    if row["valid_acc"] == row["valid_acc"]:
        parts.append(f"valid acc {row['valid_acc']:.3f}")
    parts.append(f"E[LAT] {row['expected_ms']:.4g} ms, argmax {row['argmax_ms']:.4g} ms"
                 + (f" (target {target:.4g})" if target else ""))
    parts.append(f"entropy {row['entropy']:.2f}")
    return "  ".join(parts)


def _loader_size(loader: Any) -> str:
    try:
        return str(len(loader.dataset))
    except (AttributeError, TypeError):
        return "?"
