"""Latency lookup tables: a CSV (one row per layer configuration) plus a JSON file with its environment.

``tables/cpu.csv`` is read by ``pandas.read_csv``; ``tables/cpu.meta.json`` records the backend settings,
the search space and the machine. Both are written atomically, so an interrupted build keeps every
finished row and resumes where it stopped.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..io import atomic_write, atomic_write_json, read_json
from ..space.keys import KEY_COLUMNS, LayerKey
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .protocol import STAT_COLUMNS, LatencyStats

FORMAT = "hwnas-latency-table"
INFO_COLUMNS = ("label", "mid_ch", "macs", "params")
COLUMNS = KEY_COLUMNS + INFO_COLUMNS + STAT_COLUMNS + ("measured_at",)


class TableError(ValueError):
    """A table file is missing, corrupt, or does not fit the requested use."""


class TableMismatchError(TableError):
    """A table was built on another device, backend or with other settings."""


def meta_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".meta.json")


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: table has {va!r}, requested {vb!r}")
    return out


class LatencyTable:
    """Rows of measured layer latencies with the metadata that says where they came from."""

    def __init__(self, meta: dict[str, Any], rows: pd.DataFrame | None = None):
        self.meta = meta
        self.rows = rows if rows is not None else pd.DataFrame(columns=list(COLUMNS))
        self._index: dict[LayerKey, int] | None = None

    # ---- construction and persistence --------------------------------------------------------------------
    @classmethod
    def new(cls, space: SearchSpace, settings: dict[str, Any], environment: dict[str, Any], **extra: Any
            ) -> LatencyTable:
        meta = {"format": FORMAT, "format_version": 1, "hwnas": __version__, "space": space.to_dict(),
                "settings": settings, "environment": environment, **extra}
        return cls(meta)

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        path = Path(path)
        if not path.exists():
            raise TableError(f"latency table not found: {path}")
        mp = meta_path(path)
        if not mp.exists():
            raise TableError(f"latency table {path} has no metadata file {mp}; it cannot be checked against a "
                             f"device (import foreign tables with 'hwnas table import')")
        try:
            meta = read_json(mp, "table metadata")
        except ValueError as exc:
            raise TableError(str(exc)) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise TableError(f"{mp} is not an hwnas latency-table metadata file")
        try:
            rows = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise TableError(f"latency table {path} is corrupt ({exc}); nothing was changed") from None
        missing = [c for c in KEY_COLUMNS + ("median_ms",) if c not in rows.columns]
        if missing:
            raise TableError(f"latency table {path} is corrupt: missing columns {missing}")
        if rows["median_ms"].isna().any():
            raise TableError(f"latency table {path} is corrupt: empty latency values")
        return cls(meta, rows)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        atomic_write_json(meta_path(path), self.meta)
        atomic_write(path, lambda fh: self.rows.to_csv(fh, index=False))

    # ---- rows --------------------------------------------------------------------------------------------
    @property
    def index(self) -> dict[LayerKey, int]:
        if self._index is None:
            self._index = {LayerKey.from_dict(r): i for i, r in enumerate(self.rows.to_dict("records"))}
        return self._index

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: LayerKey) -> bool:
        return key in self.index

    def keys(self) -> list[LayerKey]:
        return list(self.index)

    def add(self, key: LayerKey, stats: LatencyStats, **extra: Any) -> None:
        row = {**key.to_dict(), "label": key.label, "mid_ch": key.mid_ch, "macs": key.macs(),
               "params": key.params(), **stats.to_dict(),
               "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **extra}
        row["idskip"] = int(row["idskip"])
        new = pd.DataFrame([row])
        self.rows = new if self.rows.empty else pd.concat([self.rows, new], ignore_index=True)
        self._index = None

    def stats(self, key: LayerKey) -> dict[str, Any]:
        return self.rows.iloc[self.index[key]].to_dict()

    def latency_ms(self, key: LayerKey | None, column: str = "median_ms") -> float:
        """Latency of one layer; ``None`` (a ``zero`` block) costs 0."""
        if key is None:
            return 0.0
        try:
            return float(self.rows.iloc[self.index[key]][column])
        except KeyError:
            raise TableError(f"the table has no entry for {key.label}; profile the space it comes from "
                             f"(hwnas profile) or check the space's resolution and width") from None

    # ---- whole networks ----------------------------------------------------------------------------------
    @property
    def space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.meta["space"])

    def missing(self, space: SearchSpace) -> list[LayerKey]:
        return [k for k in space.layer_keys() if k not in self]

    def check_covers(self, space: SearchSpace) -> None:
        miss = self.missing(space)
        if miss:
            shown = "; ".join(k.label for k in miss[:5])
            raise TableError(f"the table does not cover space {space.name!r}: {len(miss)} of "
                             f"{len(space.layer_keys())} layers missing (e.g. {shown})")

    def lut_sum_ms(self, arch: ArchSpec, space: SearchSpace | None = None, column: str = "median_ms") -> float:
        """The field-standard estimate: the sum of the layers' isolated latencies."""
        space = space or self.space
        return sum(self.latency_ms(k, column) for k in space.arch_keys(arch))

    # ---- compatibility -----------------------------------------------------------------------------------
    def check_compatible(self, settings: dict[str, Any], environment: dict[str, Any] | None = None,
                         space: SearchSpace | None = None, what: str = "this run",
                         fields: tuple[str, ...] | None = None) -> None:
        """Refuse to mix rows from other settings, another device, or another space configuration.

        ``fields`` limits the settings compared (e.g. backend, device, threads, batch but not the protocol)."""
        mine = self.meta.get("settings", {})
        if fields is not None:
            mine = {k: mine.get(k) for k in fields}
            settings = {k: settings.get(k) for k in fields}
        problems = _diff(mine, settings)
        if environment is not None:
            mine, theirs = self.meta.get("environment", {}).get("device_model"), environment.get("device_model")
            if mine != theirs:
                problems.append(f"device: table was measured on {mine!r}, {what} runs on {theirs!r}")
        if space is not None:
            problems += [f"space.{p}" for p in _diff(self.meta.get("space", {}), space.to_dict())]
        if problems:
            raise TableMismatchError(
                f"the table was built with other settings than {what}:\n  " + "\n  ".join(problems)
                + "\nUse another output file, or the same settings to resume it.")

    def summary(self, top: int = 5) -> str:
        s, env = self.meta.get("settings", {}), self.meta.get("environment", {})
        space = self.meta.get("space", {})
        lines = [
            f"backend {s.get('backend')} on {env.get('device_model')} ({s.get('device')}), threads "
            f"{s.get('threads')}, batch {s.get('batch')}; measured {env.get('date', '?')}",
            f"space {space.get('name')} at {space.get('resolution')} px, width x{space.get('width_mult')}",
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
