"""Measured records on disk: a CSV that ``pandas.read_csv`` reads, plus ``<stem>.meta.json`` saying where and
how the rows were measured (backend settings, search space, machine). Both are written atomically, so an
interrupted job keeps every finished row and resumes where it stopped. Latency tables and measured
architecture datasets share this.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .. import __version__
from ..errors import UsageError
from ..io import atomic_write, atomic_write_json, read_json
from ..space.spaces import SearchSpace
from .protocol import headline_column


class TableError(UsageError):
    """A table or dataset file is missing, corrupt, or does not fit the requested use."""


class TableMismatchError(TableError):
    """Rows were measured on another device, backend or with other settings."""


# the settings that make two measurements comparable (a predictor and the networks it is checked against, a table
# and a network measured beside it); the protocol may differ
COMPARABLE_FIELDS = ("backend", "device", "threads", "batch")


def meta_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.stem + ".meta.json")


def diff_settings(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff_settings(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: table has {va!r}, requested {vb!r}")
    return out


class MeasuredRecords:
    """Rows of measurements with the metadata that says where they came from."""

    FORMAT: ClassVar[str]
    WHAT: ClassVar[str]
    COLUMNS: ClassVar[tuple[str, ...]]
    REQUIRED: ClassVar[tuple[str, ...]]

    def __init__(self, meta: dict[str, Any], rows: pd.DataFrame | None = None):
        self.meta = meta
        self.rows = rows if rows is not None else pd.DataFrame(columns=list(self.COLUMNS))

    @classmethod
    def new(cls, space: SearchSpace, settings: dict[str, Any], environment: dict[str, Any], **extra: Any):
        meta = {"format": cls.FORMAT, "format_version": 1, "hwnas": __version__, "space": space.to_dict(),
                "settings": settings, "environment": environment, **extra}
        return cls(meta)

    @classmethod
    def load(cls, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise TableError(f"{cls.WHAT} not found: {path}")
        mp = meta_path(path)
        if not mp.exists():
            raise TableError(f"{cls.WHAT} {path} has no metadata file {mp}; it cannot be checked against a "
                             f"device (import foreign tables with 'hwnas table import')")
        try:
            meta = read_json(mp, f"{cls.WHAT} metadata")
        except ValueError as exc:
            raise TableError(str(exc)) from None
        if not isinstance(meta, dict) or meta.get("format") != cls.FORMAT:
            raise TableError(f"{mp} is not the metadata of an hwnas {cls.WHAT}")
        try:
            rows = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise TableError(f"{cls.WHAT} {path} is corrupt ({exc}); nothing was changed") from None
        missing = [c for c in cls.required_columns(meta) if c not in rows.columns]
        if missing:
            raise TableError(f"{cls.WHAT} {path} is corrupt: missing columns {missing}")
        if rows["median_ms"].isna().any():
            raise TableError(f"{cls.WHAT} {path} is corrupt: empty latency values")
        return cls(meta, rows)

    @classmethod
    def required_columns(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        return cls.REQUIRED

    def save(self, path: str | Path) -> None:
        path = Path(path)
        atomic_write_json(meta_path(path), self.meta)
        atomic_write(path, lambda fh: self.rows.to_csv(fh, index=False))

    def _append(self, row: dict[str, Any]) -> None:
        new = pd.DataFrame([row])
        self.rows = new if self.rows.empty else pd.concat([self.rows, new], ignore_index=True)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def space(self) -> SearchSpace:
        from ..space.model_space import space_from_dict

        return space_from_dict(self.meta["space"])

    @property
    def headline(self) -> str:
        """The column predictors read by default: ``median_ms``, or ``min_ms`` for a ``--statistic min`` run."""
        return headline_column(self.meta.get("settings"))

    @property
    def device_model(self) -> str | None:
        return self.meta.get("environment", {}).get("device_model")

    def check_compatible(self, settings: dict[str, Any], environment: dict[str, Any] | None = None,
                         space: SearchSpace | None = None, what: str = "this run",
                         fields: tuple[str, ...] | None = None) -> None:
        """Refuse to mix rows from other settings, another device, or another space configuration.

        ``fields`` limits the settings compared (e.g. backend, device, threads, batch but not the protocol)."""
        mine = self.meta.get("settings", {})
        if fields is not None:
            mine = {k: mine.get(k) for k in fields}
            settings = {k: settings.get(k) for k in fields}
        problems = diff_settings(mine, settings)
        if environment is not None and self.device_model != environment.get("device_model"):
            problems.append(f"device: the {self.WHAT} was measured on {self.device_model!r}, {what} runs on "
                            f"{environment.get('device_model')!r}")
        if space is not None:
            recorded = self.meta.get("space", {})
            if "model" in (recorded.get("kind"), getattr(space, "kind", None)):  # a user's model: its fingerprint
                if recorded.get("fingerprint") != getattr(space, "fingerprint", None):
                    problems.append(f"space: the {self.WHAT} is for model {recorded.get('name')!r} (fingerprint "
                                    f"{recorded.get('fingerprint')}), {what} for {getattr(space, 'name', '?')!r} "
                                    f"(fingerprint {getattr(space, 'fingerprint', None)})")
            else:
                problems += [f"space.{p}" for p in diff_settings(recorded, space.to_dict())]
        if problems:
            raise TableMismatchError(
                f"the {self.WHAT} was built with other settings than {what}:\n  " + "\n  ".join(problems)
                + "\nUse another output file, or the same settings to resume it.")
