"""Measured records on disk: a CSV that ``pandas.read_csv`` reads, plus ``<stem>.meta.json`` saying where and
how the rows were measured (backend settings, search space, machine). Both are written atomically, so an
interrupted job keeps every finished row and resumes where it stopped. Latency tables and measured
architecture datasets share this.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .. import __version__
from ..errors import UsageError
from ..io import atomic_write, atomic_write_json, read_json, require
from ..space.spaces import SearchSpace
from .protocol import headline_column

log = logging.getLogger(__name__)


class TableError(UsageError):
    """A table or dataset file is missing, corrupt, or does not fit the requested use."""


class TableMismatchError(TableError):
    """Rows were measured on another device, backend or with other settings."""


# the settings that make two measurements comparable (a predictor and the networks it is checked against, a table
# and a network measured beside it); the protocol may differ
COMPARABLE_FIELDS = ("backend", "device", "threads", "batch")


FORMAT_VERSION = 1  # of the metadata and the rows; a file from a newer hwnas is refused, not misread


def meta_path(path: str | Path) -> Path:
    """``x.csv`` -> ``x.meta.json`` (as always); any other name keeps its full name: ``x.txt`` ->
    ``x.txt.meta.json``, so that ``-o x.txt`` never touches the metadata of an existing ``x.csv``."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return path.with_name(path.stem + ".meta.json")
    return path.with_name(path.name + ".meta.json")


def space_problems(mine: dict[str, Any], theirs: dict[str, Any], *, mine_is: str = "the table",
                   theirs_are: str = "the networks") -> list[str]:
    """Where two recorded spaces make different networks (resolution, widths, stages, classes...). The networks'
    candidate kernels and expand ratios may be a subset of the table's (the table then covers them)."""
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return [f"space: {mine_is} or {theirs_are} record none"]
    out = []
    for k in sorted(set(mine) | set(theirs)):
        if k == "extra":
            continue
        a, b = mine.get(k), theirs.get(k)
        if k in ("kernels", "expands") and isinstance(a, list | tuple) and isinstance(b, list | tuple) \
                and set(b) <= set(a):
            continue
        if a != b:
            out.append(f"space.{k}: {mine_is} has {a!r}, {theirs_are} have {b!r}")
    return out


