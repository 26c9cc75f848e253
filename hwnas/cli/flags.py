"""Flag groups the subcommands share, with their choices read from the stages' registries, and the objects built
from them (a space, a measurement backend, a latency model)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..errors import UsageError


# ---- the one place command-line numbers are checked: argparse ``type=`` helpers ------------------------------
def _number(text: str, conv, what: str):
    try:
        v = conv(text.strip())
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(v, float) and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return v


def _int(text: str) -> int:
    if not text.strip().lstrip("+-").isascii() or not text.strip().lstrip("+-").isdigit():
        raise ValueError(text)  # int() accepts "٣" and "1_000"; a flag should not
    return int(text)


BIG = 10**9  # no count hwnas takes (epochs, images, samples) is sensibly larger


def positive_int(text: str) -> int:
    v = _number(text, _int, "a positive integer")
    if not 1 <= v <= BIG:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {BIG:,}, got {text!r}")
    return v


def non_negative_int(text: str) -> int:
    v = _number(text, _int, "an integer >= 0")
    if not 0 <= v <= BIG:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 up to {BIG:,}, got {text!r}")
    return v


def seed_int(text: str) -> int:
    v = non_negative_int(text)
    if v >= 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be below 2**32, got {text!r}")
    return v


def finite_float(text: str) -> float:
    return _number(text, float, "a finite number")


def positive_float(text: str) -> float:
    v = _number(text, float, "a positive, finite number")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive, finite number, got {text!r}")
    return v


def non_negative_float(text: str) -> float:
    v = _number(text, float, "a finite number >= 0")
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def fraction_below_one(text: str) -> float:
    v = _number(text, float, "a number from 0 up to (not including) 1")
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to (not including) 1, got {text!r}")
    return v


def bounded_int(lo: int, hi: int):
    """An argparse type: an integer from ``lo`` to ``hi`` (an upper bound keeps a typo like ``--n 10000000000`` from
    running out of memory or for weeks)."""
    def conv(text: str) -> int:
        v = _number(text, _int, f"an integer from {lo} to {hi}")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer from {lo} to {hi}, got {text!r}")
        return v

    conv.__name__ = f"integer {lo}..{hi}"
    return conv


def output_path(text: str) -> str:
    """An output file or folder name: not empty, no NUL or newline, not the root or ``.``."""
    from pathlib import Path

    if not text.strip() or "\0" in text or "\n" in text or Path(text).name in ("", ".", ".."):
        raise argparse.ArgumentTypeError(f"expected a file or folder name, got {text!r}")
    return text


def seconds(text: str) -> float:
    v = non_negative_float(text)
    if v > 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {text!r}")
    return v


def width_mult(text: str) -> float:
    v = positive_float(text)
    if v > 16:
        raise argparse.ArgumentTypeError(f"expected a width multiplier from 0 to 16, got {text!r}")
    return v


def ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(_int(v.strip()) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 3,5,7, got {text!r}") from None
    if any(v < 1 or v > 99 for v in vals):
        raise argparse.ArgumentTypeError(f"expected integers from 1 to 99, got {text!r}")
    return vals


def odd_ints(text: str) -> tuple[int, ...]:
    vals = ints(text)
    if any(v % 2 == 0 for v in vals):
        raise argparse.ArgumentTypeError(f"kernel sizes must be odd (3,5,7: the padding keeps the size), got {text!r}")
    return vals


def shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"shard must look like I/N, e.g. 0/4, got {text!r}")
    try:
        i, n = _int(i), _int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must look like I/N with integers, e.g. 0/4, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def add_space_args(p: argparse.ArgumentParser, default: str | None = "proxyless-mobile") -> None:
    from ..space import list_spaces

    g = p.add_argument_group("search space (a named space, or your model with --model)")
    g.add_argument("--space", help=f"named space: {', '.join(list_spaces())}"
                                   + (f" (default {default})" if default else ""))
    p.set_defaults(space_default=default)
    g.add_argument("--model", metavar="PACKAGE.MODULE:FACTORY",
                   help="your network with LayerChoice / InputChoice points, built by this class or function (from "
                        "the current directory or PYTHONPATH); needs --input-shape")
    g.add_argument("--input-shape", metavar="1,C,H,W", help="the model's input with batch 1, e.g. 1,1,28,28")
    g.add_argument("--resolution", type=bounded_int(8, 4096), help="input resolution (default: the space's)")
    g.add_argument("--width-mult", type=width_mult, help="channel width multiplier (default: the space's)")
    g.add_argument("--kernels", type=odd_ints, help="candidate kernel sizes, e.g. 3,5,7")
    g.add_argument("--expands", type=ints, help="candidate expand ratios, e.g. 3,6")
    g.add_argument("--num-classes", type=bounded_int(1, 100_000), help="classifier outputs")


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as YAML (``3``, ``0.5``, ``true``, ``[0.3, 0.7]``, else the text)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


# --data-limit: what it caps differs per data set, so say it for each
DATA_LIMIT_HELP = ("at most this many images from the data set's training files, split into the training and held-out "
                   "(validation) images, with the test split capped at the same number; digits: at most this many "
                   "source images, the test images included (digits-hard makes 3 distorted copies of each); "
                   "synthetic: this many training and held-out images")


SPACE_FLAGS = ("space", "resolution", "width_mult", "kernels", "expands", "num_classes", "model", "input_shape")
_NAMED_ONLY = ("space", "resolution", "width_mult", "kernels", "expands", "num_classes")


def space_from_args(a: argparse.Namespace):
    """A named space (``--space`` and its overrides), or the user's model (``--model`` with ``--input-shape``)."""
    if getattr(a, "model", None):
        import os
        import sys

        from ..space.model_space import ModelSpace

        given = [f"--{k.replace('_', '-')}" for k in _NAMED_ONLY if getattr(a, k, None) is not None]
        if given:
            raise UsageError(f"--model searches your network: {', '.join(given)} "
                             f"{'belongs' if len(given) == 1 else 'belong'} to the named spaces")
        if not getattr(a, "input_shape", None):
            raise UsageError("--model needs --input-shape, e.g. --input-shape 1,1,28,28")
        if os.getcwd() not in sys.path:  # a console script does not put the current directory on sys.path
            sys.path.insert(0, os.getcwd())
        return ModelSpace(a.model, a.input_shape)
    if getattr(a, "input_shape", None):
        raise UsageError("--input-shape goes with --model (a named space has its own --resolution)")
    from ..space import get_space

    name = a.space or getattr(a, "space_default", None) or "proxyless-mobile"
    return get_space(name, resolution=a.resolution, width_mult=a.width_mult, kernels=a.kernels,
                     expands=a.expands, num_classes=a.num_classes)


