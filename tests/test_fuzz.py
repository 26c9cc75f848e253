"""Property-based probes of every input kind (issue 18): random and corrupted CLI numbers and flags, architecture
strings and JSON, table rows, metadata, run records, predictor files, YAML tables and architecture lists are fed
to ``hwnas`` in-process. Each must end in exit 0, or exit 2 with exactly one error line, no traceback, and no file
changed. The cases tried and the tracebacks found are counted, printed and written to
``<tmp>/hwnas-fuzz-counts.json``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.cli import main

COUNTS: dict[str, dict[str, int]] = {}
ERROR_LINE = re.compile(r"^hwnas( [a-z-]+)*: error: ")  # hwnas's own, or argparse's "hwnas predict: error: ..."
# ~60 cases per kind keep the file under a minute on 2 cores; HWNAS_FUZZ_EXAMPLES=1000 probes harder
# in `make test` the examples are the same every run (derandomize); HWNAS_FUZZ_EXAMPLES draws new ones
FUZZ = settings(max_examples=int(os.environ.get("HWNAS_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=list(HealthCheck), database=None,
                derandomize="HWNAS_FUZZ_EXAMPLES" not in os.environ)
ARCH = "k3e3-zero|k5e6-k3e6"


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    total = {k: sum(c[k] for c in COUNTS.values()) for k in ("cases", "exit_0", "refused", "tracebacks")}
    out = Path(tempfile.gettempdir()) / "hwnas-fuzz-counts.json"
    out.write_text(json.dumps({"total": total, "by_kind": COUNTS}, indent=2))
    print(f"\nfuzz: {total['cases']} cases, {total['exit_0']} accepted, {total['refused']} refused with one line, "
          f"{total['tracebacks']} tracebacks ({out})")


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run(kind: str, argv: list[str], watch: Path) -> int:
    """``hwnas argv`` in-process; checks the contract and counts the case."""
    c = COUNTS.setdefault(kind, {"cases": 0, "exit_0": 0, "refused": 0, "tracebacks": 0})
    c["cases"] += 1
    before = digest(watch)
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:  # argparse: a usage line and one error line
        code = exc.code
    except BaseException as exc:
        c["tracebacks"] += 1
        raise AssertionError(f"traceback for hwnas {argv!r}: {type(exc).__name__}: {exc}") from exc
    text = err.getvalue()
    if code == 0:
        c["exit_0"] += 1
        return 0
    c["refused"] += 1
    assert code in (2, 3), (argv, code, text)  # 3: a device that failed (a remote binary), also one line
    errors = [ln for ln in text.splitlines() if ERROR_LINE.match(ln)]
    assert len(errors) == 1 and "Traceback" not in text, (argv, text)
    assert errors[0].split("error:", 1)[1].strip(), text  # says something (not a bare "hwnas: error:")
    assert digest(watch) == before, f"hwnas {argv!r} failed but changed files"
    return 2


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A valid table, dataset, predictor, YAML table and search run to corrupt (made once)."""
    d = tmp_path_factory.mktemp("fuzzbase")
    fake = ["--space", "tiny", "--backend", "fake", "--quiet"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["profile", *fake, "-o", str(d / "t.csv")]) == 0
        assert main(["measure-archs", *fake, "--n", "10", "-o", str(d / "a.csv")]) == 0
        assert main(["predictor", "fit", "--table", str(d / "t.csv"), "--archs", str(d / "a.csv"), "--kind",
                     "calibrated", "-o", str(d / "p.joblib")]) == 0
        assert main(["table", "export", str(d / "t.csv"), "-o", str(d / "t.yaml")]) == 0
        assert main(["search", "--table", str(d / "t.csv"), "--data", "synthetic", "--data-limit", "32", "--epochs",
                     "1", "--warmup-epochs", "0", "--batch-size", "16", "--quiet", "-o", str(d / "run")]) == 0
    return d


