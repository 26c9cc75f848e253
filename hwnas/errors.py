"""The errors hwnas raises for what a user can fix: a bad option, a file it cannot use, a lost device.

Every one derives from :class:`HwnasError`, which the ``hwnas`` command reports as one line (exit 2; a lost device
exits 3). Anything else is a bug in hwnas and surfaces as a traceback. Each class also derives from the built-in
exception a Python caller would expect (``ValueError``, ``KeyError``, ``FileNotFoundError``, ...), so
``except ValueError`` keeps working around the library.
"""

from __future__ import annotations


class HwnasError(Exception):
    """Base of every error hwnas raises for a user's input, files or devices."""


class UsageError(HwnasError, ValueError):
    """A bad option, value or combination of settings."""


class UnknownNameError(UsageError, KeyError):
    """A name that is not in a registry (space, backend, dataset, predictor kind)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class InputNotFound(HwnasError, FileNotFoundError):
    """A file or folder the user named is not there."""


class OutputError(UsageError):
    """An output hwnas cannot write (an unwritable folder, a path that is a file, a full disk) or one that another
    hwnas process is writing."""


def round_up(x: float, digits: int = 4) -> str:
    """``x`` rounded up at ``digits`` significant figures: a lower bound shown in a message (the fastest latency a
    target can ask for) that, typed back, is accepted (0.140623 shows as 0.1407, not as a refused 0.1406; a sum with
    float noise such as 0.30000000000000004 shows as 0.3001)."""
    import math

    if not math.isfinite(x) or x == 0:
        return f"{x:g}"
    step = 10.0 ** (math.floor(math.log10(abs(x))) - digits + 1)
    text = f"{math.ceil(x / step) * step:.{digits}g}"
    while float(text) < x:  # the division or the printing fell a hair short: one step up
        text = f"{float(text) + step:.{digits}g}"
    return text
