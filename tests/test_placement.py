"""Issue 24: everything a run computes with is on the run's device, through one path, caught on a CPU.

A CPU-only machine has one device, so a tensor left "on the CPU" in a GPU run looks like every other tensor here.
The spy below stands in for a second device: it marks every tensor that the code explicitly sends to a device
(``Tensor.to``, which ``Module.to`` uses for each parameter and buffer) and fails, naming the tensor, when a
network is run on inputs, parameters or buffers that never were, or when a loss is computed against targets that
never were. On hwnas 0.1 (1b414a5) this caught both bugs seen on an H200: the one-process search never moved the
supernet (``DistContext.prepare`` moved it only under torchrun) and never moved the labels (nor the architecture
steps' batches).
"""

from __future__ import annotations

import functools
import json

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hwnas.search import ProxylessNasTrainer, SearchConfig, run_search
from hwnas.search.inherit import inherited_weights
from hwnas.space.builder import Network
from hwnas.testing.device_taint import DeviceTaint
from hwnas.testing.device_taint import Misplaced as TaintMisplaced
from hwnas.train.data import load_synthetic
from hwnas.train.retrain import RetrainConfig, retrain

_MARK = "_hwnas_placed"


class Misplaced(AssertionError):
    pass


@pytest.fixture
def placement_spy(monkeypatch):
    """Fails the test at the first computation on tensors that did not pass through a device placement."""
    real_to = torch.Tensor.to
    seen: dict[str, int] = {"checked_forwards": 0, "checked_losses": 0}

    def to(self, *args, **kwargs):
        out = real_to(self, *args, **kwargs)
        try:
            setattr(out, _MARK, True)
        except (AttributeError, RuntimeError):  # pragma: no cover - a tensor type that takes no attributes
            pass
        return out

    def placed(t: torch.Tensor) -> bool:
        return getattr(t, _MARK, False)

    def roots() -> tuple[type, ...]:
        from hwnas.search.supernet import _SupernetMixin

        return (_SupernetMixin, Network)

    def before_forward(module, args, kwargs):
        for name, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if not placed(t):
                raise Misplaced(f"{type(module).__name__}.{name} was never placed on the run's device")
        if isinstance(module, roots()) or getattr(module, "_spy_root", False):
            for i, t in enumerate([*args, *kwargs.values()]):
                if isinstance(t, torch.Tensor) and not placed(t):
                    raise Misplaced(f"input {i} of {type(module).__name__} was never placed on the run's device")
            seen["checked_forwards"] += 1

    real_ce = F.cross_entropy

    def cross_entropy(input, target, *args, **kwargs):
        if not placed(target):
            raise Misplaced("the loss's targets were never placed on the run's device")
        seen["checked_losses"] += 1
        return real_ce(input, target, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(F, "cross_entropy", cross_entropy)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda m, a: before_forward(m, a, {}))
    try:
        yield seen
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=64, seed=3)


def _cfg(**kw):
    base = dict(target_ms=1.0, n_epochs=1, warmup_epochs=1, batch_size=16, latency_loss="add#abs", loss_lambda=1.0,
                arch_optim_lr=0.05, grad_update_arch_param_every=1, progress=False, device="cpu")
    return SearchConfig(**{**base, **kw})


@pytest.mark.parametrize("settings", [
    dict(method="grad", binary_mode="full_v2"),
    dict(method="grad", binary_mode="two", supernet_weights="shared"),
    dict(method="grad", binary_mode="full"),
    dict(method="rl", rl_samples=3),
], ids=["grad-full_v2", "grad-two-shared", "grad-full", "rl"])
def test_search_places_the_supernet_every_batch_and_every_target(placement_spy, space, costs, data, tmp_path,
                                                                 settings):
    res = run_search(space, costs, data, _cfg(**settings), run_dir=tmp_path / "r", log=None)
    assert len(res.history) == 2
    # weight steps, architecture steps and the per-epoch evaluation all ran under the spy
    assert placement_spy["checked_forwards"] >= 3 * len(data.train) // 16
    if settings["method"] == "grad":
        assert placement_spy["checked_losses"] >= 2 * len(data.train) // 16


