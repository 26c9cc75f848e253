"""``hwnas spaces``, ``sample``, ``measure``, ``profile`` and ``hwnas table show|merge|import|export|compare``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .flags import (
    add_backend_args,
    add_space_args,
    backend_from_args,
    bounded_int,
    output_path,
    seed_int,
    shard,
    space_from_args,
)


def cmd_spaces(a: argparse.Namespace) -> int:
    from ..space import get_space, list_spaces

    for name in list_spaces():
        s = get_space(name)
        print(f"{name:18s} {s.resolution:4d} px  {s.num_blocks} blocks  candidates "
              f"{','.join(c.token for c in s.candidates)}(+zero)  {len(s.layer_keys())} table entries")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    import numpy as np

    space = space_from_args(a)
    rng = np.random.default_rng(a.seed)
    for _ in range(a.n):
        arch = space.sample(rng)
        print(f"{arch}\t{space.macs(arch) / 1e6:.1f} MMACs\t{space.params(arch) / 1e6:.2f} M params")
    return 0


def cmd_measure(a: argparse.Namespace) -> int:
    space = space_from_args(a)
    arch = space.parse(a.arch)
    backend = backend_from_args(a)
    from ..predictors.archs import network_jobs

    ((_, stats, _),) = list(backend.measure_many(network_jobs([arch], space)))
    print(f"arch     {arch}")
    print(f"space    {space.name} at {space.resolution} px: {space.macs(arch) / 1e6:.1f} MMACs, "
          f"{space.params(arch) / 1e6:.2f} M params")
    print(f"backend  {backend.name} ({backend.device}, {backend.threads} thread(s), batch {backend.batch})")
    col = backend.protocol.column  # the headline the tables and predictors use (min by default)
    print(f"latency  {getattr(stats, col):.3f} ms ({col.removesuffix('_ms')}, the headline)   {stats}")
    if a.table:
        from ..predictors.block_costs import lut_block_costs
        from ..profilers import LatencyTable
        from ..profilers.records import COMPARABLE_FIELDS

        table = LatencyTable.load(a.table)
        table.check_compatible(backend.settings(), backend.environment(), what="this measurement",
                               fields=COMPARABLE_FIELDS)
        lut = lut_block_costs(table, space).arch_ms(arch, space)
        column = backend.protocol.column
        print(f"LUT-sum  {lut:.3f} ms ({(lut / getattr(stats, column) - 1):+.1%} vs measured "
              f"{backend.protocol.statistic})")
    return 0


def cmd_profile(a: argparse.Namespace) -> int:
    from ..profilers import DeviceError, build_table

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
        raise DeviceError(f"{exc}\n{kept}", exc.device) from None
    print(table.summary())
    from ..profilers.records import meta_path

    print(f"wrote {out} and {meta_path(out)}")
    return 0


def cmd_table_show(a: argparse.Namespace) -> int:
    from ..profilers import LatencyTable

    print(LatencyTable.load(a.table).summary(top=a.top))
    return 0


def cmd_table_merge(a: argparse.Namespace) -> int:
    from ..profilers import LatencyTable
    from ..profilers.table import merge_tables

    merged, dropped = merge_tables([LatencyTable.load(p) for p in a.tables])
    merged.save(a.output)
    space = merged.space
    miss = merged.missing(space)
    print(f"merged {len(a.tables)} tables: {len(merged)} entries ({dropped} duplicates dropped); "
          f"{'complete' if not miss else f'{len(miss)} layers of {space.name} still missing'}; wrote {a.output}")
    return 0


def cmd_table_import(a: argparse.Namespace) -> int:
    from ..profilers.ofa_yaml import import_yaml

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
    from ..profilers import LatencyTable
    from ..profilers.ofa_yaml import export_yaml

    n = export_yaml(LatencyTable.load(a.table), a.output, dialect=a.dialect)
    print(f"wrote {n} entries to {a.output} ({a.dialect} dialect)")
    return 0


def cmd_table_compare(a: argparse.Namespace) -> int:
    from ..profilers.compare import compare_tables, format_comparison, plot_comparison, write_comparison_csv
    from ..profilers.table import LatencyTable

    c = compare_tables(LatencyTable.load(a.table_a), LatencyTable.load(a.table_b), column=a.column)
    print(format_comparison(c, top=a.top))
    if a.csv:
        write_comparison_csv(c, a.csv)
        print(f"wrote {a.csv}")
    if a.plot:
        plot_comparison(c, a.plot)
        print(f"wrote {a.plot}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("spaces", help="list the named search spaces")
    s.set_defaults(func=cmd_spaces)

    s = sub.add_parser("sample", help="print random architecture strings of a space")
    add_space_args(s)
    s.add_argument("--n", type=bounded_int(1, 100_000), default=5)
    s.add_argument("--seed", type=seed_int, default=0)
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
    s.add_argument("-o", "--output", type=output_path, required=True, help="table CSV path (metadata goes to <stem>.meta.json; for a name not ending "
                   "in .csv, to <name>.meta.json)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--shard", type=shard, help="measure only shard I of N (0-based, 'I/N'); combine the shards "
                   "with 'hwnas table merge'")
    s.set_defaults(func=cmd_profile)

    t = sub.add_parser("table", help="inspect, merge, compare, import and export latency tables").add_subparsers(
        dest="table_command", required=True)
    s = t.add_parser("show", help="summary: entries, slowest layers, spread")
    s.add_argument("table")
    s.add_argument("--top", type=bounded_int(0, 100_000), default=5)
    s.set_defaults(func=cmd_table_show)
    s = t.add_parser("merge", help="combine partial tables (shards) from the same device and settings")
    s.add_argument("tables", nargs="+")
    s.add_argument("-o", "--output", type=output_path, required=True)
    s.set_defaults(func=cmd_table_merge)
    s = t.add_parser("import", help="read a ProxylessNAS / Once-for-All YAML table")
    s.add_argument("yaml")
    add_space_args(s)
    s.add_argument("-o", "--output", type=output_path, required=True)
    s.add_argument("--dialect", choices=["proxyless", "ofa"], help="expand convention (default: detect)")
    s.add_argument("--device-model", default="unknown (imported)", help="name of the device it was measured on")
    s.set_defaults(func=cmd_table_import)
    s = t.add_parser("export", help="write a table as ProxylessNAS / Once-for-All YAML")
    s.add_argument("table")
    s.add_argument("-o", "--output", type=output_path, required=True)
    s.add_argument("--dialect", choices=["proxyless", "ofa"], default="proxyless")
    s.set_defaults(func=cmd_table_export)
    s = t.add_parser("compare", help="per-layer and per-op-type latency ratios B/A of two tables "
                     "(e.g. two runtimes on one device)")
    s.add_argument("table_a", metavar="A.csv")
    s.add_argument("table_b", metavar="B.csv")
    s.add_argument("--column", default="median_ms", choices=["median_ms", "mean_ms", "min_ms", "p90_ms"],
                   help="statistic to compare (default %(default)s)")
    s.add_argument("--top", type=bounded_int(0, 100_000), default=5, help="layers listed at each end")
    s.add_argument("--csv", type=output_path, help="write per-key and per-group ratios to this CSV")
    s.add_argument("--plot", type=output_path, metavar="PNG", help="write a scatter and bar plot to this PNG")
    s.set_defaults(func=cmd_table_compare)
