"""Search on several processes with ``torch.distributed`` (``torchrun --nproc-per-node N -m hwnas search ...``).

The distributed run is the single-process run with a global batch of ``batch_size × world_size``, split
across the ranks:

- every rank holds the same generators (seeded from the config), so all ranks draw the same active paths, the
  same data order and the same REINFORCE samples without any message; a check after every epoch makes sure the
  ranks still agree (α, weights and generator states) and stops the run with a clear error if they do not;
- each global batch is cut into strided per-rank shards (``batch[rank::world_size]``, what
  ``DistributedSampler`` gives for one shared permutation), and every rank's loss is scaled by its share, so
  that the gradient DistributedDataParallel averages is the gradient of the global batch's mean loss;
- BatchNorm statistics are synchronised across ranks (``nn.SyncBatchNorm`` on GPUs; :class:`SyncBatchNorm2d`
  here on CPUs, where ``nn.SyncBatchNorm`` refuses to run), so a batch is normalised as in one process;
- the weights train under DDP with ``find_unused_parameters=True``: a single-path step leaves every inactive
  candidate without a gradient, and all ranks leave the *same* ones, so DDP leaves their ``.grad`` at ``None``
  and SGD skips them, as in one process (and, where torch offers ``skip_all_reduce_unused_params``, does not
  send their zeros). Without it DDP stops in the second step ("Expected to have finished reduction in the
  prior iteration"); ``static_graph=True`` stops too ("Your training graph has changed"), since the path
  changes every step. α is not in DDP's buckets: architecture steps run on the plain module (no DDP hooks)
  and α's gradient is averaged here (:meth:`DistContext.average_grads`);
- only rank 0 writes the run directory; a checkpoint it reads on ``--resume`` is broadcast to the others.

A process that is not started by torchrun (no ``WORLD_SIZE`` > 1 in the environment and no process group)
runs exactly as before: :data:`SINGLE` does nothing.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..errors import HwnasError

T = TypeVar("T")

BACKEND_ENV = "HWNAS_DIST_BACKEND"      # force gloo / nccl (default: nccl when CUDA is available, else gloo)
SYNC_BN_ENV = "HWNAS_DIST_SYNC_BN"      # 0: per-rank BatchNorm statistics (cheaper, not the one-process result)
TIMEOUT_ENV = "HWNAS_DIST_TIMEOUT_S"    # collective timeout in seconds (default 1800)
REQUIRED_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(HwnasError, RuntimeError):
    """The distributed set-up is incomplete, or the ranks no longer agree."""


@dataclass
class DistContext:
    """Where this process sits in the job, and the few collectives the search needs."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    sync_bn: bool = True
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "backend": self.backend, "sync_bn": self.sync_bn}

    # ---- data ---------------------------------------------------------------------------------------------
    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's strided share of a global batch (may be empty for a tiny batch), where it was: the
        :class:`hwnas.train.device.Runtime` places it."""
        if not self.enabled:
            return x, y
        return x[self.rank::self.world_size], y[self.rank::self.world_size]

    def cross_entropy(self, out: torch.Tensor, y: torch.Tensor, n_global: int, label_smoothing: float
                      ) -> torch.Tensor:
        """This rank's share of the global batch's mean loss, times the world size: DDP's average over ranks
        (and :meth:`average_grads`) then gives exactly the gradient of the global mean, even for uneven shards."""
        if not self.enabled:
            return F.cross_entropy(out, y, label_smoothing=label_smoothing)
        total = F.cross_entropy(out, y, label_smoothing=label_smoothing, reduction="sum")
        return total * (self.world_size / max(n_global, 1))

    # ---- collectives --------------------------------------------------------------------------------------
    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """The sum over ranks (a new tensor on the caller's device)."""
        if not self.enabled:
            return t
        buf = t.detach().to(self.device, copy=True)
        dist.all_reduce(buf)
        return buf.to(t.device)

    def average_grads(self, params: list[nn.Parameter]) -> None:
        """Replace each ``.grad`` by its mean over ranks (one message for all of them)."""
        if not self.enabled:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def from_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result to every rank; an exception it raises is raised on
        every rank (so that a refused ``--resume`` stops all ranks instead of leaving them waiting)."""
        if not self.enabled:
            return fn()
        box: list[Any] = [None]
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except Exception as exc:  # handed to the other ranks, then raised here too
                box[0] = ("error", exc)
        dist.broadcast_object_list(box, src=0, device=self.device if self.backend == "nccl" else None)
        status, value = box[0]
        if status == "error":
            raise value
        return value

    def check_in_sync(self, net: nn.Module, gens: dict[str, torch.Generator], what: str) -> None:
        """Raise if the ranks hold different α, weights or generator states (they must never)."""
        if not self.enabled:
            return
        with torch.no_grad():
            parts = [torch.stack([p.detach().double().sum(), p.detach().double().abs().sum()])
                     for p in net.parameters()]
            states = [g.get_state().double() for g in gens.values()]
            mine = torch.cat([torch.cat(parts).to(self.device), *(s.to(self.device) for s in states)])
        lo, hi = mine.clone(), mine.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        if not torch.equal(lo, hi):
            bad = int((lo != hi).nonzero()[0])
            raise DistributedError(f"the ranks diverged {what} (first differing entry {bad} of {len(mine)}): the "
                                   f"processes must run the same hwnas and torch versions on the same kind of "
                                   f"device; run a single process to check the search itself")

    # ---- the model ----------------------------------------------------------------------------------------
    def prepare(self, net: nn.Module) -> nn.Module:
        """Synchronised BatchNorm (when enabled); call before placing the network and building optimisers (the
        :class:`hwnas.train.device.Runtime` places it on this rank's device)."""
        if not (self.enabled and self.sync_bn):
            return net
        return (nn.SyncBatchNorm.convert_sync_batchnorm(net) if self.device.type == "cuda"
                else convert_sync_batchnorm_cpu(net))

    def wrap(self, net: nn.Module, ignore: list[str]) -> nn.Module:
        """``net`` under DistributedDataParallel (``net`` itself in one process); ``ignore``: parameter names
        DDP must leave alone (α, averaged by :meth:`average_grads` after architecture steps)."""
        if not self.enabled:
            return net
        from torch.nn.parallel import DistributedDataParallel as DDP

        if hasattr(DDP, "_set_params_and_buffers_to_ignore_for_model"):
            DDP._set_params_and_buffers_to_ignore_for_model(net, ignore)
        known = inspect.signature(DDP).parameters
        # synchronised BatchNorm keeps the buffers equal on every rank: no need to broadcast them every step
        options: dict[str, Any] = {"forward_sync_buffers" if "forward_sync_buffers" in known
                                   else "broadcast_buffers": not self.sync_bn}
        if "skip_all_reduce_unused_params" in known:
            # safe only because every rank leaves the same candidates unused in every step (same path)
            options["skip_all_reduce_unused_params"] = True
        return DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                   find_unused_parameters=True, **options)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


SINGLE = DistContext()


def env_world_size(env: dict[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        return int(env.get("WORLD_SIZE", "1") or 1)
    except ValueError:
        raise DistributedError(f"WORLD_SIZE={env.get('WORLD_SIZE')!r} is not a number") from None


def is_main_process(env: dict[str, str] | None = None) -> bool:
    """Rank 0, or no distributed job at all (for printing in the CLI before the search starts)."""
    env = os.environ if env is None else env
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return env_world_size(env) <= 1 or env.get("RANK", "0") == "0"


def setup(env: dict[str, str] | None = None) -> DistContext:
    """The context of this process: an already initialised process group, a torchrun environment
    (``WORLD_SIZE`` > 1: the group is created here, gloo on CPU, nccl on GPU), or :data:`SINGLE`."""
    env = os.environ if env is None else env
    sync_bn = env.get(SYNC_BN_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
        if world <= 1:
            return SINGLE
        backend = str(dist.get_backend())
        local_rank = int(env.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        return DistContext(rank, world, local_rank, backend, _device(backend, local_rank), sync_bn, owns_group=False)
    world = env_world_size(env)
    if world <= 1:
        return SINGLE
    if not dist.is_available():
        raise DistributedError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    missing = [k for k in REQUIRED_ENV if not env.get(k)]
    if missing:
        raise DistributedError(f"WORLD_SIZE={world} but {', '.join(missing)} not set: start the search with "
                               f"torchrun (e.g. torchrun --nproc-per-node 2 -m hwnas search ...)")
    rank, local_rank = int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"]))
    backend = env.get(BACKEND_ENV) or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("gloo", "nccl"):
        raise DistributedError(f"{BACKEND_ENV} must be gloo or nccl, not {backend!r}")
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise DistributedError("nccl needs CUDA GPUs; use HWNAS_DIST_BACKEND=gloo on CPUs")
        torch.cuda.set_device(local_rank)
    timeout = _dt.timedelta(seconds=float(env.get(TIMEOUT_ENV, "1800")))
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world, timeout=timeout)
    return DistContext(rank, world, local_rank, backend, _device(backend, local_rank), sync_bn, owns_group=True)


def _device(backend: str, local_rank: int) -> torch.device:
    return torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")


# ---- BatchNorm statistics across ranks on CPUs ---------------------------------------------------------------
class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose batch statistics are those of the global batch over all ranks (gloo, CPU tensors).

    Sums and sums of squares (in float64) are all-reduced by a differentiable all-reduce whose backward
    all-reduces their gradients, so every rank's backward includes what its samples did to the other ranks'
    losses. Outside training, or in one process, it
    is plain BatchNorm. Same parameters and buffers as ``nn.BatchNorm2d``: state dicts are interchangeable.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and across_ranks()):
            return super().forward(x)
        if self.track_running_stats:
            self.num_batches_tracked.add_(1)
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        return sync_batch_norm(x, self.weight if self.affine else None, self.bias if self.affine else None,
                               self.running_mean if self.track_running_stats else None,
                               self.running_var if self.track_running_stats else None, m, self.eps)


def across_ranks() -> bool:
    """Whether a process group of more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sync_batch_norm(x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
                    running_mean: torch.Tensor | None, running_var: torch.Tensor | None, momentum: float,
                    eps: float) -> torch.Tensor:
    """Training-mode BatchNorm of (N, C, H, W) ``x`` with the statistics of the global batch over all ranks (also
    for slices of a BatchNorm's tensors: the shared supernet's elastic widths). Sums and sums of squares (float64)
    are all-reduced by a differentiable all-reduce; the running averages (when given) move by ``momentum``."""
    c = x.shape[1]
    dims = (0, 2, 3)
    local = torch.cat([x.sum(dims, dtype=torch.float64), (x * x).sum(dims, dtype=torch.float64),
                       x.new_full((1,), x.numel() // max(c, 1), dtype=torch.float64)])
    stats = _AllReduceSum.apply(local)
    n = stats[-1]
    mean = stats[:c] / n
    var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            unbiased = var * (n / (n - 1).clamp_min(1.0))
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    scale = torch.rsqrt(var + eps).to(x.dtype)
    shift = mean.to(x.dtype)
    out = (x - shift[None, :, None, None]) * scale[None, :, None, None]
    if weight is not None and bias is not None:
        out = out * weight[None, :, None, None] + bias[None, :, None, None]
    return out


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is the sum over ranks of the gradients (every rank's loss used the sum)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = grad.clone()
        dist.all_reduce(out)
        return out


def convert_sync_batchnorm_cpu(module: nn.Module) -> nn.Module:
    """Every ``nn.BatchNorm2d`` in ``module`` becomes a :class:`SyncBatchNorm2d` holding the same parameters
    and buffers (the optimiser, if built later, sees the same tensors)."""
    if type(module) is nn.BatchNorm2d:
        new = SyncBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        new_child = convert_sync_batchnorm_cpu(child)
        if new_child is not child:
            module.add_module(name, new_child)
    return module
