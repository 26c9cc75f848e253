"""What a newcomer trips on (issue 28): the README's and the guides' paths as a new user follows them, with the
defaults a new user gets. Each test is fast (the tiny space, a fake backend, a few dozen images)."""

from __future__ import annotations

import json

import pytest
import torch

from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.predictors.block_costs import BlockCosts
from hwnas.search import SearchConfig, run_search
from hwnas.search.run import RunDir, RunError, costs_from_dict
from hwnas.train.data import load_synthetic


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=96, seed=1)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "tiny.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "-o", str(path)]) == 0
    return path


def _quick(**kw):
    base = dict(n_epochs=1, warmup_epochs=1, batch_size=16, progress=False)
    return SearchConfig(**{**base, **kw})


# ---- 1. a calibrated predictor's negative per-candidate corrections ---------------------------------------------
def test_block_costs_with_negative_corrections_but_positive_totals_are_read_back(tmp_path, space):
    """The calibrated predictor's per-candidate corrections may be negative; only each network's total is a
    latency. ``hwnas retrain RUN`` reads block_costs.json back: it must accept what the search wrote."""
    costs = BlockCosts(0.5, tuple((0.1, -0.0124) + (0.05,) * (len(p.choices) - 2) for p in space.positions()))
    assert costs.min_ms() > 0
    rd = RunDir(tmp_path)
    (tmp_path / RunDir.COSTS).write_text(json.dumps({"const_ms": 0.5, "costs": [list(c) for c in costs.costs]}))
    assert rd.costs() == costs


def test_block_costs_whose_fastest_network_is_below_zero_are_refused():
    with pytest.raises(RunError, match="fastest network.*below 0"):
        costs_from_dict({"const_ms": 0.01, "costs": [[0.1, -0.2], [0.0, 0.05]]})
    with pytest.raises(RunError, match="not a number of ms"):
        costs_from_dict({"const_ms": 0.01, "costs": [[0.1, float("nan")]]})


# ---- 2. the default latency loss at sub-millisecond targets -----------------------------------------------------
def test_default_latency_loss_works_below_one_millisecond(space, costs, data, tmp_path):
    target = (costs.min_ms() + costs.max_ms()) / 2
    assert target < 1.0
    res = run_search(space, costs, data, _quick(target_ms=target), run_dir=tmp_path / "r", log=None)
    assert res.predicted_ms > 0
    assert any(r.get("arch_loss") == r.get("arch_loss") for r in res.history if "arch_loss" in r)


def test_default_latency_loss_is_the_official_one_above_one_millisecond(space):
    from hwnas.search.latency_loss import resolve_latency_loss

    big = BlockCosts(20.0, tuple(tuple(1.0 + i for i in range(len(p.choices))) for p in space.positions()))
    assert resolve_latency_loss("auto", 30.0, big.min_ms()) == "mul#log"
    assert resolve_latency_loss("auto", 0.45, 0.2) == "add#abs"
    assert resolve_latency_loss("mul#pow", 0.45, 0.2) == "mul#pow"


def test_an_undefined_latency_loss_from_python_names_no_command_line_flag(space, costs, data):
    with pytest.raises(UsageError) as err:
        run_search(space, costs, data, _quick(target_ms=0.6, latency_loss="mul#log"), log=None)
    assert "--" not in str(err.value) and "latency_loss=" in str(err.value)


def test_cli_search_at_a_sub_millisecond_target_with_the_default_loss(table, tmp_path, capsys):
    assert main(["search", "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--epochs", "1",
                 "--warmup-epochs", "1", "--data", "synthetic", "--data-limit", "64", "--batch-size", "16",
                 "--quiet", "-o", str(tmp_path / "r")]) == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["search"]["latency_loss"] == "auto"
    assert saved["latency_model"]["latency_loss"] == "add#abs"


