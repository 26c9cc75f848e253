"""The trial API of NNI's classic mode (issue 27): ``hwnas.trial.next_architecture`` applies the study's proposal to
a model with choices, a built-in space or a model space; ``report`` tells the study; a script that never reports or
that raises leaves a failed trial saying why; the Fashion-MNIST example is a plain script with two added lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from torch import nn

optuna = pytest.importorskip("optuna")

import hwnas.trial  # noqa: E402
from hwnas.errors import UsageError  # noqa: E402
from hwnas.multitrial import trial as trial_mod  # noqa: E402
from hwnas.space import InputChoice, LayerChoice  # noqa: E402
from hwnas.space.discovery import find_choices  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = LayerChoice({"k3": nn.Conv2d(1, 4, 3, padding=1), "k5": nn.Conv2d(1, 4, 5, padding=2)})
        self.skip = InputChoice(n_candidates=1, n_chosen=None)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        y = self.conv(x)
        s = self.skip([y])
        return self.fc((y if s is None else y + s).flatten(1))


@pytest.fixture(autouse=True)
def _no_pending():
    yield
    trial_mod._pending, trial_mod._standalone = None, False


def _study():
    return optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))


def test_next_architecture_applies_the_choices_to_a_model_and_report_tells_the_study():
    study = _study()
    model = Small()
    arch = hwnas.trial.next_architecture(model, study=study, latency=lambda m: 1.5)
    assert find_choices(model) == []  # every choice replaced by what was sampled
    assert set(arch.as_dict()) == {"conv", "skip"}
    rec = hwnas.trial.report(0.75)
    assert rec["latency_ms"] == 1.5 and rec["arch"] == str(arch)
    (t,) = study.trials
    assert t.state.name == "COMPLETE" and t.values == [0.75, 1.5] and t.user_attrs["arch"] == str(arch)
    assert t.params == arch.as_dict()
    with pytest.raises(UsageError, match="called twice"):
        hwnas.trial.report(0.8)


def test_next_architecture_on_a_built_in_space_prices_it_with_the_latency_model(space, costs):
    study = _study()
    arch = hwnas.trial.next_architecture(space, study=study, latency=costs)
    space.validate(arch)
    hwnas.trial.report(0.5)
    assert study.trials[0].values == [0.5, pytest.approx(costs.arch_ms(arch, space))]


def test_next_architecture_on_a_model_space(monkeypatch):
    from hwnas.space.model_space import ModelSpace

    ms = ModelSpace(Small, (1, 1, 8, 8))
    study = _study()
    arch = hwnas.trial.next_architecture(ms, study=study)
    net = ms.build_model(arch)
    assert find_choices(net) == []
    hwnas.trial.report(0.6, latency_ms=2.0)
    assert study.trials[0].values == [0.6, 2.0]


def test_report_without_a_latency_says_how_to_give_one():
    hwnas.trial.next_architecture(Small(), study=_study())
    with pytest.raises(UsageError, match="report needs the latency") as e:
        hwnas.trial.report(0.5)
    assert "\n" not in str(e.value)


def test_report_refuses_a_latency_model_or_non_json_attributes_and_writes_nothing():
    study = _study()
    hwnas.trial.next_architecture(Small(), study=study)
    with pytest.raises(UsageError, match="latency_ms=<float>; a latency model .* goes to next_architecture"):
        hwnas.trial.report(0.5, latency=lambda m: 2.5)
    with pytest.raises(UsageError, match="note=set is not JSON data"):
        hwnas.trial.report(0.5, latency_ms=1.0, epochs=3, note={1, 2})
    # objectives that would fail the trial or dominate the front: one line each, nothing recorded
    for acc, lat, says in ((0.5, float("nan"), "latency_ms is not a finite number"), (0.5, -3, "positive number"),
                           (float("inf"), 1.0, "accuracy is not a finite number"), (42, 1.0, "a percentage"),
                           (0.5, "abc", "latency_ms is not a number")):
        with pytest.raises(UsageError, match=says):
            hwnas.trial.report(acc, latency_ms=lat)
    assert study.trials[-1].user_attrs.get("epochs") is None  # nothing half written
    import numpy as np

    assert hwnas.trial.report(0.5, latency_ms=1.0, epochs=np.int64(3), loss=np.float32(0.25))["latency_ms"] == 1.0
    assert study.trials[-1].user_attrs["epochs"] == 3 and study.trials[-1].user_attrs["loss"] == 0.25


def test_standalone_mode_applies_the_first_candidates_and_records_nothing():
    model = Small()
    arch = hwnas.trial.next_architecture(model)
    fresh = Small().skip
    assert arch.as_dict() == {"conv": "k3", "skip": fresh.names[fresh.default_option()]}
    assert hwnas.trial.report(0.5) is None


def test_a_second_trial_without_a_report_fails_the_first_with_the_reason():
    study = _study()
    hwnas.trial.next_architecture(Small(), study=study, latency=lambda m: 1.0)
    hwnas.trial.next_architecture(Small(), study=study, latency=lambda m: 1.0)
    hwnas.trial.report(0.5)
    first, second = study.trials
    assert first.state.name == "FAIL" and first.user_attrs["error"] == trial_mod.NO_REPORT
    assert second.state.name == "COMPLETE"


def test_a_study_of_another_space_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hwnas.trial.next_architecture(Small(), study=url, latency=lambda m: 1.0)
    hwnas.trial.report(0.5)

    class Other(Small):
        def __init__(self):
            super().__init__()
            self.conv = LayerChoice({"k3": nn.Conv2d(1, 4, 3, padding=1), "k7": nn.Conv2d(1, 4, 7, padding=3)})

    with pytest.raises(UsageError, match="created for another space") as e:
        hwnas.trial.next_architecture(Other(), study=url)
    assert "\n" not in str(e.value)
    assert len(optuna.load_study(study_name="hwnas-trials", storage=url).trials) == 1  # nothing lost


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import hwnas.trial
from test_trial_api import Small
hwnas.trial.next_architecture(Small(), study={url!r}, latency=lambda m: 1.0)
{end}
"""


