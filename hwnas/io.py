"""Atomic file writes (a reader never sees a half-written file, and an interrupted write loses nothing), the
errors of writing (one clear line for an unwritable folder, a path that is a file, a full disk) and the lock that
keeps a second process from appending to the same output."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputNotFound, OutputError, UsageError


def write_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """One line for an ``OSError`` met writing ``path``: what went wrong and what to do."""
    why = {errno.ENOSPC: "the disk is full; free some space and run the same command again",
           errno.EDQUOT: "the disk quota is used up; free some space and run the same command again",
           errno.EACCES: "permission denied; choose a folder you can write to",
           errno.EPERM: "permission denied; choose a folder you can write to",
           errno.EROFS: "the file system is read-only; choose another output",
           errno.ENOTDIR: "a part of the path is a file, not a folder",
           errno.EISDIR: "it is a folder; give a file name",
           errno.EEXIST: "a part of the path is a file, not a folder",
           errno.ENAMETOOLONG: "the name is too long"}.get(exc.errno, exc.strerror or str(exc))
    return OutputError(f"cannot write {path}: {why}")


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p`` with :func:`write_error`'s message on failure."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    if not path.is_dir():
        raise OutputError(f"cannot write into {path}: it is a file, not a folder")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "w") -> None:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it over ``path``. An ``OSError``
    (unwritable folder, a file where a folder should be, a full disk) becomes one :class:`OutputError` line, and the
    temporary file is removed, so ``path`` keeps its old content."""
    path = Path(path)
    if path.name in ("", ".", "..") or path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name")
    make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, mode) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise write_error(path, exc) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def atomic_write_json(path: str | os.PathLike, data: Any, *, strict: bool = False) -> None:
    """``strict``: NaN and infinities written as null, so that every JSON parser reads the file (jq, JavaScript)."""
    if strict:
        data = _finite(data)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str, allow_nan=not strict) + "\n")


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", None) == 0:  # a numpy scalar
        return _finite(x.item())
    return x


def read_json(path: str | os.PathLike, what: str = "file", *, expect: type | None = None) -> Any:
    """Parse a JSON file; with ``expect`` (e.g. ``dict``) refuse any other top-level type. Every failure is one
    :class:`UsageError` line naming ``what`` and ``path``."""
    if Path(path).exists() and not Path(path).is_file():  # a folder, a FIFO (reading one would wait forever)
        raise UsageError(f"{what} {path} is not a regular file")
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputNotFound(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"{what} {path} is corrupt (not valid JSON: {str(exc)[:200]})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if expect is not None and not isinstance(data, expect):
        raise UsageError(f"{what} {path} is corrupt: expected a JSON {'object' if expect is dict else expect.__name__}"
                         f", found {type(data).__name__}")
    return data


def torch_load_problem(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """One line saying why ``torch.load(..., weights_only=True)`` refused a file: torch's own message runs to six
    lines with terminal colour codes and suggests ``weights_only=False``, which would run the file's code. With
    ``path``, a file that is no PyTorch file at all (neither a zip archive nor a pickle) is called that."""
    import re

    head = None
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                head = fh.read(4)
        except OSError:
            pass
    if head is not None and not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        return "it is not a PyTorch file (damaged, or another kind of file)"
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    if "Weights only load failed" in text or "Unsupported global" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        return ("it holds pickled Python objects" + (f" ({found.group(1)})" if found else "")
                + ", such as a whole module saved with torch.save(model), which hwnas does not unpickle because "
                  "that can run code: save model.state_dict() instead, or use the model.pt that hwnas retrain -o "
                  "writes")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}"


def require(record: Any, field: str, typ: type | tuple[type, ...], where: str) -> Any:
    """``record[field]``, checked: a missing field or one of the wrong type is a :class:`UsageError` naming the
    file and the field (never a bare ``KeyError: 'space'``)."""
    if not isinstance(record, dict) or field not in record:
        raise UsageError(f"{where} is damaged or incomplete: it has no {field!r} field")
    value = record[field]
    if not isinstance(value, typ) or isinstance(value, bool) and typ in (int, float, (int, float)):
        raise UsageError(f"{where} is damaged: {field!r} is {type(value).__name__}, not "
                         f"{getattr(typ, '__name__', None) or ' or '.join(t.__name__ for t in typ)}")
    return value


# ---- one writer per output -----------------------------------------------------------------------------------
_HELD: set[Path] = set()  # lock files this process holds (a command that writes a folder and a file in it)


def lock_path(output: str | os.PathLike, *, folder: bool = False) -> Path:
    """The lock file of an output: ``<file>.lock`` beside a file, ``<folder>/.hwnas.lock`` inside a folder."""
    output = Path(output)
    return output / ".hwnas.lock" if folder else output.with_name(output.name + ".lock")


@contextlib.contextmanager
def output_lock(output: str | os.PathLike, what: str = "output", *, folder: bool = False) -> Iterator[None]:
    """Hold an exclusive, non-blocking ``flock`` on ``output``'s lock file while a command appends to it; a second
    writer gets :class:`OutputError` naming the process that holds it. The kernel releases the lock when the
    process ends, however it ends (kill -9 included); the file is removed on a clean exit (and a folder this call
    made is removed again if it is still empty)."""
    import fcntl
    import sys

    output = Path(output)
    if output.name in ("", ".", ".."):
        raise OutputError(f"{str(output)!r} is not a file or folder name to write")
    path = lock_path(output, folder=folder)
    if path.resolve() in _HELD:  # this process already holds it
        yield
        return
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # removed again if left empty
    make_dirs(path.parent)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(f"{what} {output} is being written by {holder}; wait for it to finish or use another "
                              f"output (its lock {path} goes away with that process)") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file just before we locked it: lock the new one
    key = path.resolve()
    _HELD.add(key)
    try:
        os.ftruncate(fd, 0)
        cmd = " ".join(["hwnas", *sys.argv[1:6]])[:200] if sys.argv else "hwnas"
        os.write(fd, f"pid {os.getpid()} ({cmd})\n".encode(errors="replace"))
        yield
    finally:
        _HELD.discard(key)
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        for p in made:  # deepest first; rmdir refuses a folder that is not empty
            try:
                p.rmdir()
            except OSError:
                break


def lock_holder(output: str | os.PathLike, *, folder: bool = False) -> str | None:
    """Who is writing ``output`` now (its lock file's text, e.g. ``pid 123 (hwnas search ...)``), or None: nobody,
    or this process. Reads only: no lock file is made where there is none."""
    import fcntl

    path = lock_path(output, folder=folder)
    if path.resolve() in _HELD or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.read(fd, 4096).decode(errors="replace").strip() or "another process"
    except OSError:
        return None
    finally:
        os.close(fd)  # (closing releases a lock this call took)
    return None


def bar_disabled(progress: bool) -> bool | None:
    """tqdm's ``disable`` for a progress setting: off when not asked for, and when asked for, shown only on a
    terminal (None: tqdm's own test), so that a log file or a CI job gets no carriage-return floods."""
    return None if progress else True

