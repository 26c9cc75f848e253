"""Issue 18: silent wrong results and lost data are refused or repaired, and bad input of every kind is one clear
line (exit 2), never a traceback."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hwnas.cli import main
from hwnas.errors import HwnasError, OutputError
from hwnas.io import atomic_write, atomic_write_text, output_lock
from hwnas.pareto.config import target_dir
from hwnas.pareto.reuse import check_reuse
from hwnas.predictors import measure_archs
from hwnas.profilers import LatencyTable, Protocol, TableError, build_table, create_backend
from hwnas.profilers.records import meta_path
from hwnas.space.spec import ArchSpec


def folder_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if re.match(r"^hwnas( [a-z-]+)*: error: ", ln)]) == 1, err
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def table(tmp_path, tiny, fake):
    build_table(tiny, fake, tmp_path / "t.csv", progress=False)
    return tmp_path / "t.csv"


# ---- metadata naming -----------------------------------------------------------------------------------------
def test_other_extension_never_touches_the_csv_metadata(tmp_path, table, capsys):
    assert meta_path(tmp_path / "x.csv") == tmp_path / "x.meta.json"  # existing tables keep their name
    assert meta_path(tmp_path / "t.txt") == tmp_path / "t.txt.meta.json"
    before = (tmp_path / "t.meta.json").read_bytes()
    assert main(["profile", "--space", "tiny", "--backend", "fake", "--threads", "2", "--quiet",
                 "-o", str(tmp_path / "t.txt")]) == 0
    assert (tmp_path / "t.meta.json").read_bytes() == before
    assert LatencyTable.load(tmp_path / "t.txt").meta["settings"]["threads"] == 2


def test_a_legacy_non_csv_table_still_finds_its_metadata(tmp_path, table):
    legacy = tmp_path / "old.tsv"
    legacy.write_bytes(table.read_bytes())
    (tmp_path / "old.meta.json").write_bytes(meta_path(table).read_bytes())  # where 0.1.0 put it
    assert len(LatencyTable.load(legacy)) == len(LatencyTable.load(table))


# ---- the table loader ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("edit, fragment", [
    (lambda lines: lines[1].replace(lines[1].split(",")[13], "-1.5"), "negative or infinite"),
    (lambda lines: lines[1].replace(lines[1].split(",")[13], "inf"), "negative or infinite"),
    (lambda lines: lines[1].replace(lines[1].split(",")[13], "fast"), "is not a number"),
    (lambda lines: lines[2], "repeats the key"),
])
def test_loader_refuses_bad_latencies_and_duplicates(table, edit, fragment, capsys):
    lines = table.read_text().splitlines()
    assert lines[0].split(",")[13] == "median_ms"
    lines[1] = edit(lines)
    table.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableError, match=fragment):
        LatencyTable.load(table)
    for argv in (["table", "show", str(table)], ["table", "compare", str(table), str(table)]):
        assert main(argv) == 2
        assert fragment.split()[0] in one_error(capsys)


def test_truncated_last_row_is_refused_then_remeasured_on_resume(tmp_path, table, tiny, fake):
    full = LatencyTable.load(table)
    lines = table.read_text().splitlines()
    table.write_text("\n".join(lines[:-1] + [",".join(lines[-1].split(",")[:5])]) + "\n")
    with pytest.raises(TableError, match="truncated"):
        LatencyTable.load(table)
    again = build_table(tiny, fake, table, progress=False)  # resume: the row is measured again, not kept as 0.0
    assert len(again) == len(full) and (again.rows.median_ms > 0).all()
    assert (LatencyTable.load(table).rows.median_ms > 0).all()


def test_newer_format_version_is_refused(table):
    mp = meta_path(table)
    meta = json.loads(mp.read_text())
    mp.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(TableError, match="newer hwnas"):
        LatencyTable.load(table)


@pytest.mark.parametrize("field", ["space", "settings", "environment"])
def test_metadata_missing_a_field_names_file_and_field(table, field, capsys):
    mp = meta_path(table)
    meta = json.loads(mp.read_text())
    del meta[field]
    mp.write_text(json.dumps(meta))
    assert main(["table", "show", str(table)]) == 2
    err = one_error(capsys)
    assert str(mp) in err and repr(field) in err


# ---- lost data -----------------------------------------------------------------------------------------------
def test_measure_archs_refuses_a_resume_with_another_exclude(tmp_path, tiny, fake):
    a = measure_archs(tiny, fake, tmp_path / "a.csv", n=6, seed=0, progress=False)
    b = measure_archs(tiny, fake, tmp_path / "b.csv", n=4, seed=1, progress=False)
    measure_archs(tiny, fake, tmp_path / "h.csv", n=4, seed=2, exclude=set(a.arch_strings), progress=False)
    with pytest.raises(HwnasError, match="planned with"):
        measure_archs(tiny, fake, tmp_path / "h.csv", n=4, seed=2, exclude=set(b.arch_strings), progress=False)
    measure_archs(tiny, fake, tmp_path / "h.csv", n=4, seed=2, exclude=set(a.arch_strings), progress=False)


def test_rounds_yield_each_item_when_its_last_round_is_done():
    """A kill after the first yielded items must not lose them: with rounds=3 and a window of 12, the first item is
    yielded long before the window's last item has had its rounds."""
    from torch import nn

    timed = []

    class Runner:
        def __init__(self, i):
            self.i = i

        def __call__(self):
            timed.append(self.i)
            return 1.0

        def close(self):
            pass

    class B(create_backend("fake").__class__):
        def prepare(self, module, input_shape):
            return Runner(module.i)

    def job(i):
        m = nn.Identity()
        m.i = i
        return m, (1, 1)

    b = B(protocol=Protocol(warmup=0, warmup_s=0.0, repeats=1, min_time_s=0.0, rounds=3))
    gen = b.measure_many([lambda i=i: job(i) for i in range(30)], chunk=12)
    first, _, _ = next(gen)
    assert first == 0 and timed.count(0) == 3
    assert len(timed) < 12 * 3  # not the whole window's rounds first
    gen.close()
    out = list(b.measure_many([lambda i=i: job(i) for i in range(30)], chunk=12))
    assert sorted(i for i, _, _ in out) == list(range(30)) and all(s.n_raw == 3 for _, s, _ in out)
    # interleaved: between two timings of one item, other items are timed
    order = timed[-90:]
    pos = [k for k, v in enumerate(order) if v == 5]
    assert len(pos) == 3 and min(pos[1] - pos[0], pos[2] - pos[1]) > 2


