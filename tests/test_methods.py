"""Issue 26: every method is a combination of parts, and each is right on a case that can be checked by hand.

The toy: one ``LayerChoice`` of three convolutions, where two hand on another image's features
(so nothing can be learnt through them) and one sees its own. Every method must pick that one (a method that
picked at random would pass a third of the time; these are seeded and pass every time).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hwnas.errors import HwnasError
from hwnas.predictors.block_costs import BlockCosts
from hwnas.search import SearchConfig, run_search
from hwnas.search.estim import ESTIMATORS
from hwnas.search.methods import METHODS, resolve_parts
from hwnas.search.mixed import MIXED_OPS
from hwnas.search.optim import OPTIMIZERS, check_fit
from hwnas.space import LayerChoice
from hwnas.space.model_space import ModelSpace
from hwnas.train.data import load_synthetic


class _Blind(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return torch.roll(torch.relu(self.conv(x)), 1, dims=0)  # another image's features: nothing to learn


class _Seeing(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.pick = LayerChoice({"blind": _Blind(), "seeing": _Seeing(), "blind2": _Blind()})
        self.head = nn.Sequential(nn.BatchNorm2d(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

    def forward(self, x):
        return self.head(self.pick(self.stem(x)))


@pytest.fixture(scope="module")
def toy():
    space = ModelSpace(Toy, (1, 3, 16, 16))
    costs = BlockCosts(0.1, ((0.05, 0.08, 0.05),))  # the seeing op is the largest (the sandwich's teacher)
    data = load_synthetic(resolution=16, noise=0.1, n=384, seed=0)
    return space, costs, data


def _run(toy, tmp_path, **kw):
    space, costs, data = toy
    base = dict(n_epochs=4, warmup_epochs=1, batch_size=32, init_lr=0.1, arch_optim_lr=0.1,
                grad_update_arch_param_every=1, progress=False, search_rounds=1,
                search_args={"per_round": 3})
    return run_search(space, costs, data, SearchConfig(**{**base, **kw}), run_dir=tmp_path / "run", log=None)


@pytest.mark.parametrize("settings", [
    dict(method="darts"),
    dict(method="gdas"),
    dict(method="gumbel"),
    dict(method="enas", arch_optim_args={"lr": 0.05}, rl_samples=4),
    dict(method="darts", arch_optim="directgrad"),
    dict(method="grad", mixed_op="BinGateUniform", binary_mode="two"),
    dict(method="spos", arch_optim_args={"population": 3}),
    dict(method="spos", train_args={"sandwich": True, "distill": True, "paths": 0},
         arch_optim_args={"population": 3}),
    dict(method="spos", arch_optim="random"),
    dict(method="spos", arch_optim="regularized-evolution", arch_optim_args={"population": 3, "sample": 2},
         search_rounds=2),
    dict(method="spos", arch_optim="grid"),
    dict(method="spos", stages=[{"type": "subnet", "epochs": 1, "per_round": 3, "epochs_each": 2}],
         arch_optim="random"),
], ids=["darts", "gdas", "gumbel", "enas", "directgrad", "bingate-uniform", "spos-evolution", "spos-sandwich-distill",
        "spos-random", "spos-regularized", "spos-grid", "subnet"])
def test_each_method_picks_the_op_that_sees_its_input(toy, tmp_path, settings):
    res = _run(toy, tmp_path, **settings)
    assert res.arch_string == "pick=seeing", (settings, res.history[-1])
    assert (tmp_path / "run" / "arch.json").exists() and (tmp_path / "run" / "nni_arch.json").exists()


def test_the_named_methods_resolve_to_their_parts():
    cfg = SearchConfig(method="ofa", n_epochs=8, search_rounds=3)
    parts = resolve_parts(cfg)
    assert parts["mixed_op"]["type"] == "Index" and parts["optim"]["type"] == "evolution"
    assert [(s["type"], s["epochs"]) for s in parts["stages"]] == [("progressive", 8), ("inherited", 3)]
    grad = resolve_parts(SearchConfig(method="grad", warmup_epochs=2, n_epochs=5, binary_mode="two"))
    assert grad == {"mixed_op": {"type": "BinGate", "binary_mode": "two"}, "optim": {"type": "binarygate"},
                    "stages": [{"type": "warmup", "epochs": 2}, {"type": "supernet", "epochs": 5}]}
    for name in METHODS:
        if METHODS[name].training is not None:
            p = resolve_parts(SearchConfig(method=name))
            check_fit(p["optim"]["type"], MIXED_OPS.create(p["mixed_op"]["type"],
                                                           {k: v for k, v in p["mixed_op"].items() if k != "type"}))


@pytest.mark.parametrize("mixed, optim, fits", [
    ("WeightedSum", "reinforce", "reinforce fits BinGate, BinGateUniform, GumbelSum, Index"),
    ("Index", "darts", "darts fits BinGate, BinGateUniform, GumbelSum, WeightedSum"),
    ("WeightedSum", "evolution", "WeightedSum fits binarygate, darts, directgrad"),
])
def test_combinations_that_make_no_sense_are_refused_naming_what_fits(toy, tmp_path, mixed, optim, fits):
    with pytest.raises(HwnasError, match=fits) as info:
        _run(toy, tmp_path, method="grad", mixed_op=mixed, arch_optim=optim)
    assert len(str(info.value).splitlines()) == 1 and not (tmp_path / "run").exists()


def test_unknown_parts_and_settings_name_what_is_known(toy, tmp_path):
    with pytest.raises(HwnasError, match="unknown mixed op 'Sum'; known: .*WeightedSum"):
        _run(toy, tmp_path, mixed_op="Sum")
    with pytest.raises(HwnasError, match="architecture optimizer 'enas' has no setting hiden; its settings: hidden=64"):
        _run(toy, tmp_path, method="enas", arch_optim_args={"hiden": 32})
    with pytest.raises(HwnasError, match="estimator 'spos' has no setting sandwitch"):
        _run(toy, tmp_path, method="spos", train_args={"sandwitch": True})
    with pytest.raises(HwnasError, match="searches a trained supernet"):
        SearchConfig(method="evolution")


def test_registries_list_the_seeds_names():
    assert {"BinGate", "BinGateUniform", "WeightedSum", "GumbelSum", "Index"} <= set(MIXED_OPS.canonical())
    assert {"binarygate", "reinforce", "darts", "directgrad", "enas", "evolution", "regularized-evolution", "random",
            "grid"} <= set(OPTIMIZERS.canonical())
    assert {"warmup", "supernet", "spos", "progressive", "inherited", "subnet"} <= set(ESTIMATORS.canonical())
    for modnas in ("BinaryGateOptim", "DARTSOptim", "REINFORCEOptim", "DirectGradOptim", "DirectGradOptimBiLevel",
                   "EvolutionOptim", "RegularizedEvolutionOptim", "RandomSearchOptim", "GridSearchOptim"):
        OPTIMIZERS.get(modnas)
    for modnas in ("DefaultEstimator", "SuperNetEstimator", "SubNetEstimator", "ProgressiveShrinkingEstimator"):
        ESTIMATORS.get(modnas)


def test_a_killed_evolution_resumes_where_it_stopped(toy, tmp_path):
    kw = dict(method="spos", n_epochs=2, search_rounds=3, search_args={"per_round": 1},
              arch_optim="random")
    whole = _run(toy, tmp_path / "whole", **kw)

    def kill(epoch, row):
        if epoch == 3:  # after the second search round
            raise KeyboardInterrupt

    space, costs, data = toy
    base = dict(warmup_epochs=1, batch_size=32, init_lr=0.1, arch_optim_lr=0.1, grad_update_arch_param_every=1,
                progress=False)
    cfg = SearchConfig(**base, **kw)
    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "k", log=None, callbacks=[kill])
    resumed = run_search(space, costs, data, cfg, run_dir=tmp_path / "k", resume=True, log=None)
    assert [r.get("best_arch") for r in resumed.history] == [r.get("best_arch") for r in whole.history]
    assert resumed.arch == whole.arch
    assert (tmp_path / "k" / "scores.csv").read_text().count("\n") >= 2
