"""What an estimator is (ModularNAS's ``estim``): how the supernet's weights are trained, and how candidates are
scored, for a number of epochs. A search is a chain of estimators (warm-up, then search; or train, then evolve),
each with its own epochs and its own cosine learning-rate cycle; the search loop (:mod:`hwnas.search.searcher`)
runs the chain epoch by epoch and checkpoints after each.

:class:`Estimator` carries the weight-step loop every training estimator shares (DataLoader, device placement,
mixed precision, DDP shards, the loss and accuracy kept on the device, NaN checks, the progress bar) with three
hooks: which path a step trains (:meth:`Estimator.set_path`), its forward and backward
(:meth:`Estimator.forward_backward`: several paths for a sandwich, distillation), and what follows it (architecture steps). A new estimator is one file
registered in :data:`ESTIMATORS` (``docs/write-your-own.md``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from tqdm.auto import tqdm

from ...errors import HwnasError, UsageError
from ...io import bar_disabled
from ...predictors.block_costs import BlockCosts, expected_latency_ms
from ...train.data import cycle
from ...train.training import cosine_lr, evaluate, set_lr
from ..registry import Registry


class SearchDiverged(HwnasError, ValueError):
    """A loss or α became NaN/inf; the run directory keeps the last good checkpoint."""


@dataclass
class SearchState:
    """What every epoch of one search works on; ``model`` is ``net`` or ``net`` under DDP, ``gb`` the global batch
    (``ctx`` shards it), ``nb`` the steps per epoch."""

    net: Any
    model: torch.nn.Module
    optim: Any                      # the ArchOptimizer
    train_loader: Any
    valid_loader: Any
    cfg: Any
    weight_opt: torch.optim.Optimizer | None  # None in a search of a trained supernet (it trains nothing)
    arch_opt: torch.optim.Optimizer | None
    gens: dict[str, torch.Generator]
    rd: Any
    ctx: Any
    nb: int
    gb: int
    total: int
    rt: Any
    costs: BlockCosts
    scaler: Any = None
    loss_fn: Any = None
    eval_loader: Any = None
    data: Any = None
    latency_fn: Any = None
    log: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mixed(self) -> Any:
        return self.net.mixed_op


class Estimator:
    """``epochs`` of this stage; ``phase``: the label its epochs carry in ``log.csv``. ``trains``: whether its
    epochs train the weights (derivative-free search stages only score)."""

    name: ClassVar[str]
    phase: ClassVar[str] = "train"
    trains: ClassVar[bool] = True

    def __init__(self, *, epochs: int):
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
            raise UsageError(f"estimator epochs must be an integer >= 0, not {epochs!r}")
        self.epochs = epochs

    def validate(self, cfg: Any, space: Any, costs: BlockCosts, optim: Any, latency_fn: Any) -> None:
        """Refuse, in one line, a search this estimator cannot run, before anything is written."""

    def check(self, st: SearchState) -> None:
        """Set up what the estimator needs from the search (called before the first epoch)."""

    def set_path(self, st: SearchState, step: int) -> None:
        """The path of one weight step (default: drawn by the optimizer, else by the mixed op from α)."""
        if not st.optim.weight_path(st.net, st.gens["arch"]):
            st.mixed.weight_path(st.net, st.gens["arch"])

    def forward(self, st: SearchState, x: torch.Tensor, y: torch.Tensor, n: int,
                target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The current path on ``x``: (loss, fp32 logits). ``target``: soft targets (distillation) instead of
        ``y``."""
        with st.rt.autocast():  # weights only: α, its optimiser and the latency term stay fp32
            out = st.model(x)
        out = out.float()
        if target is not None:
            loss = soft_cross_entropy(out, target, n, st.ctx)
        else:
            loss = st.loss_fn(out, y) if st.loss_fn is not None else st.ctx.cross_entropy(out, y, n,
                                                                                           st.cfg.label_smoothing)
        return loss, out

    def forward_backward(self, st: SearchState, x: torch.Tensor, y: torch.Tensor, n: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's forward and backward (several paths for a sandwich); returns (loss, logits) to report."""
        loss, out = self.forward(st, x, y, n)
        backward(st, st.optim.weight_loss(st.net, loss))
        return loss, out

    def after_step(self, st: SearchState, step: int, valid_iter: Any, add: Any) -> None:
        """After each weight step (architecture steps of the search stage)."""

    def run_epoch(self, st: SearchState, epoch: int, stage_epoch: int) -> dict[str, Any]:
        return weight_epoch(self, st, epoch, stage_epoch)

    def describe(self) -> dict[str, Any]:
        # a part of your own: the settings it was created with (hwnas's own parts spell theirs out)
        return {"type": self.name, "epochs": self.epochs, **getattr(self, "resolved_settings", {})}


ESTIMATORS: Registry[Estimator] = Registry("estimator", "ESTIMATORS", "hwnas.search.estim")


def weight_epoch(est: Estimator, st: SearchState, epoch: int, stage_epoch: int) -> dict[str, Any]:
    """One epoch of weight steps over the training loader, each on the estimator's path(s), with its hooks."""
    net, cfg, ctx, rd, nb = st.net, st.cfg, st.ctx, st.rd, st.nb
    weight_opt = st.weight_opt
    t0, span = stage_epoch * nb, est.epochs * nb   # each stage has its own cosine cycle
    st.mixed.set_progress(stage_epoch / max(est.epochs, 1))
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
    bar = tqdm(total=nb, disable=bar_disabled(cfg.progress and ctx.is_main), desc=f"{est.phase} {epoch + 1}/{st.total}",
               unit="batch", leave=False)
    # the weight steps' loss and hits stay on the device: reading them every step would wait for the GPU each time
    # (a host sync per step); they are read, and checked for NaN, every `check_every` steps and at the end
    running = torch.zeros(3, dtype=torch.float64, device=st.rt.device)  # Σ step loss, Σ step accuracy, steps
    check_every = max(1, min(25, nb))
    lr = cosine_lr(cfg.init_lr, t0, span)
    for i, (x, y) in enumerate(st.train_loader):
        bar.update()
        if len(y) == 1 and nb > 1 and i == nb - 1:
            # a last batch of one image (the user's own DataLoader; hwnas's drop it): BatchNorm cannot train on
            # one value per channel, and one image is no gradient worth a step
            est.after_step(st, i, valid_iter, add)
            continue
        lr = cosine_lr(cfg.init_lr, t0 + i, span)
        set_lr(weight_opt, lr)
        n = len(y)
        x, y = st.rt.place_batch(*ctx.shard(x, y))
        net.train()
        est.set_path(st, i)  # the same path on every rank: same generator
        weight_opt.zero_grad(set_to_none=True)
        loss, out = est.forward_backward(st, x, y, n)
        if st.scaler is not None:
            st.scaler.step(weight_opt)
            st.scaler.update()
        else:
            weight_opt.step()
        add(st.optim.after_weight_step(net, st.arch_opt))
        if len(y):
            with torch.no_grad():
                running[0] += loss.detach()
                running[1] += (out.argmax(1) == y).double().mean()
                running[2] += 1
        if (i + 1) % check_every == 0 or i + 1 == nb:
            loss_sum, _, steps = running.tolist()
            check_finite(torch.tensor(loss_sum), "training loss", epoch, i, rd)
            shown = {"train_loss": loss_sum / steps} if steps else {}
            if "arch_loss" in sums:
                shown["arch_loss"] = sums["arch_loss"] / counts["arch_loss"]
            bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
        est.after_step(st, i, valid_iter, add)
    bar.close()
    loss_sum, acc_sum, steps = running.tolist()  # waits for the device: the epoch's steps are done
    train_s = time.perf_counter() - started
    if steps:
        sums.update(train_loss=loss_sum, train_acc=acc_sum)
        counts.update(train_loss=int(steps), train_acc=int(steps))
    means = mean_over_ranks(sums, counts, ctx) if ctx.enabled else {k: sums[k] / counts[k] for k in sums}
    row = epoch_row(st, epoch, est.phase, lr, means)
    row["train_s"] = round(train_s, 4)  # the epoch's weight and architecture steps, without evaluation or saving
    for name, t in net.state_dict().items():  # α, weights and BatchNorm statistics: nothing bad is checkpointed
        if t.is_floating_point():
            check_finite(t, f"network state ({name})", epoch, nb, rd)
    return row


def backward(st: SearchState, loss: torch.Tensor) -> None:
    (st.scaler.scale(loss) if st.scaler is not None else loss).backward()


def soft_cross_entropy(out: torch.Tensor, target: torch.Tensor, n: int, ctx: Any) -> torch.Tensor:
    """Cross-entropy against soft targets (in-place distillation): this rank's share of the global batch's mean,
    scaled as :meth:`DistContext.cross_entropy` scales it."""
    total = -(target * torch.log_softmax(out, dim=1)).sum()
    return total * (ctx.world_size / max(n, 1)) if ctx.enabled else total / max(len(out), 1)


def check_finite(t: torch.Tensor, what: str, epoch: int, step: int, rd: Any) -> None:
    if not bool(torch.all(torch.isfinite(t.detach()))):
        kept = (f"the last good checkpoint (after epoch {rd.load_checkpoint()['epoch'] + 1}) "
                f"is kept in {rd.path}" if rd.has_checkpoint else f"no epoch had finished, so {rd.path} has no checkpoint")
        raise SearchDiverged(f"{what} became NaN/inf in epoch {epoch + 1}, step {step + 1}; stopped. {kept}. "
                             f"Lower --init-lr / --arch-lr, or check the data for NaN values")


METRICS = ("train_loss", "train_acc", "arch_loss", "arch_ce", "arch_acc", "reward", "baseline", "sampled_ms")


def mean_over_ranks(sums: dict[str, float], counts: dict[str, int], ctx: Any) -> dict[str, float]:
    """The epoch's means over every rank's steps (one message; each rank's loss is its share of the global
    batch's, so the mean over ranks is the global batch's value)."""
    keys = sorted(set(METRICS) | set(sums))
    t = torch.tensor([sums.get(k, 0.0) for k in keys] + [float(counts.get(k, 0)) for k in keys], dtype=torch.float64)
    t = ctx.all_reduce_sum(t)
    return {k: float(t[i] / t[len(keys) + i]) for i, k in enumerate(keys) if t[len(keys) + i] > 0}


def epoch_row(st: SearchState, epoch: int, phase: str, lr: float, means: dict[str, float]) -> dict[str, Any]:
    """``log.csv``'s row: losses, the preferred architecture (the optimizer's best) with its validation accuracy
    every ``arch_valid_frequency`` epochs, E[LAT], entropy, and every decision's probabilities."""
    net, cfg = st.net, st.cfg
    arch = net.indices_to_arch(st.optim.best_indices(net))
    probs = st.optim.probabilities(net)
    with torch.no_grad():
        exp_ms = float(expected_latency_ms(probs, st.costs))
        entropy = float(sum(-(p * torch.log(p.clamp_min(1e-12))).sum() for p in probs))
    row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase, "lr": lr}
    for k in METRICS:
        row[k] = means.get(k, float("nan"))
    row["valid_loss"] = row["valid_acc"] = float("nan")
    if (epoch + 1) % cfg.arch_valid_frequency == 0:
        net.set_arch(arch)
        row["valid_loss"], row["valid_acc"] = evaluate(net, st.eval_loader, st.gb or cfg.batch_size,
                                                       batch_stats=True, label_smoothing=cfg.label_smoothing,
                                                       dist=st.ctx, runtime=st.rt)
    row.update({"expected_ms": exp_ms, "argmax_ms": st.costs.arch_ms(arch, net.space), "target_ms": cfg.target_ms,
                "entropy": entropy, "arch": arch.to_string()})
    for d, (labels, p) in enumerate(zip(net.space.choice_labels(), probs, strict=True)):
        for label, v in zip(labels, p.tolist(), strict=True):
            row[f"p{d}_{label}"] = round(v, 6)
    return row


def summary(row: dict[str, Any], total: int, target: float | None) -> str:
    parts = [f"epoch {row['epoch']}/{total} [{row['phase']}]"]
    if row.get("train_loss") == row.get("train_loss") and "train_loss" in row:
        parts += [f"train loss {row['train_loss']:.3f}", f"acc {row['train_acc']:.3f}"]
    if row.get("valid_acc") == row.get("valid_acc") and "valid_acc" in row:
        parts.append(f"valid acc {row['valid_acc']:.3f}")
    if "expected_ms" in row:
        parts.append(f"E[LAT] {row['expected_ms']:.4g} ms, argmax {row['argmax_ms']:.4g} ms"
                     + (f" (target {target:.4g})" if target else ""))
    if "entropy" in row:
        parts.append(f"entropy {row['entropy']:.2f}")
    if "best_score" in row:
        what = "best predicted" if row.get("best_is") == "predicted" else "best"
        parts.append(f"{what} {row['best_score']:.4f} ({row['best_arch']}, {row['best_ms']:.4g} ms), "
                     f"{row['scored']} scored")
    return "  ".join(parts)
