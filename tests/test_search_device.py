"""Issue 14: device and mixed-precision settings, the user's own DataLoaders (ProxylessNasTrainer), deployable
files from retrain, ``hwnas export``, bad input."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hwnas.cli import main
from hwnas.errors import HwnasError
from hwnas.search import ProxylessNasTrainer, SearchConfig, resolve_device, retrain, run_search
from hwnas.search.inherit import inherited_weights
from hwnas.space import get_space
from hwnas.train.data import load_synthetic
from hwnas.train.deploy import load_model
from hwnas.train.retrain import RetrainConfig

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=96, seed=1)


def _cfg(**kw):
    base = dict(target_ms=1.0, n_epochs=1, warmup_epochs=1, batch_size=32, latency_loss="add#linear",
                arch_optim_lr=0.05, grad_update_arch_param_every=1, progress=False)
    return SearchConfig(**{**base, **kw})


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only messages")
def test_device_choices_without_cuda():
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(HwnasError, match="CUDA is not available"):
            resolve_device(spec)
    with pytest.raises(HwnasError, match="unknown device"):
        resolve_device("tpu0")


@pytest.mark.skipif(not NO_CUDA, reason="checks the CPU-only messages")
def test_cli_device_and_amp_errors_are_one_line(tmp_path, capsys):
    table = tmp_path / "t.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(table)]) == 0
    capsys.readouterr()
    base = ["search", "--space", "tiny", "--table", str(table), "--data", "synthetic", "--quiet", "-o",
            str(tmp_path / "run")]
    for extra, fragment in ((["--device", "cuda"], "CUDA is not available"),
                            (["--amp", "bf16"], "needs a CUDA device")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert fragment in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    arch = get_space("tiny").sample(0).to_string()
    for cmd in (["retrain", "--arch", arch, "--space", "tiny", "--data", "synthetic", "--no-measure", "--quiet"],
                ["demo", "--quick", "-o", str(tmp_path / "demo")]):
        assert main([*cmd, "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_config_json_records_the_runtime_and_resume_may_change_device(space, costs, data, tmp_path):
    cfg = _cfg(n_epochs=2, device="cpu")
    full = run_search(space, costs, data, cfg, run_dir=tmp_path / "a", log=None)
    def kill(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "b", log=None, callbacks=[kill])
    rt = json.loads((tmp_path / "b" / "config.json").read_text())["runtime"]
    assert rt["device"] == "cpu" and rt["amp"] == "off" and rt["channels_last"] is True  # a built-in space
    # continued under another device setting ("auto" is the CPU here): the same result as one uninterrupted run
    resumed = run_search(space, costs, data, _cfg(n_epochs=2, device="auto"), run_dir=tmp_path / "b", resume=True,
                         log=None)
    assert resumed.arch == full.arch and resumed.history[-1]["train_loss"] == full.history[-1]["train_loss"]


def test_tiny_data_sets_search_or_fail_clearly(space, costs, tmp_path):
    few = load_synthetic(resolution=16, n=12, seed=0)  # 9 training images, fewer than one batch of 32
    res = run_search(space, costs, few, _cfg(), run_dir=tmp_path / "few", log=None)
    assert len(res.history) == 2
    empty = dataclasses.replace(few, train=few.train.subset([]))
    with pytest.raises(HwnasError, match="0 training images"):
        run_search(space, costs, empty, _cfg(), run_dir=tmp_path / "empty", log=None)


def _loaders(data, batch=32):
    g = torch.Generator().manual_seed(0)
    train = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=batch, shuffle=True, generator=g)
    valid = DataLoader(TensorDataset(data.valid.x, data.valid.y), batch_size=batch, shuffle=True,
                       generator=torch.Generator().manual_seed(1))
    return train, valid


def test_trainer_keeps_nni_argument_names_and_defaults():
    nni = dict(model_optim=None, device=None, train_loader=None, valid_loader=None, label_smoothing=0.1,
               n_epochs=120, init_lr=0.025, binary_mode="full_v2", arch_init_type="normal", arch_init_ratio=1e-3,
               arch_optim_lr=1e-3, arch_weight_decay=0, grad_update_arch_param_every=5, grad_update_steps=1,
               warmup=True, warmup_epochs=25, arch_valid_frequency=1, load_ckpt=False, ckpt_path=None,
               arch_path=None)
    params = inspect.signature(ProxylessNasTrainer).parameters
    assert list(params)[:len(nni) + 1] == ["model", *nni]
    assert {k: params[k].default for k in nni} == nni


def test_trainer_searches_with_the_users_loaders_loss_and_optimiser(space, costs, data, tmp_path):
    train, valid = _loaders(data)
    calls = []

    def loss(out, y):
        calls.append(len(y))
        return torch.nn.functional.cross_entropy(out, y)

    t = ProxylessNasTrainer(space, model_optim=functools.partial(torch.optim.Adam, lr=1e-3), device="cpu",
                            train_loader=train, valid_loader=valid, n_epochs=1, warmup_epochs=1,
                            grad_update_arch_param_every=1, ckpt_path=str(tmp_path / "run"),
                            arch_path=str(tmp_path / "arch.json"), latency=costs, target_ms=1.0,
                            loss=loss, latency_loss="add#linear", progress=False)
    res = t.train()
    assert len(calls) == 2 * len(train)  # the user's loss on every weight step of warm-up and search
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert "exp_avg" in str(ckpt["weight_opt"]["state"])  # the user's optimiser (Adam) trained the weights
    assert json.loads((tmp_path / "arch.json").read_text())["arch"] == res.arch_string
    with pytest.raises(HwnasError, match="factory"):
        ProxylessNasTrainer(space, model_optim=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1),
                            train_loader=train, valid_loader=valid).train()


def test_retrain_writes_a_deployable_network_checked_against_torch(space, costs, data, tmp_path):
    res = run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)
    out = retrain(res.arch, space, data, RetrainConfig(epochs=1, batch_size=32, device="cpu"), init_weights=inherited_weights(tmp_path / "r", res.arch, space),
                  costs=costs, output=tmp_path / "m", progress=False, log=None)
    assert out.recalibrated_images > 0 and out.runtime["device"] == "cpu"
    (onnx,) = [e for e in out.exported if e["path"].endswith(".onnx")]
    assert onnx["max_abs_diff"] <= 1e-4 and onnx["ok"]
    raw = torch.load(tmp_path / "m" / "model.pt", weights_only=True)  # plain data: loads without running code
    assert raw["arch"] == res.arch.to_string()
    model, arch, _ = load_model(tmp_path / "m")
    assert arch == res.arch
    x = data.test.x[:4]
    assert torch.allclose(model(x), model(x))
    saved = json.loads((tmp_path / "m" / "retrain.json").read_text())
    assert saved["exported"][0]["max_abs_diff"] == onnx["max_abs_diff"]


def test_export_command_for_a_run_and_for_a_model(space, costs, data, tmp_path, capsys):
    run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)
    assert main(["export", str(tmp_path / "r"), "-o", str(tmp_path / "a.onnx"), "--data", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert "recalibrated" in out and "within" in out and (tmp_path / "a.onnx").stat().st_size > 1000
    res = run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r2", log=None)
    retrain(res.arch, space, data, RetrainConfig(epochs=0), output=tmp_path / "m", progress=False, log=None)
    assert main(["export", str(tmp_path / "m" / "model.pt"), "--format", "onnx", "-o", str(tmp_path / "b.x")]) == 0
    assert "trained weights" in capsys.readouterr().out
    from hwnas.train.deploy import has_executorch

    if not has_executorch():  # the ExecuTorch program needs the mobile extra: one line naming it, no file left
        assert main(["export", str(tmp_path / "m"), "-o", str(tmp_path / "m.pte")]) == 2
        err = capsys.readouterr().err.strip()
        assert "mobile" in err and len(err.splitlines()) == 1 and not (tmp_path / "m.pte").exists()
    assert main(["export", str(tmp_path / "nothing"), "-o", str(tmp_path / "c.onnx")]) == 2
    assert main(["export", str(tmp_path / "m"), "-o", str(tmp_path / "c.txt")]) == 2
    assert "format" in capsys.readouterr().err


def test_resume_is_exact_with_augmented_folder_data_and_worker_processes(space, costs, tmp_path):
    """The order and the augmentation come from the checkpointed generators alone: a run killed after an epoch
    and resumed with a DataLoader worker process ends where an uninterrupted in-process run ends."""
    from PIL import Image

    from hwnas.train.data import data_for_space

    rng = torch.Generator().manual_seed(0)
    for c in range(3):
        (tmp_path / "img" / f"c{c}").mkdir(parents=True)
        for i in range(10):
            arr = (torch.rand(20, 20, 3, generator=rng) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(tmp_path / "img" / f"c{c}" / f"{i}.png")
    data = data_for_space(f"folder:{tmp_path / 'img'}", space, augment="imagenet", test_fraction=0.2)
    assert data.train.augments and not data.valid.augments
    cfg = _cfg(n_epochs=2, batch_size=8, workers=0)
    full = run_search(space, costs, data, cfg, run_dir=tmp_path / "a", log=None)

    def kill(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "b", log=None, callbacks=[kill])
    resumed = run_search(space, costs, data, dataclasses.replace(cfg, workers=1), run_dir=tmp_path / "b",
                         resume=True, log=None)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    assert resumed.arch == full.arch


class _ViewsItsActivations(torch.nn.Module):
    """A user's model as many are written: ``.view`` on a 4-D activation, which channels-last strides break."""

    def __init__(self):
        super().__init__()
        from hwnas.space import LayerChoice

        self.conv = LayerChoice([torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 5, padding=2)])
        self.fc = torch.nn.Linear(4 * 16 * 16, 10)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.size(0), -1))


