"""Search behaviour on a synthetic latency model where one candidate is far slower but the only accurate one.

In the tiny space, block 0 decides whether the network can see the input at all: every candidate there except
``k5e6`` passes on the features of another image in the batch (so its accuracy is chance), and ``k5e6`` costs
30 ms against 1 ms. With a tight target the search must leave ``k5e6``; with a loose one it must keep it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hwnas.search.supernet as supernet_module
from hwnas.predictors.block_costs import BlockCosts
from hwnas.search import SearchConfig, run_search
from hwnas.space import get_space
from hwnas.space.builder import build_block
from hwnas.train.data import load_synthetic

GOOD = "k5e6"


class _WrongImage(nn.Module):
    """A candidate that computes normally but hands on another image's features (information destroyed)."""

    def __init__(self, op: nn.Module):
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.roll(self.op(x), 1, dims=0)


def _blinding_build_block(pos, block):
    op = build_block(pos, block)
    return op if pos.index != 0 or block.token == GOOD else _WrongImage(op)


@pytest.fixture
def setting(monkeypatch):
    monkeypatch.setattr(supernet_module, "build_block", _blinding_build_block)
    space = get_space("tiny")
    costs = BlockCosts(0.5, tuple(
        tuple(30.0 if (p.index == 0 and c.token == GOOD) else (0.0 if c.is_zero else 1.0) for c in p.choices)
        for p in space.positions()))
    data = load_synthetic(resolution=16, noise=0.1, n=512, seed=0)
    return space, costs, data


def _search(setting, tmp_path, target_ms, **kw):
    space, costs, data = setting
    # separate weights per candidate: the blinded candidates are built by build_block (a shared supernet slices
    # one MBConv per block instead)
    cfg = SearchConfig(target_ms=target_ms, n_epochs=6, warmup_epochs=3, batch_size=32, init_lr=0.1,
                       arch_optim_lr=0.05, grad_update_arch_param_every=1, progress=False,
                       supernet_weights="separate", **kw)
    res = run_search(space, costs, data, cfg, run_dir=tmp_path / "run", log=None)
    p_good = res.history[-1][f"p0_{GOOD}"]
    return res, p_good


@pytest.mark.parametrize("mode", ["full_v2", "two"])
def test_gradient_search_leaves_the_slow_accurate_op_for_a_tight_target(setting, tmp_path, mode):
    _, costs, _ = setting
    kw = dict(binary_mode=mode, latency_loss="add#linear", loss_lambda=1.0)
    tight, p_tight = _search(setting, tmp_path / "tight", costs.min_ms() * 1.5, **kw)
    loose, p_loose = _search(setting, tmp_path / "loose", costs.max_ms() * 10, **kw)
    assert tight.arch.blocks[0].token != GOOD and p_tight < 0.05
    assert tight.predicted_ms <= costs.min_ms() * 1.5
    assert loose.arch.blocks[0].token == GOOD and p_loose > 0.5
    assert loose.history[-1]["valid_acc"] > 0.9 > tight.history[-1]["valid_acc"]


def test_reinforce_leaves_the_slow_accurate_op_for_a_tight_target(setting, tmp_path):
    _, costs, _ = setting
    kw = dict(method="rl", rl_preset="hard", rl_samples=8)
    tight, p_tight = _search(setting, tmp_path / "tight", costs.min_ms() * 1.5, **kw)
    loose, p_loose = _search(setting, tmp_path / "loose", costs.max_ms() * 1.5, **kw)
    assert tight.arch.blocks[0].token != GOOD and p_tight < 0.1
    assert loose.arch.blocks[0].token == GOOD and p_loose > 0.8
    assert loose.history[-1]["valid_acc"] > 0.9 > tight.history[-1]["valid_acc"]