def workdir(base: Path, *names: str) -> Path:
    w = Path(tempfile.mkdtemp(prefix="hwnas-fuzz-"))
    for n in names:
        src = base / n
        (shutil.copytree if src.is_dir() else shutil.copy)(src, w / n)
    return w


text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
numberish = st.one_of(text, st.sampled_from(["0", "-1", "-0", "1e999", "inf", "-inf", "nan", "NaN", "1_000", "٣",
                                             "3.5", "0x10", "", " ", "1e3", "99999999999999999999", "+2", "3,5",
                                             "4", "2,4", "3,,5", "0.0", "-1e-9"]),
                      st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(str))


# ---- CLI numbers and flags -----------------------------------------------------------------------------------
NUMBER_FLAGS = [
    (["sample", "--space", "tiny", "--n", "1"], ["--resolution", "--width-mult", "--kernels", "--expands",
                                                  "--num-classes", "--seed", "--n"]),
    (["search", "--table", "missing.csv", "-o", "OUT/r"], ["--target-ms", "--epochs", "--batch-size", "--init-lr",
                                                         "--label-smoothing", "--arch-every", "--rl-samples",
                                                         "--seed", "--data-limit", "--threads", "--rounds"]),
    (["retrain", "--arch", "nope"], ["--epochs", "--batch-size", "--lr", "--seed", "--data-limit"]),
    (["pareto", "--table", "missing.csv", "-o", "OUT/p"], ["--targets", "--epochs", "--retrain-epochs", "--seed"]),
    (["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", "OUT/t.csv", "--shard", "0/1000"],
     # (not --repeats/--min-time/--batch: their valid extremes are hours of honest work, not errors)
     ["--shard", "--threads", "--warmup", "--jobs", "--width-mult", "--num-classes"]),
]


@FUZZ
@given(which=st.integers(0, len(NUMBER_FLAGS) - 1), pick=st.integers(0, 100), value=numberish)
def test_fuzz_cli_numbers(which, pick, value):
    cmd, flags = NUMBER_FLAGS[which]
    w = Path(tempfile.mkdtemp(prefix="hwnas-fuzz-"))
    argv = [a.replace("OUT", str(w)) for a in cmd] + [f"{flags[pick % len(flags)]}={value}"]
    run("cli numbers", argv, w)
    shutil.rmtree(w)


@FUZZ
@given(opts=st.lists(st.one_of(text, st.sampled_from(["serial=0042", "args=1e3", "invocations=x", "threads=2",
                                                      "transport=usb", "timeout_s=nan", "port=-1", "=x", "x",
                                                      "mobile=maybe", "opset=1.5", "noise=-1", "a-b=1"])),
                    min_size=1, max_size=3),
       backend=st.sampled_from(["fake", "remote", "onnxruntime", "torch"]))
def test_fuzz_backend_options(opts, backend):
    w = Path(tempfile.mkdtemp(prefix="hwnas-fuzz-"))
    argv = ["measure", "--space", "tiny", "--arch", ARCH, "--backend", backend, "--repeats", "1", "--warmup", "0",
            "--min-time", "0", "--table", str(w / "missing.csv")]
    if backend == "remote":  # never run a command the fuzzer made up: the binary is /bin/false
        argv.append("--backend-opt=binary=/bin/false")
    for o in opts:
        argv.append(f"--backend-opt={o}")
    run("backend options", argv, w)
    shutil.rmtree(w)


# ---- architecture strings and JSON ---------------------------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 10) | st.floats() | text,
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=3),
                           max_leaves=12)
arch_text = st.one_of(
    st.text(st.sampled_from(list("ke0123456789|-zro ٣x{}[]\":,")), max_size=40),
    st.lists(st.lists(st.sampled_from(["k3e3", "k5e6", "zero", "k4e3", "k3e0", "k٣e3", "", "K3E3", " k3e3 "]),
                      max_size=3), max_size=3).map(lambda s: "|".join("-".join(b) for b in s)),
    st.lists(st.sampled_from(["k3e3", "k5e6", "k3e6", "k5e3", "zero", "k7e3", "k3e1", "k1e3"]), min_size=4,
             max_size=4).map(lambda t: f"{t[0]}-{t[1]}|{t[2]}-{t[3]}"),  # the tiny space's shape: often valid
    json_values.map(json.dumps),
    st.fixed_dictionaries({"stages": json_values}).map(json.dumps),
    st.fixed_dictionaries({"arch": json_values}).map(json.dumps),
    text,
)


