"""The two example model spaces, each end to end through the CLI on Fashion-MNIST-format data (small generated IDX
files, the format of Debian's dataset-fashion-mnist): profile -> calibrated predictor -> search -> NNI JSON ->
apply_fixed_architecture -> retrain -> ONNX. What docs/model-spaces.md shows with the real data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from hwnas.cli import main
from hwnas.space import InputChoice, LayerChoice, apply_fixed_architecture

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))



@pytest.mark.parametrize("ref, n_archs, target", [("examples.resnet_space:ResNetSpace", 10, 0.5),
                                                  ("examples.nni_mnist:Net", 4, 0.5)])
def test_example_space_end_to_end(ref, n_archs, target, idx_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    model = ["--model", ref, "--input-shape", "1,1,28,28"]
    t, a, p, run, out = (str(tmp_path / n) for n in ("t.csv", "a.csv", "p.joblib", "run", "out"))
    data = ["--data", f"idx:{idx_dir}", "--batch-size", "32"]
    assert main(["profile", *model, "--backend", "fake", "--quiet", "-o", t]) == 0
    assert main(["measure-archs", *model, "--backend", "fake", "--n", str(n_archs), "--quiet", "-o", a]) == 0
    assert main(["predictor", "fit", "--table", t, "--archs", a, "--kind", "calibrated", "-o", p]) == 0
    from hwnas.predictors import load_predictor

    costs = load_predictor(p).block_costs()
    target_ms = costs.min_ms() + target * (costs.max_ms() - costs.min_ms())
    assert main(["search", *model, "--predictor", p, "--target-ms", f"{target_ms:.6f}", "--latency-loss", "add#abs",
                 *data, "--epochs", "1", "--warmup-epochs", "1", "--binary-mode", "two", "--backend", "fake",
                 "--quiet", "-o", run]) == 0
    nni = json.loads((Path(run) / "nni_arch.json").read_text())
    record = json.loads((Path(run) / "arch.json").read_text())
    assert record["predicted_ms"] <= target_ms * 1.05 + 1e-9
    module, name = ref.split(":")
    factory = getattr(__import__(module, fromlist=[name]), name)
    fixed = apply_fixed_architecture(factory(), Path(run) / "nni_arch.json")
    assert set(nni) == {k for k, _ in (kv.split("=") for kv in record["arch"].split(";"))}
    assert not any(isinstance(m, (LayerChoice, InputChoice)) for m in fixed.modules())
    assert fixed(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    capsys.readouterr()
    assert main(["retrain", run, *data, "--epochs", "1", "--inherit", "--backend", "fake", "--quiet", "-o", out]) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and (Path(out) / "model.onnx").exists()
