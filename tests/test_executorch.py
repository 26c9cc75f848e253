"""ExecuTorch backend (XNNPACK-lowered .pte run by ExecuTorch's runtime). Skipped where executorch is missing,
except the test of the message that names the extra to install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pandas as pd
import pytest
import torch

from hwnas.profilers import MissingRuntimeError, Protocol, build_table, create_backend
from hwnas.space import build_model
from hwnas.space.builder import build_layer

FAST = Protocol(warmup=2, warmup_s=0.0, repeats=10, min_time_s=0.0)
ET_MODULES = ["executorch", "executorch.exir", "executorch.runtime", "executorch.extension.pybindings.portable_lib",
              "executorch.backends.xnnpack.partition.xnnpack_partitioner"]


def test_missing_executorch_names_the_extra(monkeypatch):
    from hwnas.profilers.executorch_backend import _et

    for name in ET_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # import of any of them now fails
    _et.cache_clear()
    try:
        with pytest.raises(MissingRuntimeError, match=r"pip install 'hwnas\[mobile\]'"):
            create_backend("executorch")
    finally:
        _et.cache_clear()


needs_executorch = pytest.mark.skipif(importlib.util.find_spec("executorch") is None,
                                   reason="executorch not installed (pip install 'hwnas[mobile]')")


@needs_executorch
def test_exported_program_computes_what_the_module_computes(tiny):
    from executorch.runtime import Runtime

    from hwnas.profilers.executorch_backend import export_pte

    model = build_model(tiny.sample(1), tiny).eval()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    program = Runtime.get().load_program(export_pte(model, (1, 3, 16, 16)))  # keep it alive with its method
    method = program.load_method("forward")
    with torch.no_grad():
        assert torch.allclose(method.execute([x])[0], model(x), atol=1e-4)


@needs_executorch
def test_times_real_blocks_and_records_threads(tiny):
    b = create_backend("executorch", threads=1, protocol=FAST)
    keys = tiny.layer_keys()
    small = min(keys, key=lambda k: k.macs())
    big = max((k for k in keys if k.op == "expanded_conv"), key=lambda k: k.macs())
    s_small, s_big = b.measure_key(small), b.measure_key(big)
    assert 0 < s_small.min_ms <= s_small.median_ms <= s_small.p90_ms and s_small.n_raw >= 10
    assert s_big.median_ms > s_small.median_ms
    s, v = b.settings(), b.runtime_versions()
    assert s["backend"] == "executorch" and s["threads"] == 1 and s["delegate"] == "xnnpack"
    assert v["executorch"][0].isdigit() and v["executorch_threads"] == "1"


@needs_executorch
def test_thread_count_reaches_the_threadpool(tiny):
    two = create_backend("executorch", threads=2, protocol=FAST)
    two.measure_key(tiny.layer_keys()[1])
    assert two.runtime_versions()["executorch_threads"] == "2"
    one = create_backend("executorch", threads=1, protocol=FAST)
    assert one.runtime_versions()["executorch_threads"] == "1"


@needs_executorch
def test_cache_dir_skips_export_the_second_time(tmp_path, tiny, monkeypatch):
    from hwnas.profilers.executorch_backend import _et

    calls = []
    orig = _et()["lower"]
    monkeypatch.setitem(_et(), "lower", lambda *a, **k: calls.append(1) or orig(*a, **k))
    b = create_backend("executorch", cache_dir=str(tmp_path / "pte"), protocol=FAST)
    key = tiny.layer_keys()[2]
    b.measure(build_layer(key), key.input_shape)
    b.measure(build_layer(key), key.input_shape)  # same structure (new weights): served from the cache
    assert len(calls) == 1 and len(list((tmp_path / "pte").glob("*.pte"))) == 1
    other = tiny.layer_keys()[3]
    b.measure(build_layer(other), other.input_shape)  # another layer is lowered, not confused with the first
    assert len(calls) == 2 and len(list((tmp_path / "pte").glob("*.pte"))) == 2


@needs_executorch
def test_parallel_export_fills_the_cache_so_timing_lowers_nothing(tmp_path, tiny, monkeypatch):
    from hwnas.profilers.executorch_backend import _et

    keys = tiny.layer_keys()[1:5]
    with pytest.raises(ValueError, match="cache_dir"):
        build_table(tiny, create_backend("executorch", protocol=FAST), tmp_path / "x.csv", keys=keys,
                    progress=False, jobs=2)
    calls = []
    orig = _et()["lower"]
    monkeypatch.setitem(_et(), "lower", lambda *a, **k: calls.append(1) or orig(*a, **k))  # this process only
    b = create_backend("executorch", cache_dir=str(tmp_path / "pte"), protocol=FAST)
    t = build_table(tiny, b, tmp_path / "t.csv", keys=keys, progress=False, jobs=2)
    assert len(t) == 4 and len(list((tmp_path / "pte").glob("*.pte"))) == 4
    assert calls == []  # lowered by the two worker processes, timed here from the cache


@needs_executorch
def test_cuda_is_refused_with_a_pointer():
    with pytest.raises(ValueError, match="XNNPACK CPU"):
        create_backend("executorch", device="cuda")


@needs_executorch
def test_table_has_the_common_format_and_resumes(tmp_path, tiny):
    keys = tiny.layer_keys()[:3]
    path = tmp_path / "et.csv"
    b = create_backend("executorch", protocol=FAST)
    build_table(tiny, b, path, keys=keys[:2], progress=False)
    first = pd.read_csv(path)
    table = build_table(tiny, b, path, keys=keys, progress=False)
    assert len(table) == 3 and table.meta["settings"]["backend"] == "executorch"
    pd.testing.assert_frame_equal(pd.read_csv(path).iloc[:2], first)
    with pytest.raises(Exception, match="threads"):  # other settings are refused, not mixed in
        build_table(tiny, create_backend("executorch", threads=2, protocol=FAST), path, keys=keys, progress=False)


@pytest.mark.slow
@needs_executorch
def test_cli_profile_executorch_whole_space(tmp_path):
    out = tmp_path / "et.csv"
    r = subprocess.run([sys.executable, "-m", "hwnas", "profile", "--space", "tiny", "--backend", "executorch",
                        "--quiet", "--repeats", "5", "-o", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "backend executorch" in r.stdout and len(pd.read_csv(out)) == 21
