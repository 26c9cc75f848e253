"""The search loop: warm-up on random single paths, then weight steps on ``train`` interleaved with
architecture steps (gradient or REINFORCE) on the held-out ``valid`` split; a checkpoint after every epoch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import DataSplits, batches, num_batches
from ..predictors.block_costs import BlockCosts, expected_latency_ms
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .config import SearchConfig
from .export import ExportedArch, export_arch, save_exported
from .gradient import GradientArchStep
from .latency_loss import check_latency_loss
from .reinforce import ReinforceArchStep
from .run import RunDir, temp_run_dir
from .supernet import Supernet
from .training import cosine_lr, cycle, evaluate, generator, restore_rng_state, rng_state, seeded, set_lr, sgd

EpochCallback = Callable[[int, dict[str, Any]], None]


class SearchDiverged(ValueError):
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
    """The latency model must have one cost per allowed choice of every block of ``space``."""
    pos = space.positions()
    if len(costs.costs) != len(pos) or any(len(c) != len(p.choices) for c, p in zip(costs.costs, pos, strict=False)):
        shape = [len(c) for c in costs.costs]
        raise ValueError(f"the latency model has costs for {len(costs.costs)} blocks ({shape} choices) but space "
                         f"{space.name!r} has {len(pos)} blocks ({[len(p.choices) for p in pos]} choices); was it "
                         f"built for another space?")


def check_target(costs: BlockCosts, config: SearchConfig) -> None:
    """Refuse a target no architecture of the space can meet, naming the smallest achievable latency."""
    if config.target_ms is None:
        return
    fastest = costs.min_ms()
    if config.target_ms < fastest:
        raise ValueError(f"target {config.target_ms:.4g} ms is below the fastest architecture in the space: the "
                         f"smallest achievable latency is {fastest:.4g} ms under this latency model "
                         f"(slowest {costs.max_ms():.4g} ms)")
    if config.method == "grad":
        check_latency_loss(config.latency_loss, config.target_ms, fastest)


def run_search(space: SearchSpace, costs: BlockCosts, data: DataSplits, config: SearchConfig, *,
               run_dir: str | Path | None = None, resume: bool = False,
               latency_fn: Callable[[ArchSpec], float] | None = None,
               callbacks: Sequence[EpochCallback] = (), log: Callable[[str], None] | None = print) -> SearchResult:
    """Search ``space`` on ``data`` for ``config.target_ms`` under the latency model ``costs``.

    ``latency_fn`` (REINFORCE only) scores sampled architectures instead of ``costs`` (a predictor or a
    profiler). Writes the run directory (a temporary one if ``run_dir`` is None) and returns the exported
    argmax architecture with its predicted latency. ``callbacks(epoch, row)`` run after each saved epoch.
    """
    log = log or (lambda _msg: None)
    check_costs(costs, space)
    check_target(costs, config)
    data.check_space(space)
    rd = RunDir(run_dir if run_dir is not None else temp_run_dir())
    resolved = rd.describe(config, space, costs, data.describe(),
                           {"latency_fn": getattr(latency_fn, "__name__", type(latency_fn).__name__)}
                           if latency_fn else None)
    ckpt = rd.start(resolved, costs, resume=resume)

    cfg = config
    net = seeded(lambda: Supernet(space, dropout=cfg.dropout), cfg.seed)
    gens = {"arch": generator(cfg.seed + 1), "data": generator(cfg.seed + 2), "valid": generator(cfg.seed + 3)}
    net.init_arch(cfg.arch_init_type, cfg.arch_init_ratio, gens["arch"])
    weight_opt = sgd(net.weight_parameters(), lr=cfg.init_lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                     weight_decay=cfg.weight_decay)
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_optim_lr,
                                betas=(float(cfg.arch_adam_beta1), float(cfg.arch_adam_beta2)), eps=cfg.arch_adam_eps,
                                weight_decay=cfg.arch_weight_decay)
    strategy = (GradientArchStep(cfg, costs) if cfg.method == "grad"
                else ReinforceArchStep(cfg, costs, latency_fn))
    history: list[dict[str, Any]] = []
    start = 0
    if ckpt is not None:
        net.load_state_dict(ckpt["net"])
        weight_opt.load_state_dict(ckpt["weight_opt"])
        arch_opt.load_state_dict(ckpt["arch_opt"])
        strategy.load_state_dict(ckpt["strategy"])
        restore_rng_state(gens, ckpt["rng"])
        history, start = list(ckpt["history"]), int(ckpt["epoch"]) + 1
        log(f"resuming {rd.path} after epoch {start} of {cfg.warmup_epochs_effective + cfg.n_epochs}")

    warm = cfg.warmup_epochs_effective
    total = warm + cfg.n_epochs
    nb = num_batches(data.train, cfg.batch_size)
    for epoch in range(start, total):
        phase = "warmup" if epoch < warm else "search"
        row = _epoch(net, strategy, data, cfg, weight_opt, arch_opt, gens, epoch, phase, nb, total, rd)
        history.append(row)
        rd.write_log(history)
        rd.save_checkpoint({"epoch": epoch, "net": net.state_dict(), "weight_opt": weight_opt.state_dict(),
                            "arch_opt": arch_opt.state_dict(), "strategy": strategy.state_dict(),
                            "rng": rng_state(gens), "history": history, "config": cfg.to_dict()})
        log(_summary(row, total, cfg.target_ms))
        for cb in callbacks:
            cb(epoch, row)

    exported = export_arch(net, costs, cfg.target_ms)
    save_exported(exported, rd.file(RunDir.ARCH))
    log(f"exported {exported.arch} (predicted {exported.predicted_ms:.4g} ms"
        + (f", target {cfg.target_ms:.4g} ms" if cfg.target_ms else "") + f") to {rd.file(RunDir.ARCH)}")
    return SearchResult(exported.arch, exported.predicted_ms, exported.expected_ms, cfg.target_ms, rd.path,
                        tuple(history), exported)


def _epoch(net: Supernet, strategy, data: DataSplits, cfg: SearchConfig, weight_opt, arch_opt, gens, epoch: int,
           phase: str, nb: int, total: int, rd: RunDir) -> dict[str, Any]:
    warm = cfg.warmup_epochs_effective
    t0, span = (epoch * nb, warm * nb) if phase == "warmup" else ((epoch - warm) * nb, cfg.n_epochs * nb)
    valid_iter = cycle(data.valid, cfg.batch_size, gens["valid"])
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(metrics: dict[str, Any]) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1

    bar = tqdm(batches(data.train, cfg.batch_size, generator=gens["data"]), total=nb, disable=not cfg.progress,
               desc=f"{phase} {epoch + 1}/{total}", unit="batch", leave=False)
    for i, (x, y) in enumerate(bar):
        lr = cosine_lr(cfg.init_lr, t0 + i, span)
        set_lr(weight_opt, lr)
        net.train()
        net.sample(gens["arch"], uniform=phase == "warmup")
        weight_opt.zero_grad(set_to_none=True)
        out = net(x)
        loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
        _check_finite(loss, "training loss", epoch, i, rd)
        loss.backward()
        weight_opt.step()
        add({"train_loss": float(loss.detach()), "train_acc": float((out.argmax(1) == y).float().mean())})
        if phase == "search" and (i + 1) % cfg.grad_update_arch_param_every == 0:
            for _ in range(cfg.grad_update_steps):
                vx, vy = next(valid_iter)
                m = strategy.step(net, vx, vy, arch_opt, gens["arch"])
                if not m.pop("finite", True):
                    _check_finite(torch.tensor(float("nan")), "architecture loss", epoch, i, rd)
                add(m)
        bar.set_postfix({k: f"{sums[k] / counts[k]:.3g}" for k in ("train_loss", "arch_loss") if k in sums},
                        refresh=False)
    row = _row(net, strategy, data, cfg, epoch, phase, lr, {k: sums[k] / counts[k] for k in sums})
    for name, t in net.state_dict().items():  # α, weights and BatchNorm statistics: nothing bad is checkpointed
        if t.is_floating_point():
            _check_finite(t, f"network state ({name})", epoch, nb, rd)
    return row


def _check_finite(t: torch.Tensor, what: str, epoch: int, step: int, rd: RunDir) -> None:
    if not bool(torch.all(torch.isfinite(t.detach()))):
        kept = (f"the last good checkpoint (after epoch {torch.load(rd.file(RunDir.CHECKPOINT), weights_only=False)['epoch'] + 1}) "
                f"is kept in {rd.path}" if rd.has_checkpoint else f"no epoch had finished, so {rd.path} has no checkpoint")
        raise SearchDiverged(f"{what} became NaN/inf in epoch {epoch + 1}, step {step + 1}; stopped. {kept}. "
                             f"Lower --init-lr / --arch-lr, or check the data for NaN values")


def _row(net: Supernet, strategy, data: DataSplits, cfg: SearchConfig, epoch: int, phase: str, lr: float,
         means: dict[str, float]) -> dict[str, Any]:
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
        row["valid_loss"], row["valid_acc"] = evaluate(net, data.valid, cfg.batch_size, batch_stats=True,
                                                       label_smoothing=cfg.label_smoothing)
    row.update({"expected_ms": exp_ms, "argmax_ms": costs.arch_ms(arch, net.space), "target_ms": cfg.target_ms,
                "entropy": net.entropy(), "arch": arch.to_string()})
    for pos, p in zip(net.space.positions(), net.probs(), strict=True):
        for c, v in zip(pos.choices, p.tolist(), strict=True):
            row[f"p{pos.index}_{c.token}"] = round(v, 6)
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