@FUZZ
@given(arch=arch_text)
def test_fuzz_architectures(arch):
    w = Path(tempfile.mkdtemp(prefix="hwnas-fuzz-"))
    run("architectures", ["measure", "--space", "tiny", "--backend", "fake", f"--arch={arch}"], w)
    shutil.rmtree(w)


# ---- table rows and metadata ---------------------------------------------------------------------------------
def corrupt_text(data: st.DataObject, s: str) -> str:
    how = data.draw(st.sampled_from(["cell", "truncate", "dup", "insert", "delete_line", "header"]))
    lines = s.splitlines()
    if how == "cell":
        i = data.draw(st.integers(0, len(lines) - 1))
        cells = lines[i].split(",")
        j = data.draw(st.integers(0, len(cells) - 1))
        cells[j] = data.draw(numberish)
        lines[i] = ",".join(cells)
    elif how == "truncate":
        return s[: data.draw(st.integers(0, len(s)))]
    elif how == "dup":
        i = data.draw(st.integers(1, len(lines) - 1))
        lines.insert(i, lines[i])
    elif how == "insert":
        i = data.draw(st.integers(0, len(s)))
        return s[:i] + data.draw(text) + s[i:]
    elif how == "delete_line" and len(lines) > 1:
        del lines[data.draw(st.integers(0, len(lines) - 1))]
    else:
        lines[0] = lines[0].replace("median_ms", data.draw(text))
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.data(), command=st.sampled_from(["show", "profile", "compare", "search"]))
def test_fuzz_table_rows(base, data, command):
    w = workdir(base, "t.csv", "t.meta.json")
    t = w / "t.csv"
    t.write_text(corrupt_text(data, t.read_text()))
    argv = {"show": ["table", "show", str(t)],
            "profile": ["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(t)],
            "compare": ["table", "compare", str(t), str(base / "t.csv")],
            "search": ["search", "--table", str(t), "--data", "nope", "-o", str(w / "r")]}[command]
    code = run("table rows", argv, w)
    if command == "search":
        assert code == 2  # the data set 'nope' does not exist: only the table may be what fails first
    shutil.rmtree(w)


def mutate_json(data: st.DataObject, obj):
    """Delete or replace one value somewhere in ``obj`` (a random path)."""
    if isinstance(obj, dict) and obj and data.draw(st.booleans()):
        k = data.draw(st.sampled_from(sorted(obj)))
        if data.draw(st.booleans()):
            return {**{kk: v for kk, v in obj.items() if kk != k}} if data.draw(st.booleans()) else \
                {**obj, k: data.draw(json_values)}
        return {**obj, k: mutate_json(data, obj[k])}
    if isinstance(obj, list) and obj and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(obj) - 1))
        return obj[:i] + [mutate_json(data, obj[i])] + obj[i + 1:]
    return data.draw(json_values)


@FUZZ
@given(data=st.data(), raw=st.booleans())
def test_fuzz_metadata(base, data, raw):
    w = workdir(base, "t.csv", "t.meta.json", "a.csv", "a.meta.json")
    target = w / data.draw(st.sampled_from(["t.meta.json", "a.meta.json"]))
    meta = json.loads(target.read_text())
    target.write_text(data.draw(text) if raw else json.dumps(mutate_json(data, meta)))
    argv = data.draw(st.sampled_from([
        ["table", "show", str(w / "t.csv")],
        ["predictor", "fit", "--table", str(w / "t.csv"), "--archs", str(w / "a.csv"), "--kind", "calibrated",
         "-o", str(w / "p.joblib")],
        ["measure-archs", "--space", "tiny", "--backend", "fake", "--n", "10", "--quiet", "-o", str(w / "a.csv")],
    ]))
    run("metadata", argv, w)
    shutil.rmtree(w)


