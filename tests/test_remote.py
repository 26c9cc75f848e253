"""Remote backend: benchmark-binary parsers on real output formats, transports, and an end-to-end profile run
through the local transport and through a stand-in ``adb`` that loses its device mid-run."""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from hwnas.profilers import DeviceError, LatencyTable, Protocol, build_table, create_backend
from hwnas.profilers.bench_parsers import (
    BenchParseError,
    BenchResult,
    combine,
    parse_executor_runner,
    parse_onnxruntime_perf_test,
    parse_tflite_benchmark_model,
)
from hwnas.profilers.standin_perf_test import command as standin_command
from hwnas.profilers.transports import AdbTransport, LocalTransport, SshTransport
from hwnas.space import build_model, get_space

STANDIN = standin_command()
FAST = Protocol(warmup=1, warmup_s=0.0, repeats=10, min_time_s=0.0)

# ---- parsers: output as the tools print it ------------------------------------------------------------------
ORT_NEW = """\
Setting intra_op_num_threads to 1
Disabling intra-op thread spinning between runs
Session creation time cost: 0.217932 s
First inference time cost: 196 ms
Total inference time cost: 0.49481 s
Total inference requests: 5
Average inference time cost total: 98.961997 ms
Total inference run time: 0.494854 s
Number of inferences per second: 10.104
Avg CPU usage: 11 %
Peak working set size: 271122432 bytes
Avg CPU usage:11
Peak working set size:271122432
Runs:5
Min Latency: 0.0958204 s
Max Latency: 0.101519 s
P50 Latency: 0.0995086 s
P90 Latency: 0.101519 s
P95 Latency: 0.101519 s
P99 Latency: 0.101519 s
P999 Latency: 0.101519 s
"""

ORT_OLD = """\
using SpaceMITExecutionProvider
Session creation time cost: 2.74716 s
First inference time cost: 85 ms
Total inference time cost: 6.22935 s
Total inference requests: 100
Average inference time cost: 62.2935 ms
Total inference run time: 6.23146 s
Number of inferences per second: 16.0476
Total CPU usage: 382 %
Peak working set size: 114634752 bytes
Min Latency: 0.0529422 s
Max Latency: 0.0912857 s
P50 Latency: 0.0603562 s
P90 Latency: 0.0741593 s
P95 Latency: 0.0837052 s
P99 Latency: 0.0912857 s
P999 Latency: 0.0912857 s
"""

TFLITE = """\
INFO: STARTING!
INFO: Num threads: [1]
INFO: Graph: [/data/local/tmp/hwnas/m.tflite]
INFO: Loaded model /data/local/tmp/hwnas/m.tflite
INFO: Initialized session in 5.579ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=1357602 p5=1357602 median=1357602 p95=1357602

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=1249964 curr=1240143 min=1238588 max=1252566 avg=1.24027e+06 std=2565 p5=1238753 median=1239807 p95=1247415

INFO: Inference timings in us: Init: 5579, First inference: 1357602, Warmup (avg): 1.3576e+06, Inference (avg): 1.24027e+06
INFO: Memory footprint delta from the start of the tool (MB): init=6.36328 overall=109.832
"""

TFLITE_OLD = """\
count=1 curr=3512391

count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798

Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, Inference (avg): 2.95034e+06
"""

ET_RUNNER = """\
I 00:00:00.000604 executorch:executor_runner.cpp:119] Resetting threadpool with num threads = 1
I 00:00:00.001843 executorch:executor_runner.cpp:160] Model file /data/local/tmp/hwnas/m.pte is loaded.
I 00:00:00.001860 executorch:executor_runner.cpp:169] Using method forward
I 00:00:00.001873 executorch:executor_runner.cpp:216] Setting up planned buffer 0, size 1204224.
I 00:00:00.004512 executorch:executor_runner.cpp:239] Method loaded.
I 00:00:00.057812 executorch:executor_runner.cpp:283] Model executed successfully 20 time(s) in 53.260000 ms.
I 00:00:00.057830 executorch:executor_runner.cpp:292] 1 outputs:
Output 0: tensor(sizes=[1, 1000], [0.01, ..., 0.02])
"""