def test_retrain_of_inherited_weights_places_everything(placement_spy, space, costs, data, tmp_path):
    res = run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)
    before = placement_spy["checked_forwards"]
    out = retrain(res.arch, space, data, RetrainConfig(epochs=1, batch_size=16, device="cpu"),
                  init_weights=inherited_weights(tmp_path / "r", res.arch, space), progress=False, log=None)
    assert out.recalibrated_images > 0 and placement_spy["checked_forwards"] > before


def test_the_users_loaders_reach_the_run_through_the_same_path(placement_spy, space, costs, data, tmp_path):
    """ProxylessNasTrainer with the user's DataLoaders (which hand out tensors wherever they were made)."""
    train = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=16, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    valid = DataLoader(TensorDataset(data.valid.x, data.valid.y), batch_size=16)
    t = ProxylessNasTrainer(space, model_optim=functools.partial(torch.optim.SGD, lr=0.01), device="cpu",
                            train_loader=train, valid_loader=valid, n_epochs=1, warmup_epochs=1,
                            grad_update_arch_param_every=1, ckpt_path=str(tmp_path / "run"), latency=costs,
                            target_ms=1.0, latency_loss="add#abs", progress=False)
    t.train()
    assert placement_spy["checked_losses"] >= 2 * len(train)


@pytest.fixture(scope="module")
def nni_space():
    """Built before the spy starts (higher-scoped fixtures come first): finding the choices runs the model once on
    the CPU, which is not a training run."""
    from hwnas.space.model_space import ModelSpace

    return ModelSpace("examples.nni_mnist:Net", (1, 1, 28, 28))


def test_a_model_space_search_places_the_users_model(placement_spy, nni_space, tmp_path):
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.train.data import DataSplits, ImageData

    space = nni_space
    costs_ = BlockCosts(0.1, tuple(tuple(0.01 * (i + 1) for i in range(len(labels)))
                                   for labels in space.choice_labels()))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(10, (48,), generator=g)
    data = DataSplits("toy", ImageData(x[:32], y[:32]), ImageData(x[32:40], y[32:40]), ImageData(x[40:], y[40:]), 10)
    res = run_search(space, costs_, data, _cfg(target_ms=costs_.max_ms()), run_dir=tmp_path / "m", log=None)
    assert len(res.history) == 2 and placement_spy["checked_losses"] > 0


def test_the_spy_catches_a_forgotten_placement(placement_spy):
    """The check itself: a network never placed, and targets never placed, are both reported."""
    net = torch.nn.Linear(3, 2)
    net._spy_root = True
    with pytest.raises(Misplaced, match="weight was never placed"):
        net(torch.zeros(1, 3).to("cpu"))
    net = net.to("cpu")
    with pytest.raises(Misplaced, match="input 0"):
        net(torch.zeros(1, 3))
    out = net(torch.zeros(1, 3).to("cpu"))
    with pytest.raises(Misplaced, match="targets"):
        F.cross_entropy(out, torch.zeros(1, dtype=torch.long))


# --- every method, under the stricter check --------------------------------------------------------------------
# ``DeviceTaint`` (hwnas/testing/device_taint.py) follows every tensor through every torch operation, so it also sees what a
# method makes inside its step: Gumbel noise, a one-hot index, an optimizer's state, the latency term, a
# controller's rewards, the BatchNorm re-estimation of an inherited child.