def channels_last_flag(a: argparse.Namespace) -> bool | None:
    """``--memory-format`` as the configs' ``channels_last`` (None: auto, or not given)."""
    return {"channels-last": True, "contiguous": False}.get(getattr(a, "memory_format", None) or "auto")


def add_training_args(p: argparse.ArgumentParser, *, data: bool = True) -> None:
    """Where a command that trains runs: ``--device``, ``--amp``, ``--workers`` (and ``--augment``)."""
    g = p.add_argument_group("training device and data loading")
    g.add_argument("--device", default=None,
                   help="auto (default: CUDA when available, else the CPU) | cpu | cuda | cuda:N")
    g.add_argument("--amp", choices=["off", "bf16", "fp16"], default=None,
                   help="mixed precision for the weights (CUDA only; α and the latency term stay fp32; default off)")
    g.add_argument("--memory-format", choices=["auto", "channels-last", "contiguous"], default=None,
                   help="how networks and batches lie in memory (default auto: channels-last for the built-in "
                        "spaces, 2x faster on a CPU, contiguous for your own model, whose .view() may need it)")
    g.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes (default: 0 for data held in memory, else up to 8)")
    if data:
        from ..train.data import list_presets

        g.add_argument("--augment", choices=list_presets(), default=None,
                       help="augmentation preset for the training images (default: cifar for cifar10, imagenet "
                            "for folder:, none otherwise); the held-out split is never augmented")


def add_backend_args(p: argparse.ArgumentParser, *, device_flag: str = "--device") -> None:
    """The measurement flags. ``device_flag`` names the flag of the device the backend measures on (commands
    that also train take ``--device`` for training and ``--measure-device`` for this)."""
    from ..profilers import list_backends
    from ..profilers.protocol import STATISTICS

    g = p.add_argument_group("measurement")
    g.add_argument("--backend", default="onnxruntime",
                   help=f"profiler backend: {', '.join(list_backends())} (default %(default)s)")
    g.add_argument("--threads", type=bounded_int(1, 1024), default=1, help="intra-op threads (default %(default)s)")
    g.add_argument(device_flag, dest="measure_device", default="cpu",
                   help="cpu or cuda (torch, onnxruntime); a remote device is chosen with --backend-opt "
                        "transport=adb|ssh|local (default %(default)s)")
    g.add_argument("--batch", type=bounded_int(1, 65_536), default=1, help="batch size (default %(default)s)")
    g.add_argument("--warmup", type=bounded_int(0, 100_000), help="warm-up runs")
    g.add_argument("--repeats", type=bounded_int(1, 1_000_000), help="timed runs (at least)")
    g.add_argument("--min-time", type=seconds, help="keep timing until this many seconds have passed")
    g.add_argument("--rounds", type=bounded_int(1, 100), help="time each layer/network in this many interleaved "
                   "passes, seconds apart, pooling the samples (default 3)")
    g.add_argument("--statistic", choices=list(STATISTICS),
                   help="headline latency that predictors and searches read (default min: over interleaved rounds, "
                        "the figure that repeats on a CPU whose speed swings)")
    g.add_argument("--fast", action="store_true",
                   help="one pass of 30 runs with the median as headline, instead of the default 3 interleaved "
                        "passes of 10 runs with the minimum (quicker; does not repeat on a shared machine)")
    g.add_argument("--jobs", type=bounded_int(1, 1024), default=1, help="build the programs in this many processes before "
                   "timing anything (executorch, where lowering a network takes ~40 s; needs "
                   "--backend-opt cache_dir=DIR) (default %(default)s)")
    g.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="backend-specific option, repeatable (e.g. transport=adb for the remote backend, "
                   "mobile=true for onnxruntime, cache_dir=DIR for executorch)")