def test_parse_onnxruntime_perf_test_both_generations():
    new = parse_onnxruntime_perf_test(ORT_NEW)
    assert new.runs == 5 and new.mean_ms == pytest.approx(98.961997)
    assert new.median_ms == pytest.approx(99.5086) and new.p90_ms == pytest.approx(101.519)
    assert new.min_ms == pytest.approx(95.8204) and new.first_ms == 196
    old = parse_onnxruntime_perf_test(ORT_OLD)
    assert old.runs == 100 and old.mean_ms == pytest.approx(62.2935) and old.median_ms == pytest.approx(60.3562)


def test_parse_tflite_takes_the_timed_run_not_the_warmup():
    r = parse_tflite_benchmark_model(TFLITE)
    assert r.runs == 50 and r.mean_ms == pytest.approx(1240.27) and r.median_ms == pytest.approx(1239.807)
    assert r.std_ms == pytest.approx(2.565) and r.min_ms == pytest.approx(1238.588)
    old = parse_tflite_benchmark_model(TFLITE_OLD)  # builds without percentiles: median unknown, mean kept
    assert old.median_ms is None and old.mean_ms == pytest.approx(2950.34) and old.runs == 50


def test_parse_executor_runner_total_over_executions():
    r = parse_executor_runner(ET_RUNNER)
    assert r.runs == 20 and r.mean_ms == pytest.approx(53.26 / 20) and r.median_ms is None


@pytest.mark.parametrize("parse", [parse_onnxruntime_perf_test, parse_tflite_benchmark_model,
                                   parse_executor_runner])
def test_parsers_refuse_output_without_timing(parse):
    with pytest.raises(BenchParseError, match="no .* line"):
        parse("Segmentation fault\nerror: cannot open model\n")
    with pytest.raises(BenchParseError, match="cannot open model"):  # the tail of the output is shown
        parse("error: cannot open model\n")


def test_combine_keeps_what_the_tool_said_and_nothing_more():
    one = combine([parse_onnxruntime_perf_test(ORT_NEW)])
    assert one.median_ms == pytest.approx(99.5086) and one.mean_ms == pytest.approx(98.961997)
    assert one.n == 5 and math.isnan(one.std_ms)  # onnxruntime_perf_test prints no std: not invented
    et = combine([parse_executor_runner(ET_RUNNER)])
    assert et.median_ms == pytest.approx(53.26 / 20) and math.isnan(et.p90_ms) and math.isnan(et.min_ms)
    many = combine([BenchResult("x", 10, m, median_ms=m, min_ms=m - 1) for m in (2.0, 3.0, 4.0)])
    assert many.median_ms == 3.0 and many.min_ms == 1.0 and many.n_raw == 3


# ---- transports -----------------------------------------------------------------------------------------
def test_command_has_affinity_threads_and_extra_args(tmp_path):
    b = create_backend("remote", transport=LocalTransport(workdir=str(tmp_path)), binary="/opt/ort/perf",
                       taskset="f0", args="-o 1", threads=2, protocol=FAST)
    cmd = b.command("/x/m.onnx", 25)
    assert "taskset f0 /opt/ort/perf" in cmd and "-r 25" in cmd and "-x 2" in cmd and cmd.endswith("-o 1")
    b = create_backend("remote", runtime="executorch", transport=LocalTransport(workdir=str(tmp_path)),
                       taskset="4-7", protocol=FAST)
    cmd = b.command("/x/m.pte", 30)
    assert "taskset -c 4-7 executor_runner --model_path=/x/m.pte --num_executions=30 --cpu_threads=1" in cmd
    s = b.settings()
    assert s["runtime"] == "executorch" and s["taskset"] == "4-7" and s["backend"] == "remote"