# ---- concurrent writers --------------------------------------------------------------------------------------
HOLD = textwrap.dedent("""
    import sys, time
    from hwnas.io import output_lock
    with output_lock(sys.argv[1], folder=sys.argv[2] == "dir"):
        print("locked", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder():
    procs = []

    def hold(path, kind="file"):
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), kind], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        assert p.stdout.readline().strip() == "locked"
        procs.append(p)
        return p

    yield hold
    for p in procs:
        p.kill()
        p.wait()


def test_second_table_writer_is_refused_naming_the_first(tmp_path, holder, capsys):
    out = tmp_path / "t.csv"
    p = holder(out)
    argv = ["profile", "--space", "tiny", "--backend", "fake", "--quiet", "--shard", "1/2", "-o", str(out)]
    assert main(argv) == 2
    err = one_error(capsys)
    assert f"pid {p.pid}" in err and "being written" in err
    assert not out.exists()
    p.kill()
    p.wait()
    assert main(argv) == 0  # the kernel released the lock with the process
    assert not (tmp_path / "t.csv.lock").exists()


def test_second_search_into_one_folder_is_refused(tmp_path, table, holder, capsys):
    run = tmp_path / "run"
    holder(run, "dir")
    assert main(["search", "--table", str(table), "--data", "synthetic", "--data-limit", "32", "--epochs", "1",
                 "--warmup-epochs", "0", "--batch-size", "16", "--quiet", "-o", str(run)]) == 2
    assert "being written" in one_error(capsys)
    assert sorted(p.name for p in run.iterdir()) == [".hwnas.lock"]


def test_lock_is_reentrant_in_one_process_and_removed(tmp_path):
    with output_lock(tmp_path / "x.csv"), output_lock(tmp_path / "x.csv"):
        assert (tmp_path / "x.csv.lock").exists()
    assert not (tmp_path / "x.csv.lock").exists()


# ---- pareto reuse --------------------------------------------------------------------------------------------
def test_targets_equal_to_four_digits_get_their_own_folders():
    assert target_dir(6.0) == "T6" and target_dir(0.45) == "T0.45"  # as before
    assert target_dir(0.30001) != target_dir(0.30002)


def test_pareto_rerun_with_other_settings_is_refused(tmp_path, table, capsys):
    out = tmp_path / "p"
    argv = ["pareto", "--table", str(table), "--targets", "0.2", "--data", "synthetic", "--data-limit", "64",
            "--epochs", "0", "--warmup-epochs", "1", "--retrain-epochs", "0", "--batch-size", "32", "--backend", "fake",
            "--quiet", "-o", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    before = folder_digest(out)
    for change in (["--seed", "1"], ["--retrain-epochs", "1"], ["--data", "digits"], ["--method", "rl"]):
        assert main(argv + change) == 2
        err = one_error(capsys)
        assert "other settings" in err and "--force" in err
        assert folder_digest(out) == before


def test_force_redoes_only_the_stale_stages(tmp_path):
    out = tmp_path / "p"
    (out / "search" / "T1").mkdir(parents=True)
    (out / "evals.csv").write_text("arch,accuracy,measured_ms\n")
    stages = {"search": {"seed": 0}, "evals": {"seed": 0, "retrain_epochs": 1}}
    (out / "pareto_config.json").write_text(json.dumps({"stages": stages}))
    check_reuse(out, stages, force=False)  # same settings: reused
    changed = {"search": {"seed": 0}, "evals": {"seed": 0, "retrain_epochs": 2}}
    with pytest.raises(HwnasError, match="retrain_epochs: folder has 1, requested 2"):
        check_reuse(out, changed, force=False)
    check_reuse(out, changed, force=True)
    assert (out / "search" / "T1").exists() and not (out / "evals.csv").exists()


# ---- mixed spaces --------------------------------------------------------------------------------------------
def test_fit_refuses_table_and_networks_of_other_resolutions(tmp_path, capsys):
    t, a = str(tmp_path / "t.csv"), str(tmp_path / "a.csv")
    common = ["--space", "tiny", "--backend", "fake"]
    assert main(["profile", *common, "--resolution", "32", "--quiet", "-o", t]) == 0
    assert main(["measure-archs", *common, "--resolution", "64", "--n", "8", "--quiet", "-o", a]) == 0
    capsys.readouterr()
    assert main(["predictor", "fit", "--table", t, "--archs", a, "--kind", "calibrated",
                 "-o", str(tmp_path / "p.joblib")]) == 2
    assert "space.resolution" in one_error(capsys)
    assert not (tmp_path / "p.joblib").exists()


# ---- backend options keep their text ------------------------------------------------------------------------
def test_backend_options_are_typed_by_the_backend():
    from hwnas.cli.flags import parse_options

    opts = parse_options(["serial=0042", "args=1e3", "invocations=3", "timeout_s=20", "taskset=0f"], "remote")
    assert opts == {"serial": "0042", "args": "1e3", "invocations": 3, "timeout_s": 20.0, "taskset": "0f"}
    assert parse_options(["mobile=true"], "onnxruntime") == {"mobile": True}
    for bad, fragment in ((["invocations=many"], "integer"), (["threads=2"], "own flag"), (["x"], "KEY=VALUE")):
        with pytest.raises(HwnasError, match=fragment):
            parse_options(bad, "remote")


# ---- writers -------------------------------------------------------------------------------------------------
def test_full_disk_is_one_line_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("old\n")

    def fill(fh):
        fh.write("new")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="disk is full"):
        atomic_write(path, fill)
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def test_output_under_a_file_or_on_a_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="not a folder|is a file"):
        atomic_write_text(tmp_path / "f" / "x.csv", "y")
    for out in (tmp_path / "f" / "t.csv", tmp_path):
        assert main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", str(out)]) == 2
        one_error(capsys)


# ---- tracebacks that became clear errors ---------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["sample", "--space", "tiny", "--kernels", "4"], "odd"),
    (["sample", "--space", "tiny", "--width-mult", "nan"], "positive, finite"),
    (["search", "--table", "t.csv", "--target-ms", "inf", "-o", "r"], "positive, finite"),
    (["search", "--table", "t.csv", "--target-ms", "nan", "-o", "r"], "positive, finite"),
    (["retrain", "--arch", "k3e3", "--epochs", "-2"], "integer >= 0"),
    (["retrain", "--arch", "k3e3", "--batch-size", "0"], "expected an integer from 1"),
    (["measure", "--space", "tiny", "--arch", "k٣e3-k3e3|k3e3-k3e3"], "unknown block token"),
    (["measure", "--space", "tiny", "--arch", '{"stages": null}'], "needs a 'stages'"),
    (["measure", "--space", "tiny", "--arch", '{"stages": [1, 2]}'], "non-empty list"),
    (["measure", "--space", "tiny", "--arch", '{"stages": [[3]]}'], "not a string"),
    (["measure", "--space", "tiny", "--arch", "[1]"], "unknown block token"),
])
def test_bad_values_are_one_line(argv, fragment, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors: usage line + one error line
        code = exc.code
    assert code == 2
    assert fragment in one_error(capsys)


def test_label_smoothing_and_config_files_are_checked(tmp_path, table, capsys):
    base = ["search", "--table", str(table), "--data", "synthetic", "--quiet", "-o", str(tmp_path / "r")]
    assert main(base + ["--label-smoothing", "5"]) == 2
    assert "label_smoothing" in one_error(capsys)
    for text, fragment in (("[1, 2]", "must hold a mapping"), ('{"n_epochs": "many"}', "n_epochs must be an integer"),
                           ("nope: [", "not valid YAML/JSON"), ("nope", "must hold a mapping")):
        (tmp_path / "c.json").write_text(text)
        assert main(base + ["--config", str(tmp_path / "c.json")]) == 2
        assert fragment in one_error(capsys)
    assert not (tmp_path / "r").exists()


def test_run_config_missing_a_field_names_it(tmp_path, table, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"format": "hwnas-search-run", "space": {}}))
    (run / "checkpoint.pt").write_bytes(b"")
    assert main(["search", "--resume", "-o", str(run)]) == 2
    err = one_error(capsys)
    assert "'search'" in err and str(run / "config.json") in err


def test_yaml_count_inf_and_long_arch_lines(tmp_path, tiny, capsys):
    from hwnas.profilers.ofa_yaml import import_yaml

    y = tmp_path / "t.yaml"
    y.write_text("Conv-input:16x16x3-output:8x8x16:\n  mean: 0.5\n  count: .inf\n")
    table, report = import_yaml(y, tiny)
    assert report.imported == 0 and "not finite" in report.skipped[0][1]
    lst = tmp_path / "archs.txt"
    lst.write_text("k3e3-" * 30000 + "k3e3\n")
    assert main(["measure-archs", "--space", "tiny", "--backend", "fake", "--archs", str(lst), "--quiet",
                 "-o", str(tmp_path / "a.csv")]) == 2
    assert "characters" in one_error(capsys)


def test_arch_json_validation_is_one_place():
    for bad in ({"stages": None}, {"stages": [[1]]}, {"stages": "k3e3"}, {"arch": 5}, [], {"stages": [[]]}):
        with pytest.raises(HwnasError):
            ArchSpec.from_dict(bad)
    assert str(ArchSpec.from_dict({"stages": None, "arch": "k3e3|zero"})) == "k3e3|zero"


@pytest.mark.parametrize("out", ["", "/", ".", "a\nb.csv"])
def test_empty_or_root_outputs_are_refused(out, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["profile", "--space", "tiny", "--backend", "fake", "--quiet", "-o", out])
    assert exc.value.code == 2
    assert "file or folder name" in one_error(capsys)


def test_lock_removes_the_folders_it_made(tmp_path):
    with output_lock(tmp_path / "a" / "b" / "t.csv"):
        assert (tmp_path / "a" / "b").is_dir()
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("argv", [["sample", "--space", "tiny", "--num-classes", "10000000"],
                                  ["profile", "--space", "tiny", "--threads", "100000", "-o", "x.csv"],
                                  ["sample", "--space", "tiny", "--resolution", "100000"]])
def test_huge_values_are_refused_before_they_exhaust_the_machine(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "expected an integer from" in one_error(capsys)


def test_resume_with_a_checkpoint_of_another_run_is_one_line(tmp_path, table, capsys):
    import torch

    run = tmp_path / "r"
    argv = ["search", "--table", str(table), "--data", "synthetic", "--data-limit", "32", "--warmup-epochs", "0",
            "--batch-size", "16", "--quiet", "-o", str(run)]
    assert main(argv + ["--epochs", "1"]) == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["net"] = {"stem.weight": torch.zeros(1)}
    torch.save(ckpt, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(argv + ["--epochs", "2", "--resume"]) == 2
    assert "does not fit this run" in one_error(capsys)


def test_a_pareto_folder_of_a_train_once_method_records_how_its_targets_were_scored(space, costs):
    """spos/ofa search each target by evolution on one supernet: a folder whose targets were scored another way
    (or before the way was recorded) is not reused for new targets, which would mix two ways on one front."""
    from hwnas.pareto.config import ParetoConfig
    from hwnas.pareto.reuse import stage_settings
    from hwnas.profilers import create_backend

    backend = create_backend("fake")
    spos = stage_settings(ParetoConfig(targets_ms=(0.1,), method="spos"), space, costs, backend)["search"]
    assert spos["scoring"] == {"bn": "batch", "population": 16, "generations": 4}
    assert "scoring" not in stage_settings(ParetoConfig(targets_ms=(0.1,)), space, costs, backend)["search"]
