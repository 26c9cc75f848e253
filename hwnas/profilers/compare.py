"""Cross-backend comparison of two latency tables: where one runtime is relatively cheap and the other dear.

``compare_tables(a, b)`` is the pure data step (per-key ratios B/A and per-op-type aggregates);
``format_comparison`` prints it, ``plot_comparison`` draws it. A ratio above the overall ratio means that kind
of layer is *relatively* dearer on B (e.g. 7×7 depthwise convolutions on a runtime without a tuned kernel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import atomic_write
from .table import LatencyTable, TableError

KEY = ["op", "in_hw", "in_ch", "out_hw", "out_ch", "kernel", "expand", "stride", "idskip"]


@dataclass(frozen=True)
class Comparison:
    a_name: str
    b_name: str
    per_key: pd.DataFrame  # label, op, kernel, expand, stride, in_hw, a_ms, b_ms, ratio, rel
    groups: pd.DataFrame  # grouping, group, n, a_ms, b_ms, ratio, median_ratio, rel
    overall_ratio: float  # total B / total A over the common keys
    only_a: int
    only_b: int


def describe(table: LatencyTable) -> str:
    s, env = table.meta.get("settings", {}), table.meta.get("environment", {})
    extra = ""
    if s.get("backend") == "remote":
        extra = f" {s.get('runtime')} on {env.get('device_model')}"
    elif s.get("session", {}).get("mobile"):
        extra = " mobile"
    return f"{s.get('backend')}{extra} ({s.get('device')}, {s.get('threads')} thr, batch {s.get('batch')})"


def _group_label(row: pd.Series) -> str:
    return f"k{row.kernel}e{row.expand}" if row.op == "expanded_conv" else str(row.op)


def compare_tables(a: LatencyTable, b: LatencyTable, column: str = "median_ms") -> Comparison:
    """Per-key and per-op-type ratios B/A over the layer configurations both tables hold."""
    ra, rb = a.rows.copy(), b.rows.copy()
    for r in (ra, rb):
        r["idskip"] = r["idskip"].astype(int)
    m = ra.merge(rb[KEY + [column]], on=KEY, how="inner", suffixes=("_a", "_b"))
    if m.empty:
        raise TableError("the two tables have no layer configuration in common (different spaces, resolutions "
                         "or widths?); nothing to compare")
    m = m.rename(columns={f"{column}_a": "a_ms", f"{column}_b": "b_ms"})
    if (m.a_ms <= 0).any() or (m.b_ms <= 0).any():
        raise TableError("a table holds non-positive latencies; cannot form ratios")
    m["ratio"] = m.b_ms / m.a_ms
    overall = float(m.b_ms.sum() / m.a_ms.sum())
    m["rel"] = m.ratio / overall
    m["group"] = m.apply(_group_label, axis=1)
    per_key = m[["label", "op", "kernel", "expand", "stride", "in_hw", "in_ch", "out_ch", "group", "a_ms", "b_ms",
                 "ratio", "rel"]].sort_values("ratio").reset_index(drop=True)

    mb = m[m.op == "expanded_conv"]
    groupings: list[tuple[str, pd.DataFrame, Any]] = [
        ("op", m, m.op),
        ("kernel", mb, mb.kernel.map(lambda k: f"depthwise k{k}")),
        ("expand", mb, mb.expand.map(lambda e: f"expand {e}")),
        ("candidate", mb, mb.group),
        ("stride", mb, mb.stride.map(lambda s: f"stride {s}")),
    ]
    rows = []
    for grouping, df, by in groupings:
        for g, sub in df.groupby(by, sort=True):
            ratio = float(sub.b_ms.sum() / sub.a_ms.sum())
            rows.append({"grouping": grouping, "group": str(g), "n": len(sub), "a_ms": float(sub.a_ms.sum()),
                         "b_ms": float(sub.b_ms.sum()), "ratio": ratio,
                         "median_ratio": float(np.median(sub.ratio)), "rel": ratio / overall})
    keys_a = {tuple(r) for r in ra[KEY].itertuples(index=False)}
    keys_b = {tuple(r) for r in rb[KEY].itertuples(index=False)}
    return Comparison(a_name=describe(a), b_name=describe(b), per_key=per_key, groups=pd.DataFrame(rows),
                      overall_ratio=overall, only_a=len(keys_a - keys_b), only_b=len(keys_b - keys_a))


def format_comparison(c: Comparison, top: int = 5) -> str:
    lines = [f"A: {c.a_name}", f"B: {c.b_name}",
             f"{len(c.per_key)} common layer configurations"
             + (f" ({c.only_a} only in A, {c.only_b} only in B)" if c.only_a or c.only_b else ""),
             f"overall B/A (sum of latencies): {c.overall_ratio:.3f}; per-key ratio median "
             f"{c.per_key.ratio.median():.3f}, range {c.per_key.ratio.min():.3f} .. {c.per_key.ratio.max():.3f}",
             "", "by op type (rel = ratio / overall: above 1 means relatively dearer on B)",
             f"  {'grouping':10s} {'group':20s} {'n':>4s} {'A ms':>9s} {'B ms':>9s} {'B/A':>7s} {'median':>7s} "
             f"{'rel':>6s}"]
    for _, g in c.groups.iterrows():
        lines.append(f"  {g.grouping:10s} {g.group:20s} {g.n:4d} {g.a_ms:9.3f} {g.b_ms:9.3f} {g.ratio:7.3f} "
                     f"{g.median_ratio:7.3f} {g.rel:6.2f}")
    pk = c.per_key
    for title, part in ((f"relatively cheapest on B (lowest B/A, {min(top, len(pk))})", pk.head(top)),
                        (f"relatively dearest on B (highest B/A, {min(top, len(pk))})", pk.tail(top)[::-1])):
        lines += ["", title]
        for _, r in part.iterrows():
            lines.append(f"  {r.ratio:7.3f}  A {r.a_ms:8.3f} ms  B {r.b_ms:8.3f} ms  {r.label}")
    return "\n".join(lines)


def write_comparison_csv(c: Comparison, path: str | Path) -> None:
    """One CSV: per-key rows (``level=key``) then per-group rows (``level=group``)."""
    keys = c.per_key.assign(level="key", grouping="key", n=1, median_ratio=c.per_key.ratio)
    groups = c.groups.assign(level="group", label="")
    cols = ["level", "grouping", "group", "label", "n", "a_ms", "b_ms", "ratio", "median_ratio", "rel"]
    out = pd.concat([keys[cols], groups[cols]], ignore_index=True)
    atomic_write(path, lambda fh: out.to_csv(fh, index=False))


def plot_comparison(c: Comparison, path: str | Path) -> None:
    """Left: every layer, B against A (log-log) with the overall ratio; right: ratio per candidate and op."""
    from ..figures import pyplot, save_png

    fig, (ax1, ax2) = pyplot().subplots(1, 2, figsize=(12, 5))
    pk = c.per_key
    for k, sub in pk.groupby(pk.op.where(pk.op != "expanded_conv", "k" + pk.kernel.astype(str))):
        ax1.scatter(sub.a_ms, sub.b_ms, s=18, label=str(k), alpha=0.8)
    lo, hi = float(min(pk.a_ms.min(), pk.b_ms.min())), float(max(pk.a_ms.max(), pk.b_ms.max()))
    xs = np.array([lo, hi])
    ax1.plot(xs, xs, "k:", lw=1, label="B = A")
    ax1.plot(xs, xs * c.overall_ratio, "k--", lw=1, label=f"B = {c.overall_ratio:.2f}·A")
    ax1.set(xscale="log", yscale="log", xlabel=f"A: {c.a_name} [ms]", ylabel=f"B: {c.b_name} [ms]",
            title="per layer configuration")
    ax1.legend(fontsize=7)
    g = c.groups[c.groups.grouping.isin(["candidate", "op", "kernel"])]
    g = g[~((g.grouping == "op") & (g.group == "expanded_conv"))]
    ax2.barh(g.group + " (" + g.grouping + ")", g.ratio, color=["C3" if r > 1 else "C0" for r in g.rel])
    ax2.axvline(c.overall_ratio, color="k", ls="--", lw=1, label="overall")
    ax2.set(xlabel="B/A (sum of latencies)", title="ratio by op type (red: relatively dearer on B)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
