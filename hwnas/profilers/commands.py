"""Extra ``hwnas table ...`` subcommands that live beside the profilers (wired in by hwnas/cli.py)."""

from __future__ import annotations

import argparse


def cmd_table_compare(a: argparse.Namespace) -> int:
    from .compare import compare_tables, format_comparison, plot_comparison, write_comparison_csv
    from .table import LatencyTable

    c = compare_tables(LatencyTable.load(a.table_a), LatencyTable.load(a.table_b), column=a.column)
    print(format_comparison(c, top=a.top))
    if a.csv:
        write_comparison_csv(c, a.csv)
        print(f"wrote {a.csv}")
    if a.plot:
        plot_comparison(c, a.plot)
        print(f"wrote {a.plot}")
    return 0


def register_table(table_sub: argparse._SubParsersAction) -> None:
    """Add subcommands under ``hwnas table``."""
    s = table_sub.add_parser("compare", help="per-layer and per-op-type latency ratios B/A of two tables "
                             "(e.g. two runtimes on one device)")
    s.add_argument("table_a", metavar="A.csv")
    s.add_argument("table_b", metavar="B.csv")
    s.add_argument("--column", default="median_ms", choices=["median_ms", "mean_ms", "min_ms", "p90_ms"],
                   help="statistic to compare (default %(default)s)")
    s.add_argument("--top", type=int, default=5, help="layers listed at each end")
    s.add_argument("--csv", help="write per-key and per-group ratios to this CSV")
    s.add_argument("--plot", metavar="PNG", help="write a scatter and bar plot to this PNG")
    s.set_defaults(func=cmd_table_compare)