def test_channels_last_by_default_on_built_in_spaces_and_off_for_a_users_model(space):
    from hwnas.space import ModelSpace
    from hwnas.train.device import Runtime

    model_space = ModelSpace(_ViewsItsActivations, (1, 3, 16, 16))
    assert Runtime.create("cpu", space=space).channels_last is True
    assert Runtime.create("cpu", space=model_space).channels_last is False
    assert Runtime.create("cpu").channels_last is False  # no space given: as before, on CUDA only
    assert Runtime.create("cpu", channels_last=False, space=space).channels_last is False
    assert Runtime.create("cpu", channels_last=True, space=model_space).channels_last is True


def test_a_model_that_views_its_activations_searches_and_retrains_with_the_defaults(data, tmp_path):
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.space import ModelSpace

    model_space = ModelSpace(_ViewsItsActivations, (1, 3, 16, 16))
    costs = BlockCosts(0.1, tuple(tuple(0.01 * (j + 1) for j in range(len(d.labels)))
                                  for d in model_space.decisions))
    res = run_search(model_space, costs, data, _cfg(target_ms=0.12), run_dir=tmp_path / "run", log=None)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["runtime"]["channels_last"] is False
    out = retrain(res.arch, model_space, data, RetrainConfig(epochs=1, batch_size=32), progress=False, log=None)
    assert out.runtime["channels_last"] is False and 0 <= out.test_acc <= 1


