"""The documented paths, run as written (issue 28): the README's CLI tour and Python snippet, the commands of
docs/model-spaces.md and the Python snippets of docs/search.md and docs/model-spaces.md, taken from the Markdown
itself, so the documentation cannot drift from the code.

Only budgets are changed: epochs, images (``--data-limit``), networks (``--n``) and the measurement protocol.
In the fast (CI) runs the measurement backend is the fake one, set to about this CPU's ONNX Runtime speed
(``ms_per_melem=0.1``: proxyless-cifar at 0.34–1.44 ms, where ONNX Runtime measured 0.33–1.9 ms), so that the
documented targets (0.45, 0.6, 0.8 ms) are within reach as they are on a real CPU; the ``slow`` run uses ONNX
Runtime itself with a one-pass protocol. Every command of every page must at least parse."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from hwnas.cli import main
from hwnas.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FAKE = ["--backend", "fake", "--backend-opt", "ms_per_melem=0.1"]
ORT_BUDGET = ["--fast", "--repeats", "3", "--warmup", "1", "--min-time", "0"]
MEASURES = ("profile", "measure", "measure-archs")  # the commands whose job is to measure
EPOCHS = {"--epochs": "1", "--warmup-epochs": "1", "--retrain-epochs": "1"}
DATA_BUDGET = ["--data-limit", "48", "--batch-size", "16"]


# ---- reading the Markdown -----------------------------------------------------------------------------------------
def blocks(path: Path, lang: str, heading: str | None = None) -> list[str]:
    """The fenced ``lang`` blocks of ``path`` (under the ``## heading`` section only, when given)."""
    text = path.read_text(encoding="utf-8")
    if heading is not None:
        start = text.index(f"## {heading}\n")
        end = text.find("\n## ", start + 1)
        text = text[start:end if end >= 0 else None]
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def shell_lines(block: str) -> list[str]:
    """Logical lines of a shell block: continuations joined, comments and blank lines dropped."""
    out, cur = [], ""
    for line in block.splitlines():
        cur += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if cur.strip() and not cur.lstrip().startswith("#"):
                out.append(cur.strip())
            cur = ""
    return out


def hwnas_commands(block: str) -> list[list[str]]:
    """Each ``hwnas ...`` line as argv, with the block's ``NAME="..."`` variables expanded. A line with a ``...``
    placeholder is an illustration (it names the flags to add to a command shown above it), not a command."""
    env: dict[str, str] = {}
    out = []
    for line in shell_lines(block):
        assign = re.fullmatch(r'([A-Z_]+)="([^"]*)"', line)
        if assign:
            env[assign.group(1)] = assign.group(2)
            continue
        for name, value in env.items():
            line = line.replace(f"${name}", value)
        words = shlex.split(re.sub(r"(^|\s)#.*$", "", line))  # a comment starts a word, as in bash (add#abs does not)
        for argv in split_on_operators(words):  # `a & b`, `a && b`, `a; b`: each command on its own
            if argv and argv[0] == "hwnas" and "..." not in argv:
                out.append(argv[1:])
    return out


def split_on_operators(words: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in words:
        if w in ("&", "&&", "||", ";", "|"):
            out.append([])
        elif w.endswith(";") and len(w) > 1:
            out[-1].append(w[:-1])
            out.append([])
        else:
            out[-1].append(w)
    return [argv for argv in out if argv]


def every_documented_command() -> list[tuple[str, list[str]]]:
    pages = [README, *sorted(DOCS.glob("*.md"))]
    return [(f"{p.name}: {' '.join(argv)[:60]}", argv) for p in pages for b in blocks(p, "bash")
            for argv in hwnas_commands(b)]


# ---- budgets --------------------------------------------------------------------------------------------------------
def with_budget(argv: list[str], *, real: bool) -> list[str]:
    out = list(argv)
    for i, tok in enumerate(out[:-1]):
        if tok in EPOCHS:
            out[i + 1] = EPOCHS[tok]
        if tok == "--n":
            out[i + 1] = str(min(int(out[i + 1]), 10))
    cmd = out[0]
    if cmd in ("search", "retrain", "pareto") and "--data" in out and "--data-limit" not in out:
        out += DATA_BUDGET
    if cmd in ("search", "pareto") and "--resume" not in out and "--supernet" not in out:  # a trained supernet's
        # search trains nothing; a method without a warm-up stage takes no --warmup-epochs
        from hwnas.search.methods import get_method

        method = out[out.index("--method") + 1] if "--method" in out else None
        warmup = method is None or get_method(method).warmup
        for flag, value in EPOCHS.items():
            if flag not in out and (flag != "--retrain-epochs" or cmd == "pareto") and \
                    (flag != "--warmup-epochs" or warmup):
                out += [flag, value]
    if cmd == "retrain" and "--epochs" not in out:
        out += ["--epochs", "1"]
    measures = cmd in MEASURES or "--backend" in out or cmd in ("pareto", "retrain")
    if measures and not real:
        if "--backend" in out:
            i = out.index("--backend")
            del out[i:i + 2]
        out += FAKE
    elif measures:
        out += ORT_BUDGET
    return out


def run(argv: list[str], capsys) -> str:
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"hwnas {' '.join(argv)} exited {code}: {out.err.strip()[-400:]}"
    return out.out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh directory as a new user's, with the repository's examples/ importable from it."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


# ---- every command parses -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, argv", every_documented_command(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_documented_command_parses(where, argv):
    """Flags a page names that the command no longer takes (or never took) fail here, at once."""
    build_parser().parse_args(argv)


def test_the_documented_commands_are_found():
    found = every_documented_command()
    assert len(found) >= 30, len(found)
    assert any(argv[0] == "retrain" and "--inherit" in argv for _, argv in found)


# ---- the README's tour ------------------------------------------------------------------------------------------------
def readme_tour() -> list[list[str]]:
    return [argv for b in blocks(README, "bash", "CLI tour") for argv in hwnas_commands(b)]


def run_readme_tour(capsys, *, real: bool, stop: str | None = None) -> None:
    for argv in readme_tour():
        if argv[:3] == ["table", "compare", "tables/cifar-ort.csv"]:
            # tables/cifar-et.csv is an ExecuTorch table (the `mobile` extra): a second fake device stands in
            run(["profile", "--space", "proxyless-cifar", "--backend", "fake", "--backend-opt", "ms_per_melem=0.2",
                 "--quiet", "-o", "tables/cifar-et.csv"], capsys)
        if stop is not None and argv[0] == stop:
            return
        run(with_budget(argv, real=real), capsys)


def test_readme_tour_until_search(workdir, capsys):
    """spaces, sample, measure, profile, table show/export/compare, measure-archs, predictor fit/eval, predict."""
    run_readme_tour(capsys, real=False, stop="search")
    assert (workdir / "calibrated.joblib").exists() and (workdir / "cifar-ort.yaml").exists()


@pytest.mark.slow
@pytest.mark.parametrize("real", [False, True], ids=["fake-device", "onnxruntime"])
def test_readme_tour_end_to_end(workdir, capsys, real):
    """The whole tour: search, resume, retrain, export, pareto, the model-space profile."""
    run_readme_tour(capsys, real=real)
    assert (workdir / "cifar-045.onnx").exists() and (workdir / "runs/pareto/report.md").exists()


def readme_python() -> str:
    return blocks(README, "python", "Python")[0]


@pytest.mark.parametrize("real", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["fake-device", "onnxruntime"])
def test_readme_python_snippet(workdir, capsys, real):
    code = readme_python()
    backend = 'create_backend("onnxruntime", threads=1)'
    assert backend in code
    if real:  # one pass of 3 runs per layer: the budget of the measurement, not its method
        code = code.replace(backend, 'create_backend("onnxruntime", threads=1, protocol=Protocol(warmup=1, '
                                     'repeats=3, min_time_s=0.0))')
    else:
        code = code.replace(backend, 'create_backend("fake", ms_per_melem=0.1)')
    ns: dict = {}
    exec(compile("from hwnas.profilers import Protocol\n" + code, "README.md", "exec"), ns)
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 and all(float(v) > 0 for v in printed)


# ---- docs/model-spaces.md -------------------------------------------------------------------------------------------
def guide_commands() -> list[list[str]]:
    return [argv for b in blocks(DOCS / "model-spaces.md", "bash", "The pipeline on your model")
            for argv in hwnas_commands(b)]


def fashion_mnist() -> bool:
    from hwnas.pareto.demo import fashion_mnist_available

    return fashion_mnist_available()


@pytest.mark.skipif(not fashion_mnist(), reason="needs Debian's dataset-fashion-mnist (make demo installs it)")
def test_model_space_guide_as_written(workdir, capsys):
    """profile, measure-archs, calibrated predictor, search, retrain --inherit on ResNetSpace, then the guide's
    Python: apply_fixed_architecture on the run's nni_arch.json."""
    commands = guide_commands()
    assert [c[0] for c in commands] == ["profile", "measure-archs", "predictor", "search", "retrain"]
    for argv in commands:
        run(with_budget(argv, real=False), capsys)
    assert (workdir / "runs/r/retrained/model.onnx").exists()
    snippets = blocks(DOCS / "model-spaces.md", "python")
    ns: dict = {}
    exec(compile(snippets[0], "model-spaces.md (Net)", "exec"), ns)  # NNI's guide network: defines Net
    exec(compile(snippets[-1], "model-spaces.md (back to a network)", "exec"), ns)
    from hwnas.space import InputChoice, LayerChoice

    assert not any(isinstance(m, (LayerChoice, InputChoice)) for m in ns["model"].modules())
    assert ns["model"](torch.zeros(2, 1, 28, 28)).shape == (2, 10)


# ---- docs/search.md's Python API --------------------------------------------------------------------------------------
def search_python() -> list[str]:
    return blocks(DOCS / "search.md", "python", "Python API")


def python_budget(code: str) -> str:
    cuda = torch.cuda.is_available()
    subs = [(r"n_epochs=\d+", "n_epochs=1"), (r"warmup_epochs=\d+", "warmup_epochs=1"),
            (r"RetrainConfig\(epochs=\d+", "RetrainConfig(epochs=1"),
            (r'data_for_space\("digits", space\)', 'data_for_space("digits", space, limit=48)'),
            (r"SearchConfig\(", "SearchConfig(batch_size=16, "),
            (r"warmup=True,", "warmup=True, n_epochs=1, warmup_epochs=1,")]  # the trainer's NNI defaults: 25 + 120
    if not cuda:  # the snippets show a GPU: on a CPU-only machine they run on the CPU, in fp32
        subs += [(r'device="cuda"', 'device="auto"'), (r'amp="bf16"', 'amp="off"')]
    for pattern, repl in subs:
        code = re.sub(pattern, repl, code)
    return code


def test_search_python_api_as_written(workdir, capsys):
    """The two snippets of docs/search.md's "Python API", in one session: run_search and retrain on the table the
    page profiles, then ProxylessNasTrainer with the user's own DataLoaders."""
    profile = next(argv for b in blocks(DOCS / "search.md", "bash") for argv in hwnas_commands(b)
                   if argv[0] == "profile")
    run(with_budget(profile, real=False), capsys)
    first, second = search_python()
    ns: dict = {}
    exec(compile(python_budget(first), "search.md (run_search)", "exec"), ns)
    assert ns["result"].predicted_ms > 0
    from hwnas.train.data import make_loader

    g = torch.Generator().manual_seed(0)
    ns["train_loader"] = make_loader(ns["data"].train, 16, generator=g)   # "your own DataLoaders"
    ns["valid_loader"] = make_loader(ns["data"].valid, 16, generator=g)
    exec(compile(python_budget(second), "search.md (ProxylessNasTrainer)", "exec"), ns)
    assert (workdir / "chosen.json").exists()