# ---- 3. epochs with fewer batches than --arch-every -------------------------------------------------------------
def test_arch_every_longer_than_an_epoch_is_clamped_and_alpha_moves(space, costs, data, tmp_path, caplog):
    """72 synthetic training images at batch 32: 3 batches per epoch, fewer than the default 5 weight steps between
    architecture steps. Before, α never moved and the run still 'exported' a network."""
    cfg = _quick(target_ms=0.9, batch_size=32, n_epochs=2, latency_loss="add#abs", arch_optim_lr=0.05)
    lines: list[str] = []
    res = run_search(space, costs, data, cfg, run_dir=tmp_path / "r", log=lines.append)
    assert any("architecture step every 3 weight steps" in line for line in lines), lines
    search_rows = [r for r in res.history if r["phase"] == "search"]
    assert all(r["arch_loss"] == r["arch_loss"] for r in search_rows)  # not NaN: α had steps in every epoch
    assert res.alpha_moved


def test_a_search_whose_alpha_never_moved_says_so(space, costs, data, tmp_path, capsys):
    """Warm-up only (no search epoch): the exported network is the latency model's pick from untrained α."""
    lines: list[str] = []
    res = run_search(space, costs, data, _quick(target_ms=0.9, n_epochs=0), run_dir=tmp_path / "r",
                     log=lines.append)
    assert not res.alpha_moved
    assert any("α never moved" in line for line in lines)
    assert not any("fitted to the target" in line and "never" not in line for line in lines)