_EVERY_METHOD = {
    "grad": dict(method="grad"),
    "grad-shared": dict(method="grad", supernet_weights="shared"),
    "rl": dict(method="rl", rl_samples=3),
    "darts": dict(method="darts"),
    "directgrad": dict(method="darts", arch_optim="directgrad"),
    "gdas": dict(method="gdas"),
    "gumbel": dict(method="gumbel"),
    "bingate-uniform": dict(method="grad", mixed_op="BinGateUniform", binary_mode="two"),
    "enas": dict(method="enas", rl_samples=3),
    "spos": dict(method="spos", arch_optim_args={"population": 3}),
    "spos-sandwich-distill": dict(method="spos", train_args={"sandwich": True, "distill": True},
                                  arch_optim_args={"population": 3}),
    "spos-regularized": dict(method="spos", arch_optim="regularized-evolution",
                             arch_optim_args={"population": 3, "sample": 2}),
    "ofa": dict(method="ofa", arch_optim_args={"population": 3}),
    # the default scores each path inside the supernet; the recipe before recalibrates a child on a Subset loader
    "spos-recalibrate": dict(method="spos", arch_optim_args={"population": 3},
                             search_args={"per_round": 3, "recalibrate_batches": 2, "bn": "recalibrate"}),
    "subnet": dict(method="spos", arch_optim="random",
                   stages=[{"type": "subnet", "epochs": 1, "per_round": 2, "epochs_each": 1}]),
}


def _tainted(**kw):
    return _cfg(search_rounds=1, **{"search_args": {"per_round": 3}, **kw})


@pytest.mark.parametrize("name", list(_EVERY_METHOD))
def test_every_method_computes_on_the_runs_device_only(name, space, costs, data, tmp_path):
    mode = DeviceTaint()
    with mode:
        res = run_search(space, costs, data, _tainted(**_EVERY_METHOD[name]), run_dir=tmp_path / "r", log=None)
    assert res.history and mode.checked > 1000, (name, mode.checked)


@pytest.mark.parametrize("name", ["darts", "gdas", "enas", "spos"])
def test_every_method_places_a_users_model(name, nni_space, tmp_path):
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.train.data import DataSplits, ImageData

    costs_ = BlockCosts(0.1, tuple(tuple(0.01 * (i + 1) for i in range(len(labels)))
                                   for labels in nni_space.choice_labels()))
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(10, (48,), generator=g)
    data_ = DataSplits("toy", ImageData(x[:32], y[:32]), ImageData(x[32:40], y[32:40]), ImageData(x[40:], y[40:]), 10)
    mode = DeviceTaint()
    with mode:
        res = run_search(nni_space, costs_, data_, _tainted(target_ms=costs_.max_ms(), **_EVERY_METHOD[name]),
                         run_dir=tmp_path / "m", log=None)
    assert res.history and mode.checked > 100


@pytest.mark.parametrize("bn", ["batch", "recalibrate"])
def test_a_trained_supernet_is_searched_and_its_networks_retrained_on_the_runs_device(space, costs, data, tmp_path,
                                                                                      bn):
    """Train once (outside the check), then what each new target runs: inherited scores (each held-out batch's
    own BatchNorm statistics, or re-estimated ones), the accuracy predictor, and the retraining of the network found
    from its inherited weights."""
    sup = tmp_path / "supernet"
    run_search(space, costs, data, _cfg(method="spos", supernet_weights="shared", search_rounds=0), run_dir=sup,
               log=None)
    args = {"per_round": 4, "predictor": 6, "top_k": 2, "bn": bn, **({"recalibrate_batches": 2} if bn == "recalibrate"
                                                                     else {})}
    t = round(costs.min_ms() + 0.5 * (costs.max_ms() - costs.min_ms()), 4)
    mode = DeviceTaint()
    with mode:
        res = run_search(space, costs, data, _cfg(method="evolution", supernet=str(sup), supernet_weights="shared",
                                                  target_ms=t, search_rounds=2, search_args=args),
                         run_dir=tmp_path / "s", log=None)
        out = retrain(res.arch, space, data, RetrainConfig(epochs=1, batch_size=16, device="cpu"),
                      init_weights=inherited_weights(sup, res.arch, space), progress=False, log=None)
    assert out.recalibrated_images > 0 and mode.checked > 1000


