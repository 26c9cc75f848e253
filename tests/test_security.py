"""Files from elsewhere must not run code when hwnas loads them: predictor pickles go through an allow-list
unpickler, checkpoints through ``torch.load(weights_only=True)``, and remote ``--backend-opt`` values are quoted for
the shell that runs them."""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess

import joblib
import pytest
import torch

from hwnas.cli.main import main
from hwnas.errors import HwnasError
from hwnas.predictors import CalibratedPredictor, load_predictor, measure_archs, save_predictor
from hwnas.predictors.safe_pickle import UnsafePickleError
from hwnas.profilers import Protocol, build_table, create_backend
from hwnas.profilers.standin_perf_test import command as standin_command
from hwnas.search.run import RunDir


class _Call:
    """Pickles as ``func(*args)``: what a crafted file uses to run code on load."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    cmd = f"touch {shlex.quote(str(marker))}"
    return {
        "os.system": _Call(os.system, cmd),
        "subprocess": _Call(subprocess.call, ["sh", "-c", cmd]),
        "eval": _Call(eval, f"__import__('os').system({cmd!r})"),
        "exec": _Call(exec, f"open({str(marker)!r}, 'w').close()"),
        "getattr": _Call(getattr, _Call(__import__, "os"), "system"),
        "memmap": _Call(__import__("numpy").memmap, str(marker), "uint8", "w+", 0, (4,)),
    }


@pytest.mark.parametrize("kind", ["os.system", "subprocess", "eval", "exec", "getattr", "memmap"])
@pytest.mark.parametrize("compress", [0, 3])
def test_crafted_predictor_file_does_not_execute(tmp_path, kind, compress, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.joblib"
    # the payload hidden where a real predictor would be, inside a valid-looking envelope
    joblib.dump({"format": "hwnas-predictor", "hwnas": "0", "kind": "CalibratedPredictor", "table_meta": None,
                 "predictor": _payloads(marker)[kind]}, path, compress=compress)
    with pytest.raises(UnsafePickleError, match="nothing from it was executed"):
        load_predictor(path)
    assert not marker.exists()
    assert main(["predict", "--predictor", str(path), "--arch", "k3e3-k3e3|k3e3-k3e3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwnas: error: refused to load") and "Traceback" not in err
    assert not marker.exists()


def test_plain_pickle_protocol0_with_global_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "p0.joblib"
    path.write_bytes(b"\x80\x02cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError):
        load_predictor(path)
    assert not marker.exists()


def test_real_predictor_still_loads(tmp_path, tiny):
    dev = create_backend("fake", nonadditive=0.05)
    table = build_table(tiny, dev, tmp_path / "t.csv", progress=False)
    train = measure_archs(tiny, dev, tmp_path / "a.csv", n=12, seed=0, progress=False)
    pred = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    for compress in (0, 3):
        path = tmp_path / f"p{compress}.joblib"
        save_predictor(pred, path)
        joblib.dump(joblib.load(path), path, compress=compress)
        loaded = load_predictor(path)
        assert (loaded.predict(train.arch_strings) == pred.predict(train.arch_strings)).all()


@pytest.mark.parametrize("payload", [[1, 2], {"format": "hwnas-predictor"}, {"format": "hwnas-predictor",
                                                                               "predictor": "text"}])
def test_joblib_without_a_predictor_is_a_clear_error(tmp_path, payload):
    path = tmp_path / "x.joblib"
    joblib.dump(payload, path)
    with pytest.raises(HwnasError, match="predictor"):
        load_predictor(path)


def test_crafted_checkpoint_does_not_execute(tmp_path):
    marker = tmp_path / "pwned"
    run = RunDir(tmp_path / "run")
    run.path.mkdir(parents=True, exist_ok=True)
    with open(run.file(run.CHECKPOINT), "wb") as fh:
        torch.save({"net": _Call(os.system, f"touch {shlex.quote(str(marker))}")}, fh, pickle_module=pickle)
    with pytest.raises(HwnasError, match="corrupt"):
        run.load_checkpoint()
    assert not marker.exists()


# ---- remote backend: every option value stays one inert word for the shell -------------------------------------
SHELL_PAYLOADS = ["; touch {m}", "$(touch {m})", "`touch {m}`", "x\ntouch {m}", "x && touch {m}", "x | touch {m}",
                  "'; touch {m}; '", "\"; touch {m}; \""]
FAST = Protocol(warmup=1, warmup_s=0.0, repeats=3, min_time_s=0.0)


@pytest.mark.parametrize("option", ["args", "env", "taskset", "binary", "workdir", "runtime", "device_name"])
@pytest.mark.parametrize("template", SHELL_PAYLOADS)
def test_remote_options_are_inert_in_the_shell(tmp_path, tiny, option, template, monkeypatch):
    marker = tmp_path / "pwned"
    # a relative workdir made of the payload becomes literal folders: keep them out of the caller's folder
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    value = template.format(m=shlex.quote(str(marker)))
    opts = {"transport": "local", "workdir": str(tmp_path / "dev"), "binary": standin_command()}
    opts[option] = value if option != "binary" else standin_command() + " " + value
    try:
        b = create_backend("remote", protocol=FAST, **opts)
        build_table(tiny, b, tmp_path / "r.csv", keys=tiny.layer_keys()[:1], progress=False)
    except HwnasError:
        pass  # refused, or the benchmark failed on the odd argument: either way the payload is inert
    assert not marker.exists(), f"{option}={value!r} ran a command"
    assert not [p for p in tmp_path.glob("**/pwned") if p.is_file()], "a payload created its marker file"


def test_ssh_host_comes_after_double_dash_and_odd_hosts_are_refused():
    from hwnas.profilers.transports import SshTransport

    argv = SshTransport(host="pi@board", ssh_opts="-i key")._argv("true")
    assert argv[-3:] == ["--", "pi@board", "true"] and "-i" in argv
    for bad in ("-oProxyCommand=touch x", "pi@board x"):
        with pytest.raises(HwnasError, match="host"):
            SshTransport(host=bad)


def test_remote_command_quotes_every_value(tmp_path):
    from hwnas.profilers.transports import LocalTransport

    b = create_backend("remote", transport=LocalTransport(workdir=str(tmp_path)), binary="/opt/ort/perf",
                       args="-o 1 ; rm -rf /", env="LD_LIBRARY_PATH=$(id) A=b", protocol=FAST)
    cmd = b.command("/x/m.onnx", 5)
    assert "LD_LIBRARY_PATH='$(id)' A=b" in cmd and cmd.endswith("-o 1 ';' rm -rf /")
    with pytest.raises(HwnasError, match="taskset"):
        create_backend("remote", transport="local", workdir=str(tmp_path), taskset="f0; reboot")
    with pytest.raises(HwnasError, match="NAME=VALUE"):
        create_backend("remote", transport="local", workdir=str(tmp_path), env="; touch x")


def test_predictor_with_damaged_internals_is_a_clear_error(tmp_path, tiny):
    dev = create_backend("fake")
    table = build_table(tiny, dev, tmp_path / "t.csv", progress=False)
    train = measure_archs(tiny, dev, tmp_path / "a.csv", n=8, seed=0, progress=False)
    pred = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    pred.block_costs_ = None  # what a hand-edited or truncated-then-rebuilt file could hold
    save_predictor(pred, tmp_path / "p.joblib")
    with pytest.raises(HwnasError, match="damaged"):
        load_predictor(tmp_path / "p.joblib")


def test_a_checkpoint_that_is_no_pytorch_file_is_not_called_a_pickle(tmp_path):
    import torch

    from hwnas.errors import HwnasError
    from hwnas.search.run import RunDir

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.file(RunDir.CHECKPOINT).write_bytes(bytes(range(256)) * 8)  # random-looking bytes
    with pytest.raises(HwnasError, match="not a PyTorch file") as info:
        rd.load_checkpoint()
    assert "pickled" not in str(info.value)
    torch.save(torch.nn.Linear(2, 2), rd.file(RunDir.CHECKPOINT))  # a whole module: refused as what it is
    with pytest.raises(HwnasError, match="pickled Python objects"):
        rd.load_checkpoint()