def test_channels_last_training_exports_a_network_that_matches_torch(space, data, tmp_path):
    """The default on the CPU: trained channels-last, saved, exported and checked as a plain contiguous network."""
    arch = space.sample(3)
    out = retrain(arch, space, data, RetrainConfig(epochs=1, batch_size=32), output=tmp_path / "rt",
                  formats=("onnx",), progress=False, log=None)
    assert out.runtime["channels_last"] is True
    assert out.exported and all(e["ok"] for e in out.exported)
    saved = torch.load(tmp_path / "rt" / "model.pt", weights_only=True)["state_dict"]
    assert all(t.is_contiguous() for t in saved.values())  # as written, not as loaded (loading copies)
    assert load_model(tmp_path / "rt" / "model.pt")[1] == arch


def test_a_resumed_run_keeps_the_memory_format_it_started_in(space, costs, data, tmp_path):
    """A run started contiguous (as every CPU run before channels-last became the default) resumes contiguous when
    nothing is said, and takes a format that is given."""
    def kill(epoch, row):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, _cfg(n_epochs=2, channels_last=False), run_dir=run, log=None, callbacks=[kill])
    run_search(space, costs, data, _cfg(n_epochs=2), run_dir=run, resume=True, log=None)
    assert json.loads((run / "config.json").read_text())["runtime"]["channels_last"] is False
    run_search(space, costs, data, _cfg(n_epochs=3, channels_last=True), run_dir=run, resume=True, log=None)
    assert json.loads((run / "config.json").read_text())["runtime"]["channels_last"] is True


def test_memory_format_flag_reaches_the_run(tmp_path, capsys):
    arch = get_space("tiny").sample(0).to_string()
    base = ["retrain", "--arch", arch, "--space", "tiny", "--data", "synthetic", "--data-limit", "64", "--epochs", "1",
            "--no-measure", "--quiet"]
    for flag, want in (("contiguous", False), ("channels-last", True)):
        out = tmp_path / flag
        assert main([*base, "--memory-format", flag, "-o", str(out)]) == 0
        assert json.loads((out / "retrain.json").read_text())["runtime"]["channels_last"] is want
    with pytest.raises(SystemExit) as exc:
        main([*base, "--memory-format", "sideways"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_resume_with_a_damaged_runtime_record_takes_the_default(space, costs, data, tmp_path):
    """Found by the fuzzer: ``"runtime": null`` in config.json stopped the resume with an AttributeError."""
    def kill(epoch, row):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_search(space, costs, data, _cfg(n_epochs=2), run_dir=run, log=None, callbacks=[kill])
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "runtime": None}))
    run_search(space, costs, data, _cfg(n_epochs=2), run_dir=run, resume=True, log=None)
    assert json.loads((run / "config.json").read_text())["runtime"]["channels_last"] is True
