"""Weight-shared candidates of a built-in block (Once-for-All's elastic kernel and width): one MBConv at the
largest kernel and expansion per block, each candidate using its centre ``k×k`` kernel and first ``cin·e`` hidden
channels.

With separate weights per candidate (ProxylessNAS as published) every weight step trains one path out of ~7^21
and, on the few thousand images a CPU budget allows, the supernet does not learn at all (measured on Fashion-MNIST,
16 px, width 0.25: train accuracy 10%, chance, after 8 epochs of uniform paths; one fixed path reaches 40% in one
epoch). Shared weights see a gradient at every step whatever the path, and the same supernet reaches 35% in
4 epochs. ``zero`` stays the identity of a residual block.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..space.builder import conv_bn
from ..space.spaces import BlockPosition
from ..space.spec import BlockSpec
from ..train.distributed import SyncBatchNorm2d, across_ranks, sync_batch_norm

SYNCED = (SyncBatchNorm2d, nn.SyncBatchNorm)
WEIGHTS = ("auto", "separate", "shared")  # auto: shared for the built-in spaces, separate for model spaces


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d, n: int) -> torch.Tensor:
    """``bn`` on the first ``n`` channels, honouring its mode (training, eval, per-batch statistics)."""
    batch = bn.training or not bn.track_running_stats
    track = bn.track_running_stats and bn.running_mean is not None
    mean = bn.running_mean[:n] if track else None
    var = bn.running_var[:n] if track else None
    if batch and not (bn.training and track):
        mean = var = None  # per-batch statistics without touching the running averages
    if bn.training and isinstance(bn, SYNCED) and across_ranks():
        # synchronised BatchNorm under torchrun (DistContext.prepare converted it): the global batch's statistics
        # on these channels, as one process with the global batch computes them
        return sync_batch_norm(x, bn.weight[:n], bn.bias[:n], mean, var, bn.momentum or 0.0, bn.eps)
    return F.batch_norm(x, mean, var, bn.weight[:n], bn.bias[:n], batch, bn.momentum or 0.0, bn.eps)


class SharedMBConv(nn.Module):
    """The largest MBConv of a block position, run at any (kernel, expand) of its candidates. Its parameters are
    named as :class:`hwnas.space.builder.MBConv`'s, so a child's weights are slices of them (:meth:`child_state`)."""

    def __init__(self, pos: BlockPosition):
        super().__init__()
        cands = [c for c in pos.choices if not c.is_zero]
        self.kmax = max(c.kernel for c in cands)
        self.emax = max(c.expand for c in cands)
        self.cin, self.stride, self.residual = pos.in_ch, pos.stride, pos.residual
        mid = self.hidden(self.emax)
        self.expand = conv_bn(pos.in_ch, mid, 1)
        self.depthwise = conv_bn(mid, mid, self.kmax, pos.stride, groups=mid)
        self.project = conv_bn(mid, pos.out_ch, 1, act=False)

    def hidden(self, expand: float) -> int:
        return int(round(self.cin * expand))

    def _kernel(self, k: int) -> torch.Tensor:
        o = (self.kmax - k) // 2
        return self.depthwise[0].weight[:, :, o:o + k, o:o + k]

    def run(self, x: torch.Tensor, block: BlockSpec) -> torch.Tensor:
        m, k = self.hidden(block.expand), block.kernel
        if block.expand != 1:
            y = F.relu6(_bn(F.conv2d(x, self.expand[0].weight[:m]), self.expand[1], m))
        else:
            y = x
        y = F.conv2d(y, self._kernel(k)[:m], stride=self.stride, padding=k // 2, groups=m)
        y = F.relu6(_bn(y, self.depthwise[1], m))
        y = _bn(F.conv2d(y, self.project[0].weight[:, :m]), self.project[1], self.project[0].out_channels)
        return x + y if self.residual else y

    def child_state(self, block: BlockSpec) -> dict[str, torch.Tensor]:
        """The weights of candidate ``block`` keyed as ``MBConv(...).state_dict()``."""
        m, k = self.hidden(block.expand), block.kernel
        out: dict[str, torch.Tensor] = {}
        for key, value in self.state_dict().items():
            part, layer, name = key.split(".", 2)
            if part == "expand" and block.expand == 1:
                continue
            if name == "num_batches_tracked":
                out[key] = value
            elif part == "project" and layer == "0":
                out[key] = value[:, :m]
            elif part == "project":
                out[key] = value
            elif part == "depthwise" and layer == "0":
                o = (self.kmax - k) // 2
                out[key] = value[:m, :, o:o + k, o:o + k]
            else:
                out[key] = value[:m]
        return {k_: v.clone() for k_, v in out.items()}


class SharedCandidate(nn.Module):
    """One candidate of a weight-shared block: a view that runs its block's :class:`SharedMBConv` (held outside
    the module tree, so the weights are registered once, by the block)."""

    def __init__(self, owner: SharedMBConv, block: BlockSpec):
        super().__init__()
        self.block = block
        object.__setattr__(self, "_owner", owner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.block.is_zero:
            return x
        return self._owner.run(x, self.block)


def check_weights(weights: Any) -> str:
    from ..errors import UsageError

    if weights not in WEIGHTS:
        raise UsageError(f"supernet weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    return weights