# ---- run records ---------------------------------------------------------------------------------------------
@FUZZ
@given(data=st.data(), which=st.sampled_from(["config.json", "arch.json", "block_costs.json"]), raw=st.booleans())
def test_fuzz_run_records(base, data, which, raw):
    w = workdir(base, "run")
    f = w / "run" / which
    f.write_text(data.draw(text) if raw else json.dumps(mutate_json(data, json.loads(f.read_text()))))
    (w / "run" / "checkpoint.pt").write_bytes(data.draw(st.binary(max_size=64)))  # never a usable checkpoint
    argv = (["search", "--resume", "-o", str(w / "run")] if which == "config.json" else
            ["retrain", str(w / "run"), "--inherit", "--epochs", "0", "--no-measure", "--data", "synthetic",
             "--data-limit", "16", "--quiet"])
    assert run("run records", argv, w) == 2
    shutil.rmtree(w)


# ---- predictor files -----------------------------------------------------------------------------------------
DANGEROUS = [("os", "system"), ("posix", "system"), ("subprocess", "Popen"), ("builtins", "eval"),
             ("builtins", "exec"), ("builtins", "getattr"), ("builtins", "__import__"), ("numpy", "memmap"),
             ("pandas", "read_pickle"), ("joblib", "load"), ("hwnas.cli.main", "main"), ("shutil", "rmtree"),
             ("hwnas.profilers.transports", "LocalTransport.shell"), ("torch", "load"), ("pickle", "loads"),
             ("numpy", "load"), ("pandas", "HDFStore"), ("sklearn.utils._testing", "TempMemmap")]


@FUZZ
@given(data=st.data(), how=st.sampled_from(["flip", "truncate", "random", "crafted"]))
def test_fuzz_predictor_files(base, data, how):
    w = workdir(base, "p.joblib")
    p = w / "p.joblib"
    marker = w / "pwned"
    blob = bytearray(p.read_bytes())
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    elif how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif how == "random":
        blob = bytearray(data.draw(st.binary(max_size=200)))
    else:  # a pickle that calls a dangerous global with a command creating the marker
        mod, name = data.draw(st.sampled_from(DANGEROUS))
        arg = pickle.dumps(f"touch {marker}", protocol=2)[2:-1]
        blob = bytearray(b"\x80\x02c" + mod.encode() + b"\n" + name.encode() + b"\n" + arg + b"\x85R.")
    p.write_bytes(bytes(blob))
    run("predictor files", ["predict", "--predictor", str(p), "--arch", ARCH], w)
    assert not marker.exists()
    shutil.rmtree(w)


# ---- YAML tables and architecture lists ----------------------------------------------------------------------
@FUZZ
@given(data=st.data(), raw=st.booleans())
def test_fuzz_yaml_tables(base, data, raw):
    w = workdir(base, "t.yaml")
    y = w / "t.yaml"
    y.write_text(data.draw(text) if raw else corrupt_text(data, y.read_text().replace(": ", ","))
                 .replace(",", ": "))
    out = w / "out" / "i.csv"
    run("yaml tables", ["table", "import", str(y), "--space", "tiny", "-o", str(out)], w)
    shutil.rmtree(w)


@FUZZ
@given(lines=st.lists(arch_text, min_size=0, max_size=4), header=st.booleans())
def test_fuzz_arch_lists(lines, header):
    w = Path(tempfile.mkdtemp(prefix="hwnas-fuzz-"))
    lst = w / "archs.txt"
    lst.write_text(("arch\n" if header else "") + "\n".join(lines) + "\n")
    run("arch lists", ["measure-archs", "--space", "tiny", "--backend", "fake", "--archs", str(lst), "--n", "2",
                       "--quiet", "-o", str(w / "out.csv")], w)
    shutil.rmtree(w)