def test_unknown_runtime_or_transport_is_refused():
    with pytest.raises(ValueError, match="unknown runtime 'coreml'.*onnxruntime"):
        create_backend("remote", runtime="coreml")
    with pytest.raises(ValueError, match="unknown transport 'usb'.*adb"):
        create_backend("remote", transport="usb")
    with pytest.raises(ValueError, match="host"):
        SshTransport(host="")


def test_missing_adb_or_ssh_client_names_the_device(tmp_path):
    adb = AdbTransport(serial="R58M123", adb=str(tmp_path / "no-adb"))
    with pytest.raises(DeviceError, match="adb:R58M123.*not installed"):
        adb.shell("true")
    ssh = SshTransport(host="pi@board", ssh=str(tmp_path / "no-ssh"))
    with pytest.raises(DeviceError, match="ssh:pi@board"):
        ssh.push(b"x", "m.onnx")


def test_ssh_exit_255_is_a_lost_device(tmp_path):
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text("#!/bin/sh\necho 'ssh: connect to host board port 22: Connection refused' >&2\nexit 255\n")
    fake_ssh.chmod(fake_ssh.stat().st_mode | stat.S_IEXEC)
    t = SshTransport(host="pi@board", ssh=str(fake_ssh))
    with pytest.raises(DeviceError, match="ssh:pi@board.*Connection refused"):
        t.shell("true")


# ---- end to end: the local transport running a real benchmark (stand-in for onnxruntime_perf_test) --------
def test_remote_local_transport_measures_for_real(tmp_path):
    tiny = get_space("tiny")
    b = create_backend("remote", transport="local", workdir=str(tmp_path / "dev"), binary=STANDIN, protocol=FAST)
    small = b.measure(build_model(tiny.uniform(tiny.candidates[0]), tiny), (1, 3, 16, 16))
    big = b.measure(build_model(tiny.uniform(tiny.candidates[-1]), tiny), (1, 3, 64, 64))
    assert small.n == 10 and 0 < small.min_ms <= small.median_ms <= small.p90_ms
    assert big.median_ms > small.median_ms
    assert not list((tmp_path / "dev").glob("*.onnx"))  # pushed models are removed after each measurement
    env = b.environment()
    assert env["device_model"] and env["remote_target"] == "local"


def test_remote_profile_builds_the_same_table_format(tmp_path, tiny):
    b = create_backend("remote", transport="local", workdir=str(tmp_path / "dev"), binary=STANDIN, protocol=FAST)
    keys = tiny.layer_keys()[:4]
    table = build_table(tiny, b, tmp_path / "r.csv", keys=keys, progress=False)
    assert len(table) == 4 and (table.rows.median_ms > 0).all()
    ref = build_table(tiny, create_backend("fake"), tmp_path / "f.csv", keys=keys, progress=False)
    assert list(pd.read_csv(tmp_path / "r.csv").columns) == list(pd.read_csv(tmp_path / "f.csv").columns)
    assert len(ref) == 4


class _FlakyLocal(LocalTransport):
    """A device that answers ``ok_calls`` shell commands, then is gone (as an unplugged phone is)."""

    def __init__(self, ok_calls: int, **kw):
        super().__init__(**kw)
        self.left = ok_calls

    def shell(self, command, timeout=None):
        if command.startswith("rm -f"):
            return super().shell(command, timeout)
        if self.left <= 0:
            raise DeviceError("flaky: the device is not reachable any more", "flaky-phone")
        self.left -= 1
        return super().shell(command, timeout)


