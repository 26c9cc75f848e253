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

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from hwnas.search import ProxylessNasTrainer, SearchConfig, run_search
from hwnas.search.inherit import inherited_weights
from hwnas.space.builder import Network
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
