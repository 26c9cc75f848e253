"""Bring your own model: LayerChoice / InputChoice in a user's network, profiled, predicted, searched, exported in
NNI's format and applied back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.cli import main
from hwnas.errors import UsageError
from hwnas.predictors import CalibratedPredictor
from hwnas.predictors.archs import measure_archs
from hwnas.predictors.block_costs import lut_block_costs
from hwnas.profilers import QUICK, LatencyTable, build_table, create_backend
from hwnas.space import InputChoice, LayerChoice, ModelSpace, apply_fixed_architecture
from hwnas.space.spec import ArchError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from examples.nni_mnist import Net  # noqa: E402
from examples.resnet_space import rgb_small  # noqa: E402


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class GuideAsWritten(nn.Module):
    """The NNI guide's network with its literal 5x5 candidate (stride 3): its output cannot feed fc1."""

    def __init__(self):
        super().__init__()
        self.conv1 = LayerChoice([nn.Conv2d(1, 32, 3, 1), nn.Conv2d(1, 32, 5, 3)])
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.conv2(F.relu(self.conv1(x))), 1).flatten(1))


def test_the_nni_guide_network_is_a_space_and_round_trips_through_nni_json(tmp_path):
    space = ModelSpace(Net, (1, 1, 28, 28))
    assert space.decision_names() == ["conv1", "skipcon"]  # default keys: the module paths
    assert space.choice_labels() == [("0", "1"), ("none", "0")]
    assert space.num_classes == 10
    for i, arch in enumerate([space.from_indices([a, b]) for a in (0, 1) for b in (0, 1)]):
        nni = space.to_nni(arch)
        assert set(nni) == {"conv1", "skipcon"} and sum(nni["conv1"]) == 1
        path = tmp_path / f"a{i}.json"
        path.write_text(json.dumps(nni))
        assert space.parse(path.read_text()) == arch
        fixed = apply_fixed_architecture(Net(), path)  # NNI's API: the model with every choice fixed
        assert not any(isinstance(m, (LayerChoice, InputChoice)) for m in fixed.modules())
        conv = fixed.conv1
        assert conv.kernel_size == ((3, 3) if arch.as_dict()["conv1"] == "0" else (5, 5))
        assert _params(fixed) == space.params(arch)  # exactly the chosen network's parameters
        y = fixed(torch.zeros(2, 1, 28, 28))
        assert y.shape == (2, 10)
    # without a choice made, the model runs as written (first candidate, first input), as NNI's standalone mode
    assert Net()(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_the_guide_as_written_is_refused_naming_the_key_and_shapes():
    with pytest.raises(UsageError, match=r"conv1.*1: 1x32x8x8.*0: 1x32x26x26|conv1.*0: 1x32x26x26.*1: 1x32x8x8"):
        ModelSpace(GuideAsWritten, (1, 1, 28, 28))


class _Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = LayerChoice([nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 5, padding=2)], key="conv")
        self.b = LayerChoice([nn.Conv2d(8, 8, 3, padding=1), nn.Identity()], key="conv")

    def forward(self, x):
        return self.b(self.a(x)).mean((2, 3))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = LayerChoice({"k3": nn.Conv2d(3, 8, 3, padding=1), "k5": nn.Conv2d(3, 8, 5, padding=2)}, key="k")
        self.b = LayerChoice({"k3": nn.Conv2d(8, 8, 3, padding=1), "k5": nn.Conv2d(8, 8, 5, padding=2)}, key="k")

    def forward(self, x):
        return self.b(self.a(x)).mean((2, 3))


class _Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = LayerChoice([nn.Identity(), nn.ReLU()])
        self.spare = LayerChoice([nn.Identity(), nn.ReLU()])

    def forward(self, x):
        return self.a(x).mean((1, 2, 3))[:, None]


def test_bad_spaces_are_refused_with_the_key_named():
    with pytest.raises(UsageError, match="key 'conv' is reused with different candidate sets"):
        ModelSpace(_Reused, (1, 3, 8, 8))
    with pytest.raises(UsageError, match=r"\['spare'\] never run in forward"):
        ModelSpace(_Unused, (1, 3, 8, 8))
    space = ModelSpace(_Shared, (1, 3, 8, 8))  # equal keys share one decision
    assert space.decision_names() == ["k"] and space.decisions[0].paths == ("a", "b")
    with pytest.raises(ArchError, match="not in the model: \\['nope'\\].*missing: \\['k'\\]"):
        apply_fixed_architecture(_Shared(), {"nope": [True, False]})
    fixed = apply_fixed_architecture(_Shared(), {"k": [False, True]})
    assert fixed.a.kernel_size == (5, 5) and fixed.b.kernel_size == (5, 5)


