from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from hwnas.cli import main
from hwnas.search import RunError, SearchConfig, SearchDiverged, load_exported, retrain, reward, run_search
from hwnas.search.inherit import inherited_weights
from hwnas.search.run import RunDir
from hwnas.space import get_space
from hwnas.train.data import load_synthetic
from hwnas.train.retrain import RetrainConfig


@pytest.fixture(scope="module")
def data():
    return load_synthetic(resolution=16, n=128, seed=1)


def _cfg(**kw):
    base = dict(target_ms=1.0, n_epochs=2, warmup_epochs=1, batch_size=32, latency_loss="add#linear",
                arch_optim_lr=0.05, grad_update_arch_param_every=1, progress=False)
    return SearchConfig(**{**base, **kw})


class _Kill(Exception):
    pass


def _kill_after(n):
    def cb(epoch, row):
        if epoch + 1 == n:
            raise _Kill

    return cb


@pytest.mark.parametrize("method", ["grad", "rl"])
def test_resume_after_a_kill_ends_where_an_uninterrupted_run_ends(space, costs, data, tmp_path, method):
    cfg = _cfg(method=method, binary_mode="two")
    full = run_search(space, costs, data, cfg, run_dir=tmp_path / "a", log=None)
    with pytest.raises(_Kill):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "b", callbacks=[_kill_after(2)], log=None)
    assert len(RunDir(tmp_path / "b").read_log()) == 2
    with pytest.raises(RunError, match="--resume"):
        run_search(space, costs, data, cfg, run_dir=tmp_path / "b", log=None)
    resumed = run_search(space, costs, data, cfg, run_dir=tmp_path / "b", resume=True, log=None)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["net"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["net"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    assert resumed.arch == full.arch
    log = pd.read_csv(tmp_path / "b" / "log.csv")
    assert len(log) == 3 and {"train_loss", "valid_acc", "expected_ms", "arch", "p0_k3e3"} <= set(log.columns)


def test_resume_refuses_changed_settings(space, costs, data, tmp_path):
    run_search(space, costs, data, _cfg(n_epochs=1), run_dir=tmp_path / "r", log=None)
    with pytest.raises(RunError, match="binary_mode"):
        run_search(space, costs, data, _cfg(n_epochs=1, binary_mode="two"), run_dir=tmp_path / "r", resume=True,
                   log=None)
    # more epochs is fine: the run continues
    res = run_search(space, costs, data, _cfg(n_epochs=2), run_dir=tmp_path / "r", resume=True, log=None)
    assert len(res.history) == 3


def test_run_directory_holds_config_log_checkpoint_and_export(space, costs, data, tmp_path):
    res = run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["search"]["target_ms"] == 1.0 and cfg["space"]["name"] == "tiny"
    arch, sp, record = load_exported(tmp_path / "r")
    assert arch == res.arch and sp == space
    assert record["predicted_ms"] == pytest.approx(costs.arch_ms(arch, space))
    assert record["arch"] == arch.to_string() and len(record["probabilities"]) == space.num_blocks


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(space, costs, data, tmp_path):
    cfg = _cfg(init_lr=1e9, warmup_epochs=2, n_epochs=1)  # diverges
    with pytest.raises(SearchDiverged, match="NaN") as info:
        run_search(space, costs, data, cfg, run_dir=tmp_path / "r", log=None)
    ckpt_path = tmp_path / "r" / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        assert all(torch.isfinite(v.float()).all() for v in ckpt["net"].values())
        assert "last good checkpoint" in str(info.value)
    else:
        assert "no checkpoint" in str(info.value)


def test_nan_in_a_later_epoch_keeps_the_earlier_checkpoint(space, costs, data, tmp_path, monkeypatch):
    def poison(epoch, row):
        if epoch == 1:
            # a loss that turns NaN but keeps its graph, as a real divergence does
            monkeypatch.setattr(torch.nn.functional, "cross_entropy", lambda out, *a, **k: out.sum() * float("nan"))

    with pytest.raises(SearchDiverged, match=r"after epoch 2\) is kept"):
        run_search(space, costs, data, _cfg(n_epochs=3), run_dir=tmp_path / "r", callbacks=[poison], log=None)
    monkeypatch.undo()
    ckpt = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 2
    # and the run resumes from there once the cause is gone
    res = run_search(space, costs, data, _cfg(n_epochs=3), run_dir=tmp_path / "r", resume=True, log=None)
    assert len(res.history) == 4


def test_a_target_below_the_fastest_architecture_names_the_smallest_achievable(space, costs, data, tmp_path):
    with pytest.raises(ValueError, match=f"smallest achievable latency is {costs.min_ms():.4g} ms"):
        run_search(space, costs, data, _cfg(target_ms=costs.min_ms() * 0.9), run_dir=tmp_path / "r", log=None)
    assert not (tmp_path / "r").exists()


def test_costs_for_another_space_are_refused(costs, data, tmp_path):
    other = get_space("tiny", kernels=(3,))
    with pytest.raises(ValueError, match="another space"):
        run_search(other, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)


@pytest.mark.parametrize("acc, lat, preset, want", [
    (0.8, 5.0, (-0.07, -0.07), 0.8 * 0.5 ** -0.07),
    (0.8, 15.0, (-0.07, -0.07), 0.8 * 1.5 ** -0.07),
    (0.8, 5.0, (0.0, -1.0), 0.8),
    (0.8, 20.0, (0.0, -1.0), 0.4),
])
def test_reward_is_acc_times_latency_ratio_to_the_power_w(acc, lat, preset, want):
    assert reward(acc, lat, 10.0, *preset) == pytest.approx(want)
    assert reward(acc, lat, None, *preset) == acc


def test_retrain_from_inherited_weights_and_measure(space, costs, data, tmp_path, fake):
    res = run_search(space, costs, data, _cfg(), run_dir=tmp_path / "r", log=None)
    out = retrain(res.arch, space, data, RetrainConfig(epochs=1), init_weights=inherited_weights(tmp_path / "r", res.arch, space), backend=fake, costs=costs,
                  output=tmp_path / "re", progress=False, log=None)
    assert 0 <= out.test_acc <= 1 and out.inherited and out.measured_ms > 0
    assert out.predicted_ms == pytest.approx(res.predicted_ms)
    saved = json.loads((tmp_path / "re" / "retrain.json").read_text())
    assert saved["arch"] == res.arch.to_string() and (tmp_path / "re" / "model.pt").exists()


def test_cli_search_then_retrain(tmp_path, capsys, monkeypatch):
    table = tmp_path / "t.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(table)]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    argv = ["search", "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--data", "synthetic",
            "--epochs", "1", "--warmup-epochs", "1", "--latency-loss", "mul#pow", "--binary-mode", "two",
            "--quiet", "-o", str(run)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "predicted" in out and (run / "arch.json").exists() and (run / "log.csv").exists()
    assert main(argv) == 2 and "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume", "--epochs", "2"]) == 0
    assert len(pd.read_csv(run / "log.csv")) == 3
    # --resume alone continues with the inputs the run recorded in config.json (from another directory too); a
    # setting resuming can change, given now, is applied and recorded: one more epoch
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["search", "--resume", "--epochs", "3", "--quiet", "-o", str(run)]) == 0
    assert "recorded" in capsys.readouterr().out
    assert len(pd.read_csv(run / "log.csv")) == 4
    assert json.loads((run / "config.json").read_text())["search"]["n_epochs"] == 3  # the record stays true
    # what resuming cannot honour is refused, not dropped: another target, or fewer epochs than it has run
    assert main(["search", "--resume", "--target-ms", "0.3", "--quiet", "-o", str(run)]) == 2
    assert "target_ms" in capsys.readouterr().err
    assert main(["search", "--resume", "--epochs", "1", "--quiet", "-o", str(run)]) == 2
    assert "has finished 4 epochs" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["search"]["n_epochs"] == 3
    # a run whose config records no inputs (started by the Python API) is told what to do
    cfg = json.loads((run / "config.json").read_text())
    del cfg["inputs"]
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["search", "--resume", "-o", str(run)]) == 2
    assert "give the original command again with --resume" in capsys.readouterr().err
    assert main(["retrain", str(run), "--data", "synthetic", "--epochs", "1", "--backend", "fake", "--quiet",
                 "--inherit"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "measured" in out and "predicted" in out


@pytest.mark.parametrize("extra, fragment", [
    (["--target-ms", "0.001"], "smallest achievable latency"),
    (["--target-ms", "0.2", "--space", "proxyless-cifar"], "does not cover"),
    (["--target-ms", "0.2", "--latency-loss", "mul#log"], "mul#log"),  # it needs latencies above 1 ms
    (["--target-ms", "0.2", "--latency-loss", "nope"], "latency_loss must be one of"),
    (["--target-ms", "0.2", "--data", "cifar10:/nonexistent"], "not found"),
])
def test_cli_search_bad_input(tmp_path, capsys, extra, fragment):
    table = tmp_path / "t.csv"
    main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(table)])
    capsys.readouterr()
    argv = ["search", "--space", "tiny", "--table", str(table), "--data", "synthetic", "-o", str(tmp_path / "r"),
            "--quiet", *extra]
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_a_run_whose_space_came_from_its_table_resumes_in_that_space(tmp_path, capsys):
    """No --space: the table's space (here tiny at 24 px, not tiny's default) is what --resume and the run's
    experiment.yaml rebuild."""
    table, run = tmp_path / "t24.csv", tmp_path / "run"
    assert main(["profile", "--space", "tiny", "--resolution", "24", "--backend", "fake", "--quiet", "-o",
                 str(table)]) == 0
    common = ["--data", "synthetic", "--data-limit", "96", "--warmup-epochs", "0", "--quiet", "-o", str(run)]
    assert main(["search", "--table", str(table), "--target-ms", "0.45", "--epochs", "1", *common]) == 0
    capsys.readouterr()
    assert main(["search", "--resume", "--epochs", "2", "-o", str(run), "--quiet"]) == 0, capsys.readouterr().err
    assert len(pd.read_csv(run / "log.csv")) == 2
    assert "resolution: 24" in (run / "experiment.yaml").read_text()