def test_the_taint_check_catches_what_a_gpu_would_refuse():
    """The check itself: host labels, an unplaced network, host noise beside a placed parameter; and what CUDA
    allows (a 0-dim host scalar, host indices) passes."""
    with DeviceTaint():
        net = torch.nn.Linear(3, 2).to("cpu")
        out = net(torch.zeros(4, 3).to("cpu"))
        with pytest.raises(TaintMisplaced, match="cross_entropy"):
            F.cross_entropy(out, torch.zeros(4, dtype=torch.long))
        with pytest.raises(TaintMisplaced, match="linear"):
            torch.nn.Linear(3, 2)(torch.zeros(4, 3).to("cpu"))
        with pytest.raises(TaintMisplaced):
            net.weight + torch.rand(2, 3)
        with pytest.raises(TaintMisplaced):  # made "where a host tensor is", then mixed with the run's
            net.weight + torch.zeros(2, 3, device=torch.zeros(1).device)
        out.sum().backward()
        net.weight * torch.tensor(2.0) + net.weight.grad  # gradients are where their parameters are
        net.weight[torch.tensor([0])]
        torch.nn.Parameter(torch.zeros(3, device="cpu")) + net.bias.repeat(2)[:3]
        host = torch.ones(2, 3)
        with pytest.raises(TaintMisplaced, match="indexes a host tensor"):  # device indices into a host tensor
            host[torch.tensor([0]).to("cpu")]
        net.weight.cpu() + host  # back on the host, as .cpu() and .to(a host tensor's device) are on a GPU
        net.weight.to(host.device) + host
        moved = host.type_as(net.weight)  # goes where the other is; the host tensor itself stays
        with pytest.raises(TaintMisplaced):
            moved + host


# --- mixed precision: the dtype class, on the CPU's autocast ------------------------------------------------------
# ``--amp`` is refused on the CPU (it is slower there), but torch's CPU autocast casts as CUDA's does, so a step
# that mixes a half-precision activation with an fp32 weight outside autocast fails here as it would on a GPU.
# (hwnas 0.1's binary-gate backward re-entered autocast for CUDA only, so this test is also what keeps it
# device-agnostic.)

@pytest.fixture
def cpu_autocast(monkeypatch):
    import dataclasses

    from hwnas.train.device import Runtime

    real = Runtime.create.__func__

    def create(cls, device="auto", amp="off", channels_last=None, *, space=None):
        return dataclasses.replace(real(cls, device, "off", channels_last, space=space), amp=amp or "off")

    monkeypatch.setattr(Runtime, "create", classmethod(create))
    seen: dict[str, int] = {}

    def count(module, args, out):
        if isinstance(out, torch.Tensor):
            seen[str(out.dtype)] = seen.get(str(out.dtype), 0) + 1

    handle = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        yield seen
    finally:
        handle.remove()


@pytest.mark.parametrize("name, amp", [(n, "bf16") for n in _EVERY_METHOD if n != "subnet"]
                         + [("grad", "fp16"), ("darts", "fp16"), ("spos-sandwich-distill", "fp16")])
def test_every_method_trains_under_mixed_precision(cpu_autocast, name, amp, space, costs, data, tmp_path):
    res = run_search(space, costs, data, _tainted(amp=amp, **_EVERY_METHOD[name]), run_dir=tmp_path / "r", log=None)
    half = "torch.bfloat16" if amp == "bf16" else "torch.float16"
    assert cpu_autocast.get(half, 0) > 100, cpu_autocast  # autocast did run the convolutions in half precision
    assert res.history and res.arch is not None
    assert json.loads((tmp_path / "r" / "config.json").read_text())["runtime"]["amp"] == amp


def test_a_network_retrains_under_mixed_precision(cpu_autocast, space, data):
    out = retrain(space.sample(0), space, data, RetrainConfig(epochs=1, batch_size=16, device="cpu", amp="fp16"),
                  progress=False, log=None)
    assert 0 <= out.test_acc <= 1 and cpu_autocast.get("torch.float16", 0) > 10
