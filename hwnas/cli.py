"""The ``hwnas`` command. Each subcommand parses its flags, calls one library function and prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


# ---- shared flags -------------------------------------------------------------------------------------------
def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"shard must look like I/N, e.g. 0/4, got {text!r}")
    return int(i), int(n)


def add_space_args(p: argparse.ArgumentParser, default: str = "proxyless-mobile") -> None:
    g = p.add_argument_group("search space")
    g.add_argument("--space", default=default, help="named space (see 'hwnas spaces'); default %(default)s")
    g.add_argument("--resolution", type=int, help="input resolution (default: the space's)")
    g.add_argument("--width-mult", type=float, help="channel width multiplier (default: the space's)")
    g.add_argument("--kernels", type=_ints, help="candidate kernel sizes, e.g. 3,5,7")
    g.add_argument("--expands", type=_ints, help="candidate expand ratios, e.g. 3,6")
    g.add_argument("--num-classes", type=int, help="classifier outputs")


def space_from_args(a: argparse.Namespace):
    from .space import get_space

    return get_space(a.space, resolution=a.resolution, width_mult=a.width_mult, kernels=a.kernels,
                     expands=a.expands, num_classes=a.num_classes)


def add_backend_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("measurement")
    g.add_argument("--backend", default="onnxruntime",
                   help="profiler backend: onnxruntime, torch, executorch, remote, fake (default %(default)s)")
    g.add_argument("--threads", type=int, default=1, help="intra-op threads (default %(default)s)")
    g.add_argument("--device", default="cpu", help="cpu or cuda (torch, onnxruntime); a remote device is chosen "
                   "with --backend-opt transport=adb|ssh|local (default %(default)s)")
    g.add_argument("--batch", type=int, default=1, help="batch size (default %(default)s)")
    g.add_argument("--warmup", type=int, help="warm-up runs")
    g.add_argument("--repeats", type=int, help="timed runs (at least)")
    g.add_argument("--min-time", type=float, help="keep timing until this many seconds have passed")
    g.add_argument("--rounds", type=int, help="time each layer/network in this many interleaved passes, seconds "
                   "apart, pooling the samples (default 1; 2-3 on a shared or virtualised CPU)")
    g.add_argument("--statistic", choices=["median", "min"],
                   help="headline latency that predictors and searches read (default median; 'min' with "
                   "--rounds 2+ is the figure that repeats on a CPU whose speed swings)")
    g.add_argument("--jobs", type=int, default=1, help="build the programs in this many processes before "
                   "timing anything (executorch, where lowering a network takes ~40 s; needs "
                   "--backend-opt cache_dir=DIR) (default %(default)s)")
    g.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="backend-specific option, repeatable (e.g. transport=adb for the remote backend, "
                   "mobile=true for onnxruntime, cache_dir=DIR for executorch)")


def parse_options(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (numbers and true/false converted)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"backend option {item!r} is not KEY=VALUE")
        v: object = value
        if value.lower() in ("true", "false"):
            v = value.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    v = conv(value)
                    break
                except ValueError:
                    pass
        out[key.replace("-", "_")] = v
    return out


def backend_from_args(a: argparse.Namespace):
    from dataclasses import replace

    from .profilers import Protocol, create_backend

    proto = Protocol()
    for flag, field in (("warmup", "warmup"), ("repeats", "repeats"), ("min_time", "min_time_s"),
                        ("rounds", "rounds"), ("statistic", "statistic")):
        if getattr(a, flag, None) is not None:
            proto = replace(proto, **{field: getattr(a, flag)})
    return create_backend(a.backend, threads=a.threads, device=a.device, batch=a.batch, protocol=proto,
                          **parse_options(a.backend_opt))


# ---- subcommands --------------------------------------------------------------------------------------------
def cmd_spaces(a: argparse.Namespace) -> int:
    from .space import get_space, list_spaces

    for name in list_spaces():
        s = get_space(name)
        print(f"{name:18s} {s.resolution:4d} px  {s.num_blocks} blocks  candidates "
              f"{','.join(c.token for c in s.candidates)}(+zero)  {len(s.layer_keys())} table entries")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    space = space_from_args(a)
    import numpy as np

    rng = np.random.default_rng(a.seed)
    for _ in range(a.n):
        arch = space.sample(rng)
        print(f"{arch}\t{space.macs(arch) / 1e6:.1f} MMACs\t{space.params(arch) / 1e6:.2f} M params")
    return 0


def cmd_measure(a: argparse.Namespace) -> int:
    from .space import build_model

    space = space_from_args(a)
    arch = space.parse(a.arch)
    backend = backend_from_args(a)
    from .profilers import DeviceError

    try:
        stats = backend.measure(build_model(arch, space), (1, space.in_channels, space.resolution, space.resolution))
    except DeviceError as exc:
        print(f"hwnas: error: device {exc.device or backend.name!r} failed: {exc}", file=sys.stderr)
        return 3
    print(f"arch     {arch}")
    print(f"space    {space.name} at {space.resolution} px: {space.macs(arch) / 1e6:.1f} MMACs, "
          f"{space.params(arch) / 1e6:.2f} M params")
    print(f"backend  {backend.name} ({backend.device}, {backend.threads} thread(s), batch {backend.batch})")
    print(f"latency  {stats}")
    if a.table:
        from .profilers import LatencyTable

        table = LatencyTable.load(a.table)
        table.check_compatible(backend.settings(), backend.environment(), what="this measurement",
                               fields=("backend", "device", "threads", "batch"))
        lut = table.lut_sum_ms(arch, space)
        print(f"LUT-sum  {lut:.3f} ms ({(lut / stats.median_ms - 1):+.1%} vs measured median)")
    return 0


def cmd_profile(a: argparse.Namespace) -> int:
    from .profilers import DeviceError, build_table

    space, backend = space_from_args(a), backend_from_args(a)
    out = Path(a.output)
    try:
        table = build_table(space, backend, out, shard=a.shard, progress=not a.quiet, jobs=a.jobs)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rows are kept in {out}; run the same command again to resume.",
              file=sys.stderr)
        return 130
    except DeviceError as exc:
        kept = (f"finished rows are kept in {out}; run the same command again to resume." if out.exists()
                else f"nothing was written to {out}.")
        print(f"hwnas: error: device {exc.device or backend.name!r} failed: {exc}\n{kept}", file=sys.stderr)
        return 3
    print(table.summary())
    print(f"wrote {out} and {out.with_name(out.stem + '.meta.json')}")
    return 0


def cmd_table_show(a: argparse.Namespace) -> int:
    from .profilers import LatencyTable

    print(LatencyTable.load(a.table).summary(top=a.top))
    return 0


def cmd_table_merge(a: argparse.Namespace) -> int:
    from .profilers import LatencyTable
    from .profilers.table import merge_tables

    merged, dropped = merge_tables([LatencyTable.load(p) for p in a.tables])
    merged.save(a.output)
    space = merged.space
    miss = merged.missing(space)
    print(f"merged {len(a.tables)} tables: {len(merged)} entries ({dropped} duplicates dropped); "
          f"{'complete' if not miss else f'{len(miss)} layers of {space.name} still missing'}; wrote {a.output}")
    return 0


def cmd_table_import(a: argparse.Namespace) -> int:
    from .profilers.ofa_yaml import import_yaml

    table, report = import_yaml(a.yaml, space_from_args(a), dialect=a.dialect, device_model=a.device_model)
    table.save(a.output)
    print(report)
    miss = table.missing(table.space)
    if miss:
        print(f"note: {len(miss)} of {len(table.space.layer_keys())} layers of space {table.space.name!r} are not "
              f"in the imported table")
    print(f"wrote {a.output}")
    return 0


def cmd_table_export(a: argparse.Namespace) -> int:
    from .profilers import LatencyTable
    from .profilers.ofa_yaml import export_yaml

    n = export_yaml(LatencyTable.load(a.table), a.output, dialect=a.dialect)
    print(f"wrote {n} entries to {a.output} ({a.dialect} dialect)")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(a.output), quick=a.quick)
    return 0


# ---- parser -------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwnas", description="Hardware-aware neural architecture search.")
    p.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("spaces", help="list the named search spaces")
    s.set_defaults(func=cmd_spaces)

    s = sub.add_parser("sample", help="print random architecture strings of a space")
    add_space_args(s)
    s.add_argument("--n", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("measure", help="measure one whole network end to end")
    add_space_args(s)
    add_backend_args(s)
    s.add_argument("--arch", required=True, help="architecture string, e.g. 'k3e3-zero-...|...', or JSON")
    s.add_argument("--table", help="also print the LUT-sum estimate from this table")
    s.set_defaults(func=cmd_measure)

    s = sub.add_parser("profile", help="build (or resume) a latency table for a space on this device")
    add_space_args(s)
    add_backend_args(s)
    s.add_argument("-o", "--output", required=True, help="table CSV path (metadata goes to <stem>.meta.json)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--shard", type=_shard, help="measure only shard I of N (0-based, 'I/N'); combine the shards "
                   "with 'hwnas table merge'")
    s.set_defaults(func=cmd_profile)

    t = sub.add_parser("table", help="inspect, import and export latency tables").add_subparsers(
        dest="table_command", required=True)
    s = t.add_parser("show", help="summary: entries, slowest layers, spread")
    s.add_argument("table")
    s.add_argument("--top", type=int, default=5)
    s.set_defaults(func=cmd_table_show)
    s = t.add_parser("merge", help="combine partial tables (shards) from the same device and settings")
    s.add_argument("tables", nargs="+")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=cmd_table_merge)
    s = t.add_parser("import", help="read a ProxylessNAS / Once-for-All YAML table")
    s.add_argument("yaml")
    add_space_args(s)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--dialect", choices=["proxyless", "ofa"], help="expand convention (default: detect)")
    s.add_argument("--device-model", default="unknown (imported)", help="name of the device it was measured on")
    s.set_defaults(func=cmd_table_import)
    s = t.add_parser("export", help="write a table as ProxylessNAS / Once-for-All YAML")
    s.add_argument("table")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--dialect", choices=["proxyless", "ofa"], default="proxyless")
    s.set_defaults(func=cmd_table_export)

    # subcommands that live next to the code they drive
    from . import pareto_commands
    from .predictors import commands as predictor_commands
    from .profilers import commands as profiler_commands
    from .search import commands as search_commands

    profiler_commands.register_table(t)
    predictor_commands.register(sub)
    search_commands.register(sub)
    pareto_commands.register(sub)

    s = sub.add_parser("demo", help="run the pipeline on embedded defaults and write a report")
    s.add_argument("-o", "--output", default="hwnas-demo")
    s.add_argument("--quick", action="store_true", help="a reduced run for tests")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .profilers import MissingRuntimeError, TableError
    from .space import ArchError

    try:
        return args.func(args)
    except (ArchError, TableError, MissingRuntimeError, FileNotFoundError) as exc:
        print(f"hwnas: error: {exc}", file=sys.stderr)
        return 2
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"hwnas: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
