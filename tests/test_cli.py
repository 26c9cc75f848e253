from __future__ import annotations

import pytest

from hwnas.cli import main


def test_profile_show_export_import(tmp_path, capsys):
    t = tmp_path / "t.csv"
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(t)]) == 0
    assert "21 entries" in capsys.readouterr().out
    assert main(["table", "show", str(t)]) == 0
    assert "slowest" in capsys.readouterr().out
    y = tmp_path / "t.yaml"
    assert main(["table", "export", str(t), "-o", str(y), "--dialect", "ofa"]) == 0
    assert main(["table", "import", str(y), "--space", "tiny", "-o", str(tmp_path / "i.csv")]) == 0
    assert "imported 21 entries, skipped 0" in capsys.readouterr().out


def test_measure_prints_statistics(capsys):
    arch = "k3e3-zero|k5e6-k3e6"
    assert main(["measure", "--space", "tiny", "--arch", arch, "--repeats", "5", "--min-time", "0"]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "p90" in out and arch in out
    assert "ms (min, the headline)" in out  # the figure the tables and predictors use, first


@pytest.mark.parametrize("argv, fragment", [
    (["measure", "--space", "tiny", "--arch", "k3e3-zero|k5e6"], "depths"),
    (["measure", "--space", "tiny", "--arch", "k3e3-zero|zero-k3e3"], "block 2 (stage 1): 'zero' is not allowed"),
    (["measure", "--space", "tiny", "--arch", "k3e3-k3e3|k3e3-k3e3", "--backend", "nope"], "unknown backend"),
    (["measure", "--space", "nope", "--arch", "x"], "unknown search space"),
    (["table", "show", "missing.csv"], "not found"),
])
def test_bad_input_exits_2_with_a_message(argv, fragment, capsys):
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_measure_refuses_a_table_from_another_backend(tmp_path, capsys):
    t = tmp_path / "t.csv"
    main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(t)])
    argv = ["measure", "--space", "tiny", "--arch", "k3e3-zero|k5e6-k3e6", "--repeats", "3", "--table", str(t)]
    assert main(argv) == 2
    assert "backend: table has 'fake', requested 'onnxruntime'" in capsys.readouterr().err


def test_quick_demo_writes_a_report(tmp_path, capsys):
    assert main(["demo", "--quick", "-o", str(tmp_path / "demo")]) == 0
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Latency predictors on 6 held-out networks" in report and "hypervolume" in report
    assert "report:" in capsys.readouterr().out
    for name in ("table.csv", "archs_fit.csv", "calibrated.joblib", "pareto/points.csv", "pareto/pareto.png",
                 "table_heatmap.png", "predicted_vs_measured.png"):
        assert (tmp_path / "demo" / name).exists(), name


def test_predictor_commands_end_to_end(tmp_path, capsys):
    t, a, h, p = (str(tmp_path / n) for n in ("t.csv", "a.csv", "h.csv", "p.joblib"))
    space = ["--space", "tiny", "--backend", "fake"]
    assert main(["profile", *space, "--quiet", "-o", t]) == 0
    assert main(["measure-archs", *space, "--n", "20", "--seed", "1", "--quiet", "-o", a]) == 0
    assert main(["measure-archs", *space, "--n", "10", "--seed", "2", "--exclude", a, "--quiet", "-o", h]) == 0
    assert main(["predictor", "fit", "--table", t, "--archs", a, "--kind", "calibrated", "-o", p]) == 0
    capsys.readouterr()
    assert main(["predictor", "eval", p, "--archs", h, "--plot", str(tmp_path / "e.png")]) == 0
    out = capsys.readouterr().out
    assert "±10%" in out and "Spearman" in out and (tmp_path / "e.png").stat().st_size > 1000
    assert "every network is off the same way" not in out
    # the same networks measured again on a machine running 6% faster: named as the machine's drift
    import pandas as pd

    held = pd.read_csv(h)
    for col in [c for c in held.columns if c.endswith("_ms") and c != "ref_ms"]:
        held[col] *= 0.94
    held.to_csv(h, index=False)
    assert main(["predictor", "eval", p, "--archs", h, "--plot", str(tmp_path / "e.png")]) == 0
    assert "running 6.0% faster than when the predictor's data were" in capsys.readouterr().out
    # a LUT sum is off one way by construction: no note blames the machine for it
    lut = str(tmp_path / "lut.joblib")
    assert main(["predictor", "fit", "--table", t, "--kind", "lut", "-o", lut]) == 0
    assert main(["predictor", "eval", lut, "--archs", h, "--plot", str(tmp_path / "l.png")]) == 0
    assert "off the same way" not in capsys.readouterr().out
    assert main(["predict", "--predictor", p, "--arch", "k3e3-zero|k5e6-k3e6"]) == 0
    assert " ms " in capsys.readouterr().out
    assert main(["predictor", "fit", "--table", t, "--kind", "fitted", "-o", p]) == 2
    assert "pass --archs" in capsys.readouterr().err


def test_an_error_raised_in_the_users_code_is_not_reported_as_a_bug_in_hwnas(tmp_path, capsys, monkeypatch):
    """A user's module (here the factory of --model, whose network fails in training) raises: the message says so,
    and its traceback follows; an error inside hwnas still asks for a report."""
    (tmp_path / "my_net.py").write_text(
        "import torch\n"
        "from hwnas.space import LayerChoice\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.pick = LayerChoice([torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Conv2d(1, 4, 5, padding=2)])\n"
        "        self.head = torch.nn.Linear(4, 10)\n"
        "    def forward(self, x):\n"
        "        if self.training:\n"
        "            return self.head(self.pick(x))  # a shape mistake: it fails inside torch's Linear\n"
        "        return self.head(self.pick(x).mean((2, 3)))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(["retrain", "--model", "my_net:Net", "--input-shape", "1,1,28,28", "--arch", "pick=0", "--data",
              "synthetic", "--data-limit", "40", "--epochs", "1", "--quiet", "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert "error raised in your code (my_net.py:10)" in err and "bug in hwnas" not in err
