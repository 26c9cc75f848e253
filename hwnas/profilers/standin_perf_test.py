"""A stand-in for ``onnxruntime_perf_test`` built from the onnxruntime Python package.

It accepts the flags the remote backend passes (``-I -m times -r N -x T -y T -e cpu [-o LEVEL] model``), really
times the model with ONNX Runtime, and prints its report in ``onnxruntime_perf_test``'s format. It lets the remote
backend be tested end to end on a machine without the C++ tool:

    hwnas profile --backend remote --backend-opt transport=local \\
        --backend-opt "binary=$(python -m hwnas.profilers.standin_perf_test --command)" -o t.csv

Run it by its file path (what ``--command`` prints), so each call imports only numpy and onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def command() -> str:
    """The shell command that runs this stand-in with the current interpreter."""
    import shlex
    from pathlib import Path

    return f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--command"]:
        print(command())
        return 0
    p = argparse.ArgumentParser(prog="standin_perf_test", description=__doc__.splitlines()[0])
    p.add_argument("-I", action="store_true", help="generate inputs (always done here)")
    p.add_argument("-m", default="times", choices=["times"], help="test mode")
    p.add_argument("-r", type=int, default=1000, help="timed runs")
    p.add_argument("-x", type=int, default=0, help="intra-op threads")
    p.add_argument("-y", type=int, default=0, help="inter-op threads")
    p.add_argument("-e", default="cpu", choices=["cpu"], help="execution provider")
    p.add_argument("-o", type=int, default=99, help="graph optimisation level: 0, 1, 2, 99")
    p.add_argument("model")
    p.add_argument("result_file", nargs="?")
    a = p.parse_args(argv)
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = a.x, a.y
    so.graph_optimization_level = {0: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                                   1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                   2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}.get(
        a.o, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    so.log_severity_level = 3
    t0 = time.perf_counter()
    try:
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - report like the C++ tool and fail
        print(f"Failed to create session: {exc}", file=sys.stderr)
        return 1
    created = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    feed = {i.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32)
            for i in sess.get_inputs()}
    t0 = time.perf_counter()
    sess.run(None, feed)
    first_ms = (time.perf_counter() - t0) * 1e3
    times = []
    start = time.perf_counter()
    for _ in range(a.r):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    t = np.sort(np.array(times))
    total = float(t.sum())

    def pct(q: float) -> float:
        return float(t[min(len(t) - 1, int(np.ceil(q / 100 * len(t))) - 1)]) if len(t) else 0.0

    print(f"Session creation time cost: {created:g} s")
    print(f"First inference time cost: {first_ms:.0f} ms")
    print(f"Total inference time cost: {total:g} s")
    print(f"Total inference requests: {len(t)}")
    print(f"Average inference time cost total: {total / max(len(t), 1) * 1e3:f} ms")
    print(f"Total inference run time: {wall:g} s")
    print(f"Number of inferences per second: {len(t) / wall if wall else 0:g}")
    print(f"Runs:{len(t)}")
    for name, q in (("Min", 0), ("Max", 100), ("P50", 50), ("P90", 90), ("P95", 95), ("P99", 99), ("P999", 99.9)):
        v = float(t[0]) if q == 0 else pct(q)
        print(f"{name} Latency: {v:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