def diff_settings(a: dict[str, Any], b: dict[str, Any], prefix: str = "", *, have: str = "table has",
                  want: str = "requested") -> list[str]:
    """Each setting that differs between ``a`` (what a file records: ``have``) and ``b`` (what is asked now:
    ``want``), nested keys dotted: ``"threads: table has 1, requested 2"``."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff_settings(va, vb, f"{prefix}{k}.", have=have, want=want)
        elif va != vb:
            out.append(f"{prefix}{k}: {have} {va!r}, {want} {vb!r}")
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
        meta = {"format": cls.FORMAT, "format_version": FORMAT_VERSION, "hwnas": __version__, "space": space.to_dict(),
                "settings": settings, "environment": environment, **extra}
        return cls(meta)

    def note_device_state(self, state: dict[str, Any], when: str) -> None:
        """Keep what the device reported (:meth:`Backend.device_state`) ``when`` (``first`` measurement of this
        run, ``last``), with the rows there were; a resumed run adds its own pair."""
        if state:
            notes = self.meta.setdefault("device_state", [])
            notes.append({"when": when, "rows": len(self.rows), **state})
            del notes[:-8]

    # the columns that identify a row (no two rows may share them)
    KEY: ClassVar[tuple[str, ...]]

    @classmethod
    def load(cls, path: str | Path, *, repair: bool = False):
        """Read and check a file: the metadata (format, version, space, settings) and every row (latencies numeric,
        finite, >= 0; no duplicate keys; no truncated row). With ``repair`` (resuming), a truncated last row (an
        interrupted write by another tool) is dropped, so that it is measured again, instead of refused."""
        path = Path(path)
        if not path.exists():
            raise TableError(f"{cls.WHAT} not found: {path}")
        if not path.is_file():  # a folder, or a FIFO that would block the read forever
            raise TableError(f"{cls.WHAT} {path} is not a regular file (a folder?), not a CSV file")
        mp = meta_path(path)
        legacy = path.with_name(path.stem + ".meta.json")  # where hwnas 0.1.0 kept a non-.csv name's metadata
        if not mp.exists() and legacy.exists() and not path.with_suffix(".csv").exists():
            mp = legacy
        if not mp.exists():
            raise TableError(f"{cls.WHAT} {path} has no metadata file {mp}; it cannot be checked against a "
                             f"device (import foreign tables with 'hwnas table import')")
        try:
            meta = read_json(mp, f"{cls.WHAT} metadata", expect=dict)
        except ValueError as exc:
            raise TableError(str(exc)) from None
        cls.check_meta(meta, mp)
        rows = cls._read_rows(path, repair, meta)
        return cls(meta, rows)

    @classmethod
    def check_meta(cls, meta: Any, where: Path | str) -> None:
        """The one validator of a metadata record: a named field missing or of the wrong type is an error naming
        the file and the field."""
        if not isinstance(meta, dict) or meta.get("format") != cls.FORMAT:
            raise TableError(f"{where} is not the metadata of an hwnas {cls.WHAT}")
        version = meta.get("format_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise TableError(f"{where} is damaged: format_version is {version!r}")
        if version > FORMAT_VERSION:
            raise TableError(f"{where} has format_version {version}, written by a newer hwnas "
                             f"({meta.get('hwnas', '?')}); this hwnas {__version__} reads version {FORMAT_VERSION}: "
                             "upgrade hwnas")
        from ..space.model_space import space_from_dict

        try:
            for field, typ in (("space", dict), ("settings", dict), ("environment", dict)):
                require(meta, field, typ, str(where))
            from ..space.model_space import space_from_dict

            space_from_dict(meta["space"], where=str(where))
        except UsageError as exc:
            raise TableError(str(exc)) from None
        s = meta["settings"]
        for k, typ in (("backend", str), ("threads", int), ("batch", int)):
            if k in s and not (isinstance(s[k], typ) and not isinstance(s[k], bool)):
                raise TableError(f"{where} is damaged: settings.{k} is {s[k]!r}")
        stat = s.get("protocol", {}).get("statistic", "median") if isinstance(s.get("protocol"), dict) else "median"
        if stat not in ("median", "min"):
            raise TableError(f"{where} is damaged: settings.protocol.statistic is {stat!r}")

    @classmethod
    def _read_rows(cls, path: Path, repair: bool, meta: dict[str, Any] | None = None) -> pd.DataFrame:
        import csv
        import io
        import math

        def corrupt(why: str) -> TableError:
            return TableError(f"{cls.WHAT} {path} is corrupt: {why}; nothing was changed")

        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise corrupt("it is not text") from None
        except OSError as exc:
            raise TableError(f"cannot read {cls.WHAT} {path}: {exc.strerror or exc}") from None
        try:
            lines = list(csv.reader(io.StringIO(text)))
        except csv.Error as exc:
            raise corrupt(str(exc)) from None
        lines = [ln for ln in lines if ln]
        if not lines:
            raise corrupt("it is empty (no header)")
        width = len(lines[0])
        short = [i for i, ln in enumerate(lines[1:], start=2) if len(ln) != width]
        if short and short != [len(lines)]:
            raise corrupt(f"line {short[0]} has {len(lines[short[0] - 1])} fields, the header {width}")
        if short:  # the last row is truncated
            if not repair:
                raise corrupt(f"its last row (line {short[0]}) is truncated; run the command that made it again to "
                              "measure that row again")
            log.warning("%s: dropping the truncated last row (line %d); it is measured again", path, short[0])
            text = "".join(ln + "\n" for ln in text.splitlines()[:-1])
        try:
            text_cols = {c: str for c in ("fingerprint", "input_shape", "arch", "op", "label", "measured_at")}
            rows = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], dtype=text_cols)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise corrupt(str(exc)[:200]) from None
        missing = [c for c in cls.required_columns(meta or {}) if c not in rows.columns]
        if missing:
            raise corrupt(f"missing columns {missing}")
        for col in [c for c in rows.columns if str(c).endswith("_ms") or c in ("n", "n_raw", "macs", "params")]:
            values = pd.to_numeric(rows[col], errors="coerce")
            bad = rows[col].notna() & values.isna()
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise corrupt(f"row {i + 1}, column {col}: {str(rows[col].iloc[i])[:40]!r} is not a number")
            arr = values.to_numpy(dtype=float)
            if (arr[~pd.isna(arr)] < 0).any() or any(math.isinf(v) for v in arr):
                i = int(((arr < 0) | pd.Series(arr).map(math.isinf).to_numpy()).nonzero()[0][0])
                raise corrupt(f"row {i + 1}, column {col}: {arr[i]} is not a latency (negative or infinite)")
            rows[col] = values
        for col in cls.required_columns(meta or {}):
            if rows[col].isna().any():
                i = int(rows[col].isna().to_numpy().nonzero()[0][0])
                raise corrupt(f"row {i + 1}: empty {col}" + (" (empty latency values)" if col.endswith("_ms") else ""))
        key = [c for c in cls.key_columns(meta or {}) if c in rows.columns]
        dup = rows.duplicated(subset=key, keep="first") if key and len(rows) else None
        if dup is not None and dup.any():
            i = int(dup.to_numpy().nonzero()[0][0])
            raise corrupt(f"row {i + 1} repeats the key of an earlier row ({', '.join(map(str, rows.loc[i, key]))})")
        cls.check_rows(rows, corrupt, meta or {})
        return rows

    @classmethod
    def check_rows(cls, rows: pd.DataFrame, corrupt, meta: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Checks of a subclass's own columns; raise ``corrupt(why)``."""

    @classmethod
    def key_columns(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        """The columns that identify a row (no two rows may share them)."""
        return cls.KEY

    @classmethod
    def required_columns(cls, meta: dict[str, Any]) -> tuple[str, ...]:
        return cls.REQUIRED

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            raise TableError(f"cannot write {self.WHAT} {path}: it is a folder; give a file name like x.csv")
        atomic_write_json(meta_path(path), self.meta)
        atomic_write(path, lambda fh: self.rows.to_csv(fh, index=False))

    def _append(self, row: dict[str, Any]) -> None:
        new = pd.DataFrame([row])
        self.rows = new if self.rows.empty else pd.concat([self.rows, new], ignore_index=True)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def space(self) -> SearchSpace:
        if not isinstance(self.meta.get("space"), dict):
            raise TableError(f"this {self.WHAT}'s metadata records no search space")
        from ..space.model_space import space_from_dict

        return space_from_dict(self.meta["space"], where=f"{self.WHAT} metadata")

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