@pytest.mark.parametrize("end, error", [
    ("pass", trial_mod.NO_REPORT),
    ("raise ValueError('bad batch size\\nmore')", "ValueError: bad batch size"),
])
def test_a_script_that_never_reports_or_raises_leaves_a_failed_trial_saying_why(tmp_path, end, error):
    url = f"sqlite:///{tmp_path / 's.db'}"
    code = textwrap.dedent(SCRIPT.format(tests=str(ROOT / "tests"), url=url, end=end))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert f"hwnas.trial: trial 0 failed: {error}" in r.stderr
    (t,) = optuna.load_study(study_name="hwnas-trials", storage=url).trials
    assert t.state.name == "FAIL" and t.user_attrs["error"] == error


def _env():
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}



def test_the_example_network_takes_every_proposal():
    sys.path.insert(0, str(ROOT))
    from examples.multitrial_fashion_mnist import Net

    study = _study()
    import torch

    for _ in range(4):
        model = Net()
        hwnas.trial.next_architecture(model, study=study, latency=lambda m: 1.0)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        hwnas.trial.report(0.1)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4


@pytest.mark.slow  # ~10 s: a subprocess that trains and measures
def test_the_fashion_mnist_example_is_a_plain_script_with_two_added_lines(tmp_path, idx_dir):
    script = ROOT / "examples" / "multitrial_fashion_mnist.py"
    lines = script.read_text().splitlines()
    assert sum("hwnas.trial." in line for line in lines) == 2  # the two calls; and their import
    assert sum(line.endswith("# hwnas") for line in lines) == 2
    url = f"sqlite:///{tmp_path / 'f.db'}"
    r = subprocess.run([sys.executable, str(script), "--data-dir", str(idx_dir), "--storage", url],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    (t,) = optuna.load_study(study_name="hwnas-trials", storage=url).trials
    assert t.state.name == "COMPLETE" and 0 <= t.values[0] <= 1 and t.values[1] > 0
    assert f"architecture: {t.user_attrs['arch']}" in r.stdout