def test_cli_search_with_short_epochs_adapts_and_one_without_search_epochs_warns(table, tmp_path, capsys):
    common = ["search", "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--warmup-epochs", "1",
              "--data", "synthetic", "--data-limit", "64", "--batch-size", "16", "--quiet"]
    assert main([*common, "--epochs", "1", "-o", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "architecture step every" in out and "never moved" not in out
    assert main([*common, "--epochs", "0", "-o", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "α never moved" in out and "not searched" in out


# ---- 6. retrain uses the data the run recorded --------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["search", "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--epochs", "1",
                 "--warmup-epochs", "1", "--data", "synthetic", "--data-limit", "64", "--batch-size", "16",
                 "--latency-loss", "add#abs", "--quiet", "-o", str(out)]) == 0
    return out


def test_retrain_without_data_uses_the_runs_data(run, capsys):
    capsys.readouterr()
    assert main(["retrain", str(run), "--epochs", "1", "--no-measure", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(synthetic," in out and "digits" not in out


# ---- 7. the Python API measures as the CLI does -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["onnxruntime", "torch"])  # the fake backend keeps its quick protocol
def test_create_backend_defaults_to_the_clis_protocol(name, tmp_path):
    from hwnas.cli.flags import backend_from_args
    from hwnas.cli.main import build_parser
    from hwnas.profilers import create_backend

    a = build_parser().parse_args(["profile", "--space", "tiny", "--backend", name, "-o", str(tmp_path / "t.csv")])
    assert create_backend(name, threads=1).settings() == backend_from_args(a).settings()


# ---- 8. labels outside the class range ----------------------------------------------------------------------------
def test_cifar_batches_with_a_label_outside_the_ten_classes_are_refused_naming_the_file(tmp_path, capsys):
    import numpy as np

    from hwnas.train.data import load_cifar10, write_cifar_batch

    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 40), ("test_batch", 10)):
        labels = rng.integers(0, 10, n)
        if name == "data_batch_1":
            labels[7] = 99
        write_cifar_batch(tmp_path / name, rng.integers(0, 255, (n, 3, 32, 32)), labels)
    with pytest.raises(UsageError, match=r"data_batch_1.*label 99.*0\.\.9"):
        load_cifar10(tmp_path)
    assert main(["retrain", "--space", "tiny", "--arch", "k5e6-k5e6|k5e3-k3e6", "--data", f"cifar10:{tmp_path}",
                 "--epochs", "1", "--no-measure", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "label 99" in err and "Traceback" not in err


def test_idx_test_labels_outside_the_training_classes_are_refused(tmp_path):
    import numpy as np

    from hwnas.train.data import load_idx, write_idx

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 255, (30, 8, 8)).astype(np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", (np.arange(30) % 3).astype(np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 255, (6, 8, 8)).astype(np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 7, 0, 1], dtype=np.uint8))
    with pytest.raises(UsageError, match=r"label 7.*0\.\.2"):
        load_idx(tmp_path, resolution=8)


# ---- 9. export of a model space's retrained network --------------------------------------------------------------
class TinyNet(torch.nn.Module):
    """A model space small enough for a test: one LayerChoice, a BatchNorm1d head (as users write them)."""

    def __init__(self):
        super().__init__()
        from hwnas.space import LayerChoice

        nn = torch.nn
        self.conv = LayerChoice([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 5, padding=2)])
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                  nn.Linear(16, 4))

    def forward(self, x):
        return self.head(torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 4))


MODEL = ["--model", f"{__name__}:TinyNet", "--input-shape", "1,3,16,16"]


def test_export_of_a_model_space_network_takes_model_or_the_recorded_factory(tmp_path, capsys):
    out = tmp_path / "retrained"
    assert main(["retrain", *MODEL, "--arch", "conv=1", "--data", "synthetic", "--data-limit", "40", "--epochs", "1",
                 "--no-measure", "--quiet", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(out), *MODEL, "-o", str(tmp_path / "a.onnx")]) == 0
    assert "within" in capsys.readouterr().out
    assert main(["export", str(out), "-o", str(tmp_path / "b.onnx")]) == 0  # the factory model.pt records
    assert (tmp_path / "b.onnx").exists()


# ---- 10. --resume where there is no run -----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [False, True])
def test_resume_of_a_folder_without_a_run_says_there_is_no_run(tmp_path, capsys, make):
    out = tmp_path / "empty"
    if make:
        out.mkdir()
    assert main(["search", "--resume", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no search run to resume" in err and "needs a latency model" not in err


# ---- 12. defaults that work for the user ----------------------------------------------------------------------------
def test_default_supernet_weights_are_shared_on_built_in_spaces_and_separate_on_model_spaces(space):
    from hwnas.search.supernet import build_supernet
    from hwnas.space import ModelSpace

    weights = SearchConfig().supernet_weights
    assert build_supernet(space, weights=weights).weights == "shared"
    build_supernet(ModelSpace(TinyNet, (1, 3, 16, 16)), weights=weights)  # not refused: separate there


def test_a_predictor_fitted_with_the_default_kind_is_one_search_accepts(table, tmp_path, capsys):
    archs, pred = tmp_path / "archs.csv", tmp_path / "p.joblib"
    assert main(["measure-archs", "--space", "tiny", "--backend", "fake", "--n", "12", "--quiet",
                 "-o", str(archs)]) == 0
    assert main(["predictor", "fit", "--table", str(table), "--archs", str(archs), "-o", str(pred)]) == 0
    assert main(["search", "--space", "tiny", "--predictor", str(pred), "--epochs", "1", "--warmup-epochs", "0",
                 "--data", "synthetic", "--data-limit", "40", "--batch-size", "16", "--quiet",
                 "-o", str(tmp_path / "r")]) == 0, capsys.readouterr().err


# ---- 13. a whole pickled module --------------------------------------------------------------------------------------
def test_export_of_a_pickled_module_is_one_line_in_hwnas_voice(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), path)  # a whole module: a pickle of classes
    assert main(["export", str(path), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "weights_only=False" not in err, err
    assert "pickled" in err and "state_dict" in err


# ---- 14. smaller ones, and the model space's MACs -------------------------------------------------------------------
def test_measure_archs_on_a_small_model_space_says_it_measured_fewer_and_counts_whole_network_macs(tmp_path, capsys):
    import pandas as pd

    from hwnas.space import ModelSpace
    from hwnas.space.counting import count_macs

    out = tmp_path / "a.csv"
    assert main(["measure-archs", *MODEL, "--backend", "fake", "--n", "8", "--quiet", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 networks" in printed and "holds only 2 distinct networks" in printed
    space = ModelSpace(TinyNet, (1, 3, 16, 16))
    rows = pd.read_csv(out)
    for arch, macs in zip(rows["arch"], rows["macs"], strict=True):
        assert macs == count_macs(space.build_model(space.parse(arch)), (1, 3, 16, 16))  # head included


def test_a_data_limit_below_the_class_count_and_a_head_wider_than_the_classes_are_said(tmp_path, capsys):
    assert main(["retrain", "--space", "tiny", "--arch", "k5e6-k5e6|k5e3-k3e6", "--data", "digits",
                 "--data-limit", "5", "--epochs", "1", "--no-measure", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "training images for 10 classes" in out
    folder = tmp_path / "two"
    from PIL import Image

    for c in ("cat", "dog"):
        (folder / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (16, 16), (40 * i, 0, 0) if c == "cat" else (0, 40 * i, 0)).save(folder / c / f"{i}.png")
    assert main(["retrain", "--space", "tiny", "--arch", "k5e6-k5e6|k5e3-k3e6", "--data", f"folder:{folder}",
                 "--epochs", "1", "--no-measure", "--quiet", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "10 outputs" in out and "--num-classes 2" in out


def test_small_wording(capsys):
    from hwnas.cli.main import build_parser

    assert main(["retrain", "--space", "tiny", "--arch", "k5e6-k5e6|k5e3-k3e6", "--data", "synthetic",
                 "--data-limit", "40", "--epochs", "1", "--no-measure", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 epoch)" in out and "1 epochs" not in out
    assert main(["profile", *MODEL, "--resolution", "32", "-o", "x.csv"]) == 2
    assert "--resolution belongs to the named spaces" in capsys.readouterr().err
    helps = build_parser()._subparsers._group_actions[0].choices
    limit = next(act for act in helps["search"]._actions if "--data-limit" in act.option_strings)
    assert "digits, cifar10" not in limit.help and "test" in limit.help


# ---- a last batch of one image, with a BatchNorm1d in the user's model ------------------------------------------------
def test_batches_of_one_image_do_not_stop_a_model_with_batchnorm1d(tmp_path):
    from hwnas.space import ModelSpace
    from hwnas.train.data import make_loader

    space = ModelSpace(TinyNet, (1, 3, 16, 16))
    costs = BlockCosts(0.1, ((0.01, 0.02),))
    data = load_synthetic(n=68, valid_fraction=0.25)  # 51 training images and 17 held out: 16 + 1 at batch 16
    assert len(data.valid) % 16 == 1
    cfg = _quick(target_ms=0.12, grad_update_arch_param_every=1)
    run_search(space, costs, data, cfg, run_dir=tmp_path / "a", log=None)
    # the user's own DataLoaders (ProxylessNasTrainer's path), whose last batches hold one image
    train = make_loader(data.train, 25, generator=torch.Generator().manual_seed(0))   # 25 + 25 + 1
    valid = make_loader(data.valid, 8, generator=torch.Generator().manual_seed(1))    # 8 + 8 + 1
    run_search(space, costs, None, cfg, run_dir=tmp_path / "b", train_loader=train, valid_loader=valid, log=None)


def test_a_split_of_one_image_is_refused_in_one_line(tmp_path, capsys):
    from hwnas.space import ModelSpace

    space = ModelSpace(TinyNet, (1, 3, 16, 16))
    data = load_synthetic(n=5, valid_fraction=0.25)
    assert len(data.valid) == 1
    with pytest.raises(UsageError, match="1 held-out.*image"):
        run_search(space, BlockCosts(0.1, ((0.01, 0.02),)), data, _quick(), log=None)