def test_tables_predictors_and_search_work_on_a_model_space(tmp_path):
    from hwnas.search import SearchConfig, run_search
    from hwnas.train.data import load_synthetic

    space = ModelSpace(rgb_small, (1, 3, 16, 16))
    backend = create_backend("fake", protocol=QUICK)
    table = build_table(space, backend, tmp_path / "t.csv", progress=False)
    assert len(table) == len(space.layer_keys()) == 10  # 2 stages x 5: b0 and b1 share their candidates
    loaded = LatencyTable.load(tmp_path / "t.csv")
    assert set(loaded.keys()) == set(space.layer_keys())
    costs = lut_block_costs(loaded, space)
    ds = measure_archs(space, backend, tmp_path / "a.csv", n=12, seed=1, progress=False)
    pred = CalibratedPredictor(table=loaded).fit(ds.arch_strings, ds.latencies())
    err = abs(pred.predict(ds.arch_strings) / ds.latencies() - 1)
    assert err.max() < 0.05  # the fake backend is exact up to its fixed per-layer cost, which calibration learns
    target = 0.5 * (costs.min_ms() + costs.max_ms())
    cfg = SearchConfig(target_ms=target, latency_loss="add#abs", n_epochs=1, warmup_epochs=1, batch_size=32,
                       binary_mode="two", progress=False)
    data = load_synthetic(resolution=16, num_classes=4, n=96)
    res = run_search(space, costs, data, cfg, run_dir=tmp_path / "run", log=None)
    assert res.predicted_ms <= target * 1.05
    nni = json.loads((tmp_path / "run" / "nni_arch.json").read_text())
    assert set(nni) == set(space.decision_names())
    fixed = apply_fixed_architecture(rgb_small(), tmp_path / "run" / "nni_arch.json")
    assert _params(fixed) == space.params(res.arch)


def test_a_table_from_another_model_is_refused(tmp_path):
    space = ModelSpace(rgb_small, (1, 3, 16, 16))
    build_table(space, create_backend("fake", protocol=QUICK), tmp_path / "t.csv", progress=False)
    other = ModelSpace(_Shared, (1, 3, 8, 8))
    from hwnas.predictors.loader import load_latency_model

    with pytest.raises(UsageError, match="fingerprint"):
        load_latency_model(table=tmp_path / "t.csv", space=other)


