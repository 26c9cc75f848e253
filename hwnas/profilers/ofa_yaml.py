"""Import and export of the ProxylessNAS / Once-for-All latency lookup-table YAML files.

Two published dialects share one key scheme::

    expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:5-stride:2-idskip:0          (ProxylessNAS)
    expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:3-stride:2-idskip:0-se:1-hs:0 (Once-for-All)

ProxylessNAS writes the expand *ratio* and values ``{mean, var, count}``; Once-for-All writes the *middle
channel count* and values ``{count, mean, std}``. Latencies are milliseconds in both. Entries this space
cannot express (squeeze-excitation, h-swish, unknown layer types) are reported, never silently dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..io import atomic_write_text
from ..space.keys import HEAD_CONV, LAYER_OPS, LOGITS, MBCONV, POOL, STEM, LayerKey
from ..space.spaces import SearchSpace
from .protocol import LatencyStats
from .table import LatencyTable, TableError

DIALECTS = ("proxyless", "ofa")


def _shape(text: str) -> tuple[int, ...]:
    """``56x56x24`` -> (56, 56, 24); ASCII digits from 1 to 10**6 only."""
    parts = text.split("x")
    if not all(p.isascii() and p.isdigit() and 1 <= int(p) <= 10**6 for p in parts):
        raise ValueError(text)
    return tuple(int(p) for p in parts)


def key_to_string(key: LayerKey, dialect: str = "proxyless") -> str:
    if dialect not in DIALECTS:
        raise UsageError(f"unknown dialect {dialect!r}; use one of {DIALECTS}")
    out = f"{key.out_ch}" if key.op == LOGITS else f"{key.out_hw}x{key.out_hw}x{key.out_ch}"
    s = f"{key.op}-input:{key.in_hw}x{key.in_hw}x{key.in_ch}-output:{out}"
    if key.op == MBCONV:
        expand = key.expand if dialect == "proxyless" else key.mid_ch
        s += f"-expand:{expand}-kernel:{key.kernel}-stride:{key.stride}-idskip:{int(key.idskip)}"
        if dialect == "ofa":
            s += "-se:0-hs:0"
    return s


class _Unsupported(ValueError):
    pass


def key_from_string(text: str, dialect: str | None = None) -> LayerKey:
    """Parse one YAML key. ``dialect=None`` tells the expand convention apart by its value (a middle channel
    count is at least the input width; a ratio is smaller)."""
    parts = text.strip().split("-")
    op, fields_ = parts[0], {}
    for p in parts[1:]:
        name, _, value = p.partition(":")
        if not _:
            raise _Unsupported(f"malformed key part {p!r}")
        fields_[name] = value
    if op not in LAYER_OPS:
        raise _Unsupported(f"layer type {op!r} is not in this space")
    for flag in ("se", "hs"):
        if fields_.get(flag, "0") != "0":
            raise _Unsupported(f"{flag}:1 (squeeze-excitation / h-swish) is not in this space")
    try:
        ih, iw, ic = _shape(fields_["input"])
        out = _shape(fields_["output"])
    except (KeyError, ValueError):
        raise _Unsupported("missing or malformed input/output shape") from None
    oh, oc = (1, out[0]) if len(out) == 1 else (out[0], out[2])
    if ih != iw:
        raise _Unsupported("non-square input")
    if op == MBCONV:
        try:
            e, k, s = (_shape(fields_[f])[0] for f in ("expand", "kernel", "stride"))
            idskip = bool(int(fields_.get("idskip", "0")))
            if fields_.get("idskip", "0") not in ("0", "1") or k % 2 == 0:
                raise ValueError
        except (KeyError, ValueError):
            raise _Unsupported("expanded_conv needs integer expand, odd kernel, stride and idskip 0/1") from None
        is_mid = dialect == "ofa" or (dialect is None and e >= ic and e != 1)
        if is_mid:
            ratio = e / ic
            if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
                raise _Unsupported(f"middle width {e} is not an integer multiple of the input width {ic}")
            e = int(round(ratio))
        return LayerKey(MBCONV, ih, ic, oh, oc, k, e, s, idskip)
    if op == STEM:
        return LayerKey(STEM, ih, ic, oh, oc, 3, 0, max(1, round(ih / oh)), False)
    if op == HEAD_CONV:
        return LayerKey(HEAD_CONV, ih, ic, oh, oc, 1, 0, 1, False)
    if op == POOL:
        return LayerKey(POOL, ih, ic, 1, oc, 0, 0, 1, False)
    return LayerKey(LOGITS, 1, ic, 1, oc, 0, 0, 1, False)


@dataclass
class ImportReport:
    imported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"imported {self.imported} entries, skipped {len(self.skipped)}"]
        lines += [f"  skipped {k}: {why}" for k, why in self.skipped]
        return "\n".join(lines)


def _finite(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError
    f = float(v)
    if not math.isfinite(f) or f < 0:
        raise ValueError
    return f


def _count(v: Any) -> int:
    """A sample count: a whole number >= 1 (YAML's ``.inf``, ``-3`` or ``2.5`` are not)."""
    f = _finite(v)
    if f < 1 or f != int(f) or f > 10**12:
        raise ValueError
    return int(f)


def import_yaml(path: str | Path, space: SearchSpace, *, dialect: str | None = None,
                device_model: str = "unknown (imported)") -> tuple[LatencyTable, ImportReport]:
    """Read a ProxylessNAS / Once-for-All YAML table into a :class:`LatencyTable`."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise TableError(f"YAML table {path} is not a regular file")
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TableError(f"YAML table not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise TableError(f"YAML table {path} is corrupt: {str(exc)[:300]}") from None
    except OSError as exc:
        raise TableError(f"cannot read YAML table {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict) or not data:
        raise TableError(f"YAML table {path} holds no 'key: {{mean: ...}}' entries")
    settings = {"backend": "imported", "source": path.name, "dialect": dialect or "auto"}
    table = LatencyTable.new(space, settings, {"device_model": device_model})
    report = ImportReport()
    for k, v in data.items():
        try:
            key = key_from_string(str(k), dialect)
            if not isinstance(v, dict) or "mean" not in v:
                raise _Unsupported("value has no 'mean'")
            mean = _finite(v["mean"])
            std = math.sqrt(_finite(v["var"])) if "var" in v else _finite(v.get("std", 0.0))
            n = _count(v.get("count", 1))
        except _Unsupported as exc:
            report.skipped.append((str(k), str(exc)))
            continue
        except (ValueError, TypeError, OverflowError):
            report.skipped.append((str(k), "latency values are not finite non-negative numbers"))
            continue
        if key in table:
            report.skipped.append((str(k), "duplicate of an earlier entry"))
            continue
        table.add(key, LatencyStats(mean, mean, std, float("nan"), float("nan"), n, n))
        report.imported += 1
    return table, report


def export_yaml(table: LatencyTable, path: str | Path, *, dialect: str = "proxyless") -> int:
    """Write ``table`` in a published dialect; returns the number of entries written."""
    out: dict[str, dict[str, Any]] = {}
    for key in table.keys():
        st = table.stats(key)
        mean, std, n = float(st["mean_ms"]), float(st["std_ms"]), int(st["n"])
        if dialect == "proxyless":
            out[key_to_string(key, dialect)] = {"mean": mean, "var": std * std, "count": n}
        else:
            out[key_to_string(key, dialect)] = {"count": n, "mean": mean, "std": std}
    atomic_write_text(path, yaml.safe_dump(out, sort_keys=False))
    return len(out)


