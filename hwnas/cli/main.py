"""The ``hwnas`` command: the parser, and exit codes. Each subcommand parses its flags, calls the library and prints.

Exit codes: 0 done; 2 bad input or a file hwnas cannot use (:class:`hwnas.errors.HwnasError`, one line on stderr);
3 a device that went away (:class:`hwnas.profilers.DeviceError`); 130 interrupted. Anything else is a bug in hwnas:
it surfaces as a traceback, with a line asking to report it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import HwnasError

EXIT_USAGE, EXIT_DEVICE, EXIT_INTERRUPTED = 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    from . import deploy, multitrial, pareto, predictors, profile, search

    p = argparse.ArgumentParser(prog="hwnas", description="Hardware-aware neural architecture search.")
    p.add_argument("--version", action="version", version=f"hwnas {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (profile, predictors, search, deploy, multitrial, pareto):
        group.register(sub)
    return p


class _PrintHandler(logging.Handler):
    """Prints each record's message to the current ``sys.stdout`` (looked up at every line, so a redirected or
    captured stdout gets it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stdout, flush=True)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)


def _log_to_stdout() -> None:
    """The library logs its progress under ``hwnas``; the command prints it."""
    logger = logging.getLogger("hwnas")
    if not any(isinstance(h, _PrintHandler) for h in logger.handlers):
        logger.addHandler(_PrintHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..profilers import DeviceError

    _log_to_stdout()
    try:
        return args.func(args)
    except DeviceError as exc:
        print(f"hwnas: error: device {exc.device or '?'!r} failed: {exc}", file=sys.stderr)
        return EXIT_DEVICE
    except HwnasError as exc:
        print(f"hwnas: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (`hwnas table show t.csv | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError:  # the input asked for more than the machine has (a huge space, batch or file)
        print("hwnas: error: out of memory: the space, batch size or data asked for more memory than this machine "
              "has; make it smaller", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        where = _raised_in_user_code(exc)
        if where:  # the user's model, part or factory raised: their traceback, not a report to hwnas
            print(f"hwnas: error raised in your code ({where}); its traceback follows", file=sys.stderr)
        else:
            print("hwnas: internal error (a bug in hwnas, not in your input): please report it with the traceback "
                  "below and the command you ran", file=sys.stderr)
        raise


def _raised_in_user_code(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame that is neither an installed library's (torch, numpy, ...: a user's
    ``nn.Linear`` fails inside torch) nor hwnas's, when that frame is the user's own (their model, part or
    factory); None when it is hwnas's."""
    import sysconfig
    import traceback
    from pathlib import Path

    ours = Path(__file__).resolve().parents[1]
    libs = [Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib", "stdlib")]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if not path.is_absolute() or not path.exists():  # <frozen ...>, <string>
            continue
        path = path.resolve()
        if any(path.is_relative_to(p) for p in libs) or {"site-packages", "dist-packages"} & set(path.parts):
            continue
        return None if path.is_relative_to(ours) else f"{path.name}:{frame.lineno}"
    return None