def test_cli_end_to_end_on_a_user_model(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    model = ["--model", "examples.resnet_space:rgb_small", "--input-shape", "1,3,16,16"]
    t, a, p, run = (str(tmp_path / n) for n in ("t.csv", "a.csv", "p.joblib", "run"))
    assert main(["profile", *model, "--backend", "fake", "--quiet", "-o", t]) == 0
    assert main(["measure-archs", *model, "--backend", "fake", "--n", "12", "--quiet", "-o", a]) == 0
    assert main(["predictor", "fit", "--table", t, "--archs", a, "--kind", "calibrated", "-o", p]) == 0
    capsys.readouterr()
    lo_hi = json.loads(json.dumps(None))  # noqa: F841 - (the range is printed by search)
    assert main(["search", *model, "--predictor", p, "--target-ms", "2.0", "--latency-loss", "add#abs",
                 "--data", "synthetic", "--epochs", "1", "--warmup-epochs", "1", "--binary-mode", "two",
                 "--backend", "fake", "--quiet", "-o", run]) == 0
    out = capsys.readouterr().out
    assert "predicted" in out and (Path(run) / "nni_arch.json").exists()
    assert main(["retrain", run, *model, "--data", "synthetic", "--epochs", "1", "--backend", "fake", "--quiet",
                 "--inherit"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    # --resume alone finds the model again from the run's record
    assert main(["search", "--resume", "--epochs", "2", "--quiet", "-o", run]) == 0
    # a named space's flags do not go with --model
    assert main(["profile", *model, "--resolution", "32", "--backend", "fake", "-o", str(tmp_path / "x.csv")]) == 2
    assert "--resolution belongs to the named spaces" in capsys.readouterr().err


class _OpaqueOp(nn.Module):
    """An operation PyTorch runs and ONNX (opset 17) cannot express: a singular value decomposition."""

    def forward(self, x):
        return x + 0 * torch.linalg.svdvals(x[0, 0]).sum()


class _WithOpaque(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = LayerChoice({"plain": nn.ReLU(), "opaque": _OpaqueOp()})
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.op(x).mean((2, 3)))


def test_a_module_the_runtime_cannot_run_is_named_with_the_backend_that_can(tmp_path):
    space = ModelSpace(_WithOpaque, (1, 3, 8, 8))
    with pytest.raises(UsageError, match=r"onnxruntime backend cannot measure op\[opaque\].*--backend torch"):
        build_table(space, create_backend("onnxruntime", protocol=QUICK), tmp_path / "t.csv", progress=False)
    table = build_table(space, create_backend("torch", protocol=QUICK), tmp_path / "t2.csv", progress=False)
    assert len(table) == 2


# ---- found by a hostile-user pass ------------------------------------------------------------------------------------
class _WithTrivial(nn.Module):
    """A one-option InputChoice (NNI 2's InputChoice(1)) beside a real choice."""

    def __init__(self):
        super().__init__()
        self.c = LayerChoice([nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 5, padding=2)])
        self.ic = InputChoice(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.ic([self.c(x)]).mean((2, 3)))


class _ConcatVarying(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 16, 1)
        self.ic = InputChoice(2, n_chosen=1, reduction="concat")

    def forward(self, x):
        return self.ic([self.a(x), self.b(x)]).mean((2, 3))


class _WithNone(nn.Module):
    def __init__(self):
        super().__init__()
        self.ic = InputChoice(2, n_chosen=None)

    def forward(self, x):
        return self.ic([x, None])


class _TupleOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = LayerChoice([nn.Identity(), nn.ReLU()])

    def forward(self, x):
        y = self.c(x).mean((2, 3))
        return y, y


class _KeyVsPath(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = LayerChoice([nn.Identity(), nn.ReLU()], key="b")
        self.b = LayerChoice([nn.Tanh(), nn.Sigmoid()])

    def forward(self, x):
        return self.b(self.a(x)).mean((1, 2, 3))[:, None]


def _needs_args(width):
    return nn.Linear(width, 2)


def test_odd_models_get_one_clear_line(tmp_path):
    space = ModelSpace(_WithTrivial, (1, 3, 8, 8))  # the one-option choice is no decision, and building still works
    assert space.decision_names() == ["c"]
    assert space.build_model(space.from_indices([1]))(torch.zeros(1, 3, 8, 8)).shape == (1, 2)
    with pytest.raises(UsageError, match="options give different output shapes"):
        ModelSpace(_ConcatVarying, (1, 3, 8, 8))
    with pytest.raises(UsageError, match="got NoneType as input 1"):
        ModelSpace(_WithNone, (1, 3, 8, 8))
    with pytest.raises(UsageError, match="also the default key of the choice at 'b'"):
        ModelSpace(_KeyVsPath, (1, 3, 8, 8))
    with pytest.raises(UsageError, match="needs arguments"):
        ModelSpace(_needs_args, (1, 3))
    with pytest.raises(UsageError, match="spaces at its ends"):
        LayerChoice({"a": nn.ReLU(), "a ": nn.Tanh()})
    with pytest.raises(UsageError, match="repeat"):
        from collections import OrderedDict

        LayerChoice(OrderedDict([(1, nn.ReLU()), ("1", nn.Tanh())]))
    with pytest.raises(UsageError, match="without '='"):
        LayerChoice([nn.ReLU(), nn.Tanh()], key="a=b;c")
    from hwnas.train.data import load_synthetic

    tuple_space = ModelSpace(_TupleOut, (1, 3, 16, 16))
    with pytest.raises(UsageError, match="logits"):
        load_synthetic(resolution=16).check_space(tuple_space)


def test_arch_strings_in_any_order_and_nni_files_read_back(tmp_path):
    space = ModelSpace(_Shared, (1, 3, 8, 8))
    arch = space.from_indices([1])
    assert space.parse("k=k5") == arch
    mi = ModelSpace(rgb_small, (1, 3, 16, 16))
    a = mi.sample(3)
    shuffled = ";".join(reversed(a.to_string().split(";")))
    assert mi.parse(shuffled) == a  # any order; the record keeps the model's
    with pytest.raises(ArchError, match="given twice"):
        mi.parse(a.to_string() + ";" + a.to_string().split(";")[0])
    f = tmp_path / "nni_arch.json"
    f.write_text(json.dumps(mi.to_nni(a)))
    assert mi.parse(str(f)) == a  # a file path works where an arch string does