def test_device_lost_mid_table_keeps_finished_rows_and_resumes(tmp_path, tiny):
    path = tmp_path / "t.csv"
    keys = tiny.layer_keys()[:5]
    dev = str(tmp_path / "dev")
    flaky = create_backend("remote", transport=_FlakyLocal(3, workdir=dev), binary=STANDIN, protocol=FAST)
    with pytest.raises(DeviceError, match="not reachable") as info:
        build_table(tiny, flaky, path, keys=keys, progress=False)
    assert info.value.device == "flaky-phone"
    kept = pd.read_csv(path)
    assert len(kept) == 3
    again = create_backend("remote", transport=LocalTransport(workdir=dev), binary=STANDIN, protocol=FAST)
    table = build_table(tiny, again, path, keys=keys, progress=False)
    assert len(table) == 5
    pd.testing.assert_frame_equal(pd.read_csv(path).iloc[:3], kept)  # the finished rows, untouched


FAKE_ADB = textwrap.dedent("""\
    #!{python}
    # A stand-in for adb: runs 'push' and 'shell' on this machine; after {ok} shell commands the device is gone.
    import os, shutil, subprocess, sys
    args = sys.argv[1:]
    serial = args[1] if args[:1] == ["-s"] else None
    if serial:
        args = args[2:]
    count_file = {count!r}
    n = int(open(count_file).read()) if os.path.exists(count_file) else 0
    open(count_file, "w").write(str(n + 1))
    if n >= {ok}:
        print(f"error: device '{{serial}}' not found", file=sys.stderr)
        sys.exit(1)
    if args[0] == "push":
        os.makedirs(os.path.dirname(args[2]), exist_ok=True)
        shutil.copy(args[1], args[2])
        print(f"{{args[1]}}: 1 file pushed.")
        sys.exit(0)
    if args[0] == "shell":
        if args[1].startswith("getprop"):
            print("Acme"); print("Phone 9"); print("SM8650")
            sys.exit(0)
        sys.exit(subprocess.run(["sh", "-c", args[1]]).returncode)
    sys.exit(2)
""")


def test_cli_profile_through_adb_device_lost_then_resumed(tmp_path):
    """End to end through the CLI and the adb transport (a stand-in adb on this machine): the device
    disappears mid-run, the error names it, finished rows stay, and the same command resumes."""
    adb = tmp_path / "adb"
    count = tmp_path / "adb-calls"
    # every measurement costs mkdir + push + shell + rm = 4 adb calls; the device model probe 1
    adb.write_text(FAKE_ADB.format(python=sys.executable, ok=1 + 4 * 3, count=str(count)))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "phone.csv"
    cmd = [sys.executable, "-m", "hwnas", "profile", "--space", "tiny", "--backend", "remote", "--quiet",
           "--repeats", "5", "--backend-opt", "transport=adb", "--backend-opt", "serial=R58M123",
           "--backend-opt", f"adb={adb}", "--backend-opt", f"workdir={tmp_path / 'phone'}",
           "--backend-opt", f"binary={STANDIN}", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr
    assert "R58M123" in r.stderr and "not found" in r.stderr and "run the same command again" in r.stderr
    kept = pd.read_csv(out)
    assert len(kept) == 3
    assert LatencyTable.load(out).meta["environment"]["device_model"] == "Acme Phone 9 SM8650"
    os.unlink(count)  # the phone is back, and goes away again after three more rows
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr
    again = pd.read_csv(out)
    assert len(again) == 6 and not again.duplicated(["label"]).any()
    pd.testing.assert_frame_equal(again.iloc[:3], kept)


def test_cli_profile_device_unreachable_from_the_start_says_nothing_was_written(tmp_path):
    out = tmp_path / "phone.csv"
    r = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--space", "tiny", "--backend", "remote", "--quiet",
                        "--backend-opt", "transport=adb", "--backend-opt", "serial=R58M123",
                        "--backend-opt", f"adb={tmp_path / 'no-adb'}", "--backend-opt", f"binary={STANDIN}",
                        "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert "R58M123" in r.stderr and f"nothing was written to {out}" in r.stderr
    assert not out.exists()
