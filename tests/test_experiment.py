"""Issue 26: experiment files in ModularNAS's shape (validated, flags over them, the resolved file in the run), the
documented YAML of every named method, and a method written outside hwnas (docs/write-your-own.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from hwnas.cli import main
from hwnas.errors import HwnasError
from hwnas.predictors.block_costs import lut_block_costs
from hwnas.profilers.table import LatencyTable
from hwnas.search.experiment import load_experiment
from hwnas.search.methods import METHODS, resolve_parts
from hwnas.space import get_space
from hwnas.train.data import load_synthetic

DOCS = Path(__file__).resolve().parents[1] / "docs"


def json_log(run: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(run / "log.csv").to_dict("records")


def _yaml_blocks(page: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), re.S)


def test_every_named_method_has_a_documented_experiment_file_that_resolves(tmp_path):
    blocks = _yaml_blocks("methods.md")
    documented = {yaml.safe_load(b)["method"] for b in blocks}
    assert documented >= set(METHODS) - {"random"}
    for i, block in enumerate(blocks):
        f = tmp_path / f"{i}.yaml"
        f.write_text(block)
        cfg, inputs = load_experiment(f)
        parts = resolve_parts(cfg)
        doc = yaml.safe_load(block)
        assert parts["mixed_op"]["type"] == doc["mixed_op"]["type"]
        assert [s["type"] for s in parts["stages"]] == [s["type"] for s in doc["estim"].values()]
        assert inputs["space"] == "proxyless-cifar" and Path(inputs["predictor"]).is_absolute()


@pytest.fixture
def table(tmp_path):
    t = tmp_path / "t.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(t)]) == 0
    return t


def test_an_experiment_file_runs_flags_override_it_and_the_run_keeps_it_resolved(tmp_path, table, capsys):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({
        "method": "gdas", "search_space": {"name": "tiny"},
        "mixed_op": {"type": "GumbelSum", "hard": True, "tau_max": 4.0},
        "optim": {"type": "darts", "lr": 0.05},
        "estim": {"warmup": {"type": "warmup", "epochs": 1},
                  "search": {"type": "supernet", "epochs": 3, "arch_every": 1}},
        "latency": {"table": "t.csv", "target_ms": 0.5, "loss": "add#abs", "lambda": 1.0},
        "trainer": {"batch_size": 16, "progress": False}, "data": {"name": "synthetic", "limit": 96}},
        sort_keys=False))  # the stages run in the file's order
    run = tmp_path / "run"
    assert main(["search", "--config", str(exp), "--batch-size", "32", "--mixed-op-arg", "tau_min=0.5", "-o",
                 str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["search"]["batch_size"] == 32  # the flag over the file
    assert cfg["parts"]["mixed_op"] == {"type": "GumbelSum", "hard": True, "tau_max": 4.0, "tau_min": 0.5}
    assert [(s["type"], s["epochs"]) for s in cfg["parts"]["stages"]] == [("warmup", 1), ("supernet", 3)]
    assert cfg["parts"]["stages"][1]["arch_every"] == 1
    assert len({r["entropy"] for r in json_log(run)}) > 1  # α moved
    resolved = yaml.safe_load((run / "experiment.yaml").read_text())
    assert resolved["optim"] == {"type": "darts", "lr": 0.05} and resolved["latency"]["target_ms"] == 0.5
    # the resolved file runs again as it is
    assert main(["search", "--config", str(run / "experiment.yaml"), "-o", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "config.json").read_text())["parts"] == cfg["parts"]
    # --resume with a file: continued where the file asks for what the run recorded (its own experiment.yaml, which
    # spells the parts out, included), refused where it asks for something else, never silently ignored
    capsys.readouterr()
    assert main(["search", "--resume", "--config", str(run / "experiment.yaml"), "-o", str(run)]) == 0
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**yaml.safe_load(exp.read_text()), "optim": {"type": "darts", "lr": 0.2}}))
    capsys.readouterr()
    assert main(["search", "--resume", "--config", str(other), "--batch-size", "32", "-o", str(run)]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_epoch_flags_set_the_stages_of_an_experiment_file(tmp_path, table, capsys):
    exp = tmp_path / "spos.yaml"
    exp.write_text(yaml.safe_dump({
        "method": "spos", "search_space": {"name": "tiny"},
        "estim": {"train": {"type": "spos", "epochs": 9}, "search": {"type": "inherited", "epochs": 10,
                                                                     "per_round": 50}},
        "latency": {"table": "t.csv", "target_ms": 0.2}, "trainer": {"progress": False},
        "data": {"name": "synthetic", "limit": 96}}, sort_keys=False))
    run = tmp_path / "run"
    assert main(["search", "--config", str(exp), "--epochs", "1", "--search-rounds", "1", "--search-arg",
                 "per_round=2", "--train-arg", "sandwich=true", "--quiet", "-o", str(run)]) == 0
    stages = json.loads((run / "config.json").read_text())["parts"]["stages"]
    assert [(s["type"], s["epochs"]) for s in stages] == [("spos", 1), ("inherited", 1)]
    assert stages[0]["sandwich"] is True and stages[1]["per_round"] == 2
    # a flag for a stage the chain does not have is refused, not dropped
    capsys.readouterr()
    assert main(["search", "--config", str(exp), "--warmup-epochs", "2", "-o", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--warmup-epochs sets the warm-up stage" in err and "(spos -> inherited) has no warm-up stage" in err
    assert not (tmp_path / "r2").exists()
    # --resume continues the chain the run was started with: a flag that would change it is refused, not dropped
    assert main(["search", "--resume", "-o", str(run), "--epochs", "3"]) == 2
    assert "--epochs would change the estim chain" in capsys.readouterr().err
    # --config with --resume into a folder that holds no run yet starts it from the file
    assert main(["search", "--config", str(exp), "--resume", "--epochs", "1", "--search-rounds", "1", "--quiet",
                 "-o", str(tmp_path / "r3")]) == 0


@pytest.mark.parametrize("doc, fragment", [
    ({"mixd_op": {"type": "BinGate"}}, "mixd_op: Extra inputs are not permitted; allowed: method, search_space"),
    ({"latency": {"target": 0.3}}, "latency.target: Extra inputs are not permitted; allowed: table, predictor, "
                                   "target_ms"),
    ({"mixed_op": {"type": "BinGate", "mode": "two"}}, "mixed op 'BinGate' has no setting mode; its settings: "
                                                       "binary_mode='full_v2'"),
    ({"estim": [{"type": "spos"}]}, "estim.0.epochs: Field required"),
    ({"optim": {"type": "evolution", "populaton": 5}}, "has no setting populaton"),
    ({"trainer": {"batchsize": 3}}, "trainer.batchsize: unknown setting (batchsize); the trainer section takes: "),
    # a wrongly typed value is named with the type it takes, not run (a quoted 'false' is not false)
    ({"mixed_op": {"type": "GumbelSum", "hard": "false"}}, "hard takes true or false (default True), not 'false'"),
    ({"mixed_op": {"type": "GumbelSum", "tau_max": "abc"}}, "tau_max takes a number"),
    ({"optim": {"type": "enas", "hidden": 1.5}}, "hidden takes a whole number"),
    ({"estim": {"s": {"type": "supernet", "epochs": 1, "arch_every": "x"}}}, "arch_every takes a whole number"),
    ({"estim": {"s": {"type": "spos", "epochs": True}}}, "estim.s.epochs: Input should be a valid integer"),
    ({"estim": {"s": {"type": "spos", "epochs": "six"}}}, "estim.s.epochs: Input should be a valid integer, not 'six'"),
    ({"latency": {"lambda": -5}}, "latency.lambda: Input should be greater than or equal to 0"),
    # a name the file gives is named with its key
    ({"search_space": {"name": "proxyless-cifr"}}, "search_space.name: unknown search space 'proxyless-cifr'; known: "),
    ({"data": {"name": "fashion-mnst"}}, "data.name: unknown dataset 'fashion-mnst'; known: "),
    # the trainer section does not fight the sections that own a setting
    ({"method": "darts", "trainer": {"arch_optim": "enas"}}, "trainer.arch_optim: set it in the optim section"),
    ({"trainer": {"latency_loss": "mul#log"}}, "trainer.latency_loss: set it in the latency section"),
    ({"estim": [{"type": "spos", "epochs": 1}], "trainer": {"n_epochs": 7}}, "trainer.n_epochs: the estim section"),
])
def test_a_typo_names_the_key_and_what_is_allowed_in_one_line(tmp_path, doc, fragment, capsys):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(HwnasError) as info:
        load_experiment(f)
    msg = str(info.value)
    assert fragment in msg and len(msg.splitlines()) == 1 and str(f) in msg
    assert main(["search", "--config", str(f), "--space", "tiny", "-o", str(tmp_path / "r")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_a_method_written_outside_hwnas_runs_by_its_module_name(tmp_path, table, monkeypatch):
    code = next(b for b in re.findall(r"```python\n(.*?)```", (DOCS / "write-your-own.md").read_text(), re.S)
                if "my_parts.py" in b)
    (tmp_path / "my_parts.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "hill"
    assert main(["search", "--method", "spos", "--arch-optim", "my_parts:HillClimb", "--space", "tiny", "--table",
                 str(table), "--target-ms", "0.2", "--data", "synthetic", "--data-limit", "96", "--epochs", "1",
                 "--search-rounds", "3", "--search-arg", "per_round=3", "--quiet", "-o", str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    # recorded by its module name, so that the run's experiment.yaml runs again (and --resume imports it again)
    assert cfg["parts"]["optim"]["type"] == "my_parts:HillClimb" and cfg["optim_resolved"]["type"] == "hill-climb"
    assert yaml.safe_load((run / "experiment.yaml").read_text())["optim"]["type"] == "my_parts:HillClimb"
    assert 0.19 <= json.loads((run / "arch.json").read_text())["predicted_ms"] <= 0.2
    assert main(["search", "--config", str(run / "experiment.yaml"), "--quiet", "-o", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "arch.json").read_text())["arch"] == \
        json.loads((run / "arch.json").read_text())["arch"]
    # a setting of your own part is recorded with the settings it resolved to, as hwnas's own parts' are
    (tmp_path / "step_parts.py").write_text(
        "from hwnas.search.optim import OPTIMIZERS\nfrom my_parts import HillClimb\n\n\n"
        "@OPTIMIZERS.register('hill-climb-step')\nclass StepHillClimb(HillClimb):\n"
        "    def __init__(self, *, step: int = 1, jump: float = 0.5, **context):\n"
        "        super().__init__(**context)\n        self.step, self.jump = step, jump\n")
    assert main(["search", "--method", "spos", "--arch-optim", "step_parts:StepHillClimb", "--optim-arg", "step=2",
                 "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--data", "synthetic", "--data-limit",
                 "96", "--epochs", "1", "--search-rounds", "1", "--quiet", "-o", str(tmp_path / "step")]) == 0
    cfg = json.loads((tmp_path / "step" / "config.json").read_text())
    assert cfg["optim_resolved"] == {"type": "hill-climb-step", "step": 2, "jump": 0.5}
    assert main(["search", "--method", "spos", "--arch-optim", "my_parts:Nothing", "--space", "tiny", "--table",
                 str(table), "--data", "synthetic", "-o", str(tmp_path / "x")]) == 2
    # the guide's check that the method would run on a GPU, as written (on a small budget)
    check = next(b for b in re.findall(r"```python\n(.*?)```", (DOCS / "write-your-own.md").read_text(), re.S)
                 if "DeviceTaint" in b)
    small = 'device="cpu", n_epochs=1, search_rounds=2, search_args={"per_round": 3}, progress=False)'
    check = check.replace('device="cpu")', small).replace('"runs/check"', repr(str(tmp_path / "check")))
    space = get_space("tiny")
    exec(compile(check, "write-your-own.md (DeviceTaint)", "exec"),
         {"space": space, "costs": lut_block_costs(LatencyTable.load(table), space),
          "data": load_synthetic(resolution=16, n=96, seed=0)})
    assert json.loads((tmp_path / "check" / "config.json").read_text())["parts"]["optim"]["type"] == \
        "my_parts:HillClimb"


def test_a_key_given_twice_is_refused(tmp_path):
    f = tmp_path / "twice.yaml"
    f.write_text("method: darts\nmethod: gdas\n")
    with pytest.raises(HwnasError, match="key 'method' given twice"):
        load_experiment(f)


@pytest.mark.parametrize("flags, says", [
    (["--method", "darts", "--search-arg", "bnd=0.1"], "--search-arg sets the search stage"),
    (["--method", "darts", "--search-rounds", "5"], "--search-rounds sets the search stage"),
    (["--method", "spos", "--warmup-epochs", "2"], "--warmup-epochs sets the warm-up stage"),
    (["--method", "darts", "--optim-arg", "lr=0.1"], "α's Adam learning rate is --arch-lr"),
    (["--method", "gdas", "--mixed-op-arg", "tau_max=abc"], "tau_max takes a number"),
])
def test_a_flag_a_named_method_cannot_use_is_refused_not_dropped(tmp_path, table, flags, says, capsys):
    assert main(["search", *flags, "--space", "tiny", "--table", str(table), "--target-ms", "0.2", "--data",
                 "synthetic", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and not (tmp_path / "r").exists()



def test_a_derivative_free_optimizer_without_a_stage_that_scores_is_refused(tmp_path, table, capsys):
    f = tmp_path / "noscore.yaml"
    f.write_text(yaml.safe_dump({"method": "spos", "search_space": {"name": "tiny"},
                                 "estim": {"s": {"type": "supernet", "epochs": 1}},
                                 "latency": {"table": str(table), "target_ms": 0.2},
                                 "data": {"name": "synthetic", "limit": 96}}))
    assert main(["search", "--config", str(f), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "only a stage that scores them" in err and len(err.splitlines()) == 1


def test_files_written_before_alpha_adam_settings_moved_to_optim_still_load(tmp_path):
    f = tmp_path / "old.yaml"
    f.write_text(yaml.safe_dump({"method": "darts", "trainer": {"arch_optim_lr": 0.02, "progress": False}}))
    cfg, _ = load_experiment(f)
    assert cfg.arch_optim_lr == 0.02
    f.write_text(yaml.safe_dump({"method": "darts", "optim": {"type": "darts", "lr": 0.05},
                                 "trainer": {"arch_optim_lr": 0.02}}))
    with pytest.raises(HwnasError, match="trainer.arch_optim_lr: the optim section sets it too"):
        load_experiment(f)


def test_settings_are_typed_by_annotation_and_numbers_yaml_left_as_text_are_numbers():
    from hwnas.search.registry import _typed

    assert _typed("optimizer", "x", "lr", "3e-4", 0.00035, "float") == 3e-4  # YAML reads 3e-4 as text
    assert _typed("optimizer", "x", "temperature", 0.5, 1, "float") == 0.5  # an int default, a float annotation
    assert _typed("optimizer", "x", "steps", 3, None, "int | None") == 3
    with pytest.raises(HwnasError, match="steps takes a whole number"):
        _typed("optimizer", "x", "steps", 1.5, None, "int | None")
    with pytest.raises(HwnasError, match="takes a number"):
        _typed("optimizer", "x", "lr", "fast", 0.1, "float")


def test_the_trainer_sections_unknown_key_lists_only_what_that_section_takes(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"estim": {"s": {"type": "spos", "epochs": 1}}, "trainer": {"batch_sise": 32}}))
    with pytest.raises(HwnasError) as info:
        load_experiment(f)
    takes = str(info.value).split("the trainer section takes: ")[1].split(", ")
    assert "batch_size" in takes and "arch_optim_lr" in takes
    # set in their own sections (the latency target, the parts, the estim chain's epochs): not offered here
    assert not {"target_ms", "mixed_op", "arch_optim", "n_epochs", "search_rounds", "progress"} & set(takes)