def option_types(backend: str) -> dict[str, str]:
    """``{option: "int" | "float" | "bool" | "str"}`` of a backend's keyword options, read from the annotations of
    its ``__init__`` (and its bases'): ``--backend-opt`` values are converted only where the backend asks for a
    number or a switch, so ``serial=0042`` stays ``"0042"`` and ``args=1e3`` stays ``"1e3"``."""
    import inspect

    from ..profilers.base import _BACKENDS

    out: dict[str, str] = {}
    for klass in reversed(getattr(_BACKENDS.get(backend), "__mro__", ())):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, prm in inspect.signature(init).parameters.items():
            if prm.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            names = {t.strip() for t in str(prm.annotation).replace("Optional[", "").rstrip("]").split("|")}
            if prm.annotation is inspect.Parameter.empty and prm.default is not None:
                names = {type(prm.default).__name__}
            kind = "str"
            if "str" not in names:
                kind = next((t for t in ("bool", "int", "float") if t in names), "str")
            out[name] = kind
    return out


def _convert(key: str, value: str, kind: str) -> object:
    low = value.strip().lower()
    if kind == "bool":
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"backend option {key}={value!r}: expected true or false")
    if kind == "int":
        try:
            return _int(value.strip())
        except ValueError:
            raise UsageError(f"backend option {key}={value!r}: expected an integer") from None
    if kind == "float":
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise UsageError(f"backend option {key}={value!r}: expected a finite number")
        return v
    return value


def parse_options(items: list[str], backend: str | None = None) -> dict[str, object]:
    """``["a=1", "b=x"]`` -> ``{"a": ..., "b": "x"}``: each value stays the string given, unless ``backend``'s
    ``__init__`` annotates that option as ``int``, ``float`` or ``bool`` (see :func:`option_types`)."""
    types = option_types(backend) if backend else {}
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"backend option {item!r} is not KEY=VALUE")
        if not key.isidentifier() or not key.isascii():
            raise UsageError(f"backend option name {key!r} is not a name like cache_dir")
        if key in out:
            raise UsageError(f"backend option {key} is given twice")
        if key in ("threads", "device", "batch", "protocol"):
            raise UsageError(f"backend option {key} is set with its own flag (--{key}, or --warmup/--repeats/"
                             "--rounds for the protocol), not --backend-opt")
        out[key] = _convert(key, value, types.get(key, "str"))
    return out


PROTOCOL_FLAGS = (("warmup", "warmup"), ("repeats", "repeats"), ("min_time", "min_time_s"), ("rounds", "rounds"),
                  ("statistic", "statistic"))


def backend_from_args(a: argparse.Namespace):
    from dataclasses import replace

    from ..profilers import ROBUST, Protocol, create_backend

    def protocol(base: Protocol) -> Protocol:
        for flag, field in PROTOCOL_FLAGS:
            if getattr(a, flag, None) is not None:
                base = replace(base, **{field: getattr(a, flag)})
        return base

    backend = create_backend(a.backend, threads=a.threads, device=a.measure_device, batch=a.batch,
                             protocol=protocol(Protocol() if getattr(a, "fast", False) else ROBUST),
                             **parse_options(a.backend_opt, a.backend))
    if not backend.supports_rounds and getattr(a, "rounds", None) is None:  # its tool times the runs itself
        backend.protocol = protocol(Protocol())
    return backend


# said in the --help of every command that loads a predictor (as scikit-learn says it of pickles)
PICKLE_NOTE = ("A predictor file (.joblib) is a Python pickle, which can run code when loaded: hwnas reads it with "
               "an allow-list and refuses one that names anything else, but load only predictor files you made or "
               "trust. Tables, datasets and JSON files never run code; checkpoints load with weights_only.")


def add_latency_model_args(p: argparse.ArgumentParser, *, predictor_help: str) -> None:
    g = p.add_argument_group("latency model (one of)", PICKLE_NOTE)
    g.add_argument("--table", help="latency table CSV (LUT-sum costs)")
    g.add_argument("--predictor", help=predictor_help)
    g.add_argument("--force", action="store_true", help="use a latency model from another device or backend anyway")


def latency_model_from_args(a: argparse.Namespace, space: Any = None):
    from ..predictors.loader import load_latency_model

    return load_latency_model(table=a.table, predictor=a.predictor, space=space, force=a.force)
