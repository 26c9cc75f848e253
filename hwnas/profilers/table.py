"""Latency lookup tables: one row per layer configuration of a search space, with its statistics."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..space.keys import KEY_COLUMNS, MODULE_KEY_COLUMNS, LayerKey, ModuleKey
from ..space.spaces import SearchSpace
from .protocol import STAT_COLUMNS, LatencyStats
from .records import MeasuredRecords, TableError, TableMismatchError, diff_settings, meta_path

__all__ = ["LatencyTable", "TableError", "TableMismatchError", "diff_settings", "meta_path"]

INFO_COLUMNS = ("label", "mid_ch", "macs", "params")
MODULE_COLUMNS = MODULE_KEY_COLUMNS + ("op", "label", "macs", "params") + STAT_COLUMNS + ("measured_at",)


def _is_model(meta: dict[str, Any]) -> bool:
    return (meta.get("space") or {}).get("kind") == "model"


class LatencyTable(MeasuredRecords):
    """Measured layer latencies (``tables/x.csv``) with their environment (``tables/x.meta.json``)."""

    FORMAT = "hwnas-latency-table"
    WHAT = "latency table"
    COLUMNS = KEY_COLUMNS + INFO_COLUMNS + STAT_COLUMNS + ("measured_at",)
    REQUIRED = KEY_COLUMNS + ("median_ms",)
    KEY = KEY_COLUMNS

    def __init__(self, meta: dict[str, Any], rows=None):
        if rows is None and _is_model(meta):
            import pandas as pd

            rows = pd.DataFrame(columns=list(MODULE_COLUMNS))
        super().__init__(meta, rows)
        self._index: dict[LayerKey, int] | None = None

    @classmethod
    def check_rows(cls, rows, corrupt, meta) -> None:
        import pandas as pd

        if _is_model(meta):  # fingerprint + input shape keys: text, checked by the model space that reads them
            for col in MODULE_COLUMNS:
                if col not in rows:
                    rows[col] = float("nan")
            return
        for col in KEY_COLUMNS:
            if col == "op":
                if not rows[col].map(lambda v: isinstance(v, str) and bool(v)).all():
                    raise corrupt("empty or non-text layer type in column op")
                continue
            v = pd.to_numeric(rows[col], errors="coerce")
            if v.isna().any() or (v < 0).any() or (v != v.round()).any() or (v > 10**7).any():
                i = int((v.isna() | (v < 0) | (v != v.round()) | (v > 10**7)).to_numpy().nonzero()[0][0])
                raise corrupt(f"row {i + 1}, column {col}: {str(rows[col].iloc[i])[:40]!r} is not a layer size")
            rows[col] = v.astype(int)
        for col in cls.COLUMNS:  # optional columns a hand-made table may lack: empty, so readers need no checks
            if col not in rows:
                rows[col] = [LayerKey.from_dict(r).label for r in rows.to_dict("records")] if col == "label" \
                    else float("nan")

    @classmethod
    def key_columns(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        return MODULE_KEY_COLUMNS if _is_model(meta) else KEY_COLUMNS

    @classmethod
    def required_columns(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        return MODULE_KEY_COLUMNS + ("median_ms",) if _is_model(meta) else cls.REQUIRED

    @property
    def key_type(self) -> type:
        """:class:`LayerKey` for the built-in spaces, :class:`ModuleKey` (fingerprint + input shape) for models."""
        return ModuleKey if _is_model(self.meta) else LayerKey

    # ---- rows --------------------------------------------------------------------------------------------
    @property
    def index(self) -> dict[LayerKey, int]:
        if self._index is None:
            kt = self.key_type
            self._index = {kt.from_dict(r): i for i, r in enumerate(self.rows.to_dict("records"))}
        return self._index

    def __contains__(self, key: LayerKey) -> bool:
        return key in self.index

    def keys(self) -> list[LayerKey]:
        return list(self.index)

    def add(self, key: LayerKey, stats: LatencyStats, **extra: Any) -> None:
        row = {**key.to_dict(), **key.info(), **stats.to_dict(),
               "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **extra}
        if "idskip" in row:
            row["idskip"] = int(row["idskip"])
        self._append(row)
        self._index = None

    def stats(self, key: LayerKey) -> dict[str, Any]:
        return self.rows.iloc[self.index[key]].to_dict()

    def latency_ms(self, key: LayerKey | None, column: str | None = None) -> float:
        """Latency of one layer; ``None`` (a ``zero`` block) costs 0."""
        if key is None:
            return 0.0
        try:
            return float(self.rows.iloc[self.index[key]][column or self.headline])
        except KeyError:
            raise TableError(f"the table has no entry for {key.label}; profile the space it comes from "
                             f"(hwnas profile) or check the space's resolution and width") from None

    # ---- whole networks ----------------------------------------------------------------------------------
    def missing(self, space: SearchSpace) -> list[LayerKey]:
        return [k for k in space.layer_keys() if k not in self]

    def check_covers(self, space: SearchSpace) -> None:
        miss = self.missing(space)
        if miss:
            shown = "; ".join(k.label for k in miss[:5])
            raise TableError(f"the table does not cover space {space.name!r}: {len(miss)} of "
                             f"{len(space.layer_keys())} layers missing (e.g. {shown})")

    def summary(self, top: int = 5) -> str:
        s, env = self.meta.get("settings", {}), self.meta.get("environment", {})
        space = self.meta.get("space", {})
        lines = [
            f"backend {s.get('backend')} on {env.get('device_model')} ({s.get('device')}), threads "
            f"{s.get('threads')}, batch {s.get('batch')}; measured {env.get('date', '?')}",
            (f"model space {space.get('name')} ({len(space.get('decisions') or [])} decisions, input "
             f"{'x'.join(map(str, space.get('input_shape') or []))}, fingerprint {space.get('fingerprint')})"
             if space.get("kind") == "model" else
             f"space {space.get('name')} at {space.get('resolution')} px, width x{space.get('width_mult')}"),
            f"{len(self)} entries",
        ]
        if len(self):
            r = self.rows
            rel = (r["std_ms"] / r["median_ms"]).fillna(0.0)
            lines.append(f"latency per entry: min {r.median_ms.min():.3f} ms, median {r.median_ms.median():.3f} ms, "
                         f"max {r.median_ms.max():.3f} ms; relative std median {rel.median():.1%}, "
                         f"max {rel.max():.1%}")
            lines.append(f"slowest {min(top, len(r))}:")
            for _, row in r.nlargest(top, "median_ms").iterrows():
                lines.append(f"  {row['median_ms']:9.3f} ms  ±{row['std_ms']:.3f}  {row['label']}")
            mb = r[r.op == "expanded_conv"]
            if len(mb):
                by = mb.groupby(["kernel", "expand"])["median_ms"].sum().sort_values()
                lines.append("total over positions by candidate: " + ", ".join(
                    f"k{k}e{e} {v:.2f} ms" for (k, e), v in by.items()))
        return "\n".join(lines)


def merge_tables(tables: list[LatencyTable]) -> tuple[LatencyTable, int]:
    """Union of partial tables (e.g. shards built by several workers). All must share settings, device and
    space; a key present in several is taken from the first. Returns the merged table and the number of
    duplicate rows dropped."""
    if not tables:
        raise TableError("nothing to merge")
    first = tables[0]
    for i, t in enumerate(tables[1:], start=1):
        try:
            first.check_compatible(t.meta.get("settings", {}), t.meta.get("environment", {}), t.space,
                                   what=f"table #{i + 1}")
        except TableMismatchError as exc:
            raise TableMismatchError(f"cannot merge: {exc}") from None
    merged = LatencyTable({k: v for k, v in first.meta.items() if k != "shard"})
    dropped = 0
    for t in tables:
        for key in t.keys():
            if key in merged:
                dropped += 1
                continue
            merged._append(t.stats(key))
            merged._index = None
    return merged, dropped
