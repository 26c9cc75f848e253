"""Flag groups the subcommands share, with their choices read from the stages' registries, and the objects built
from them (a space, a measurement backend, a latency model)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError


def ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 3,5,7, got {text!r}") from None


def shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"shard must look like I/N, e.g. 0/4, got {text!r}")
    try:
        return int(i), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"shard must look like I/N with integers, e.g. 0/4, got {text!r}") from None


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
    g.add_argument("--resolution", type=int, help="input resolution (default: the space's)")
    g.add_argument("--width-mult", type=float, help="channel width multiplier (default: the space's)")
    g.add_argument("--kernels", type=ints, help="candidate kernel sizes, e.g. 3,5,7")
    g.add_argument("--expands", type=ints, help="candidate expand ratios, e.g. 3,6")
    g.add_argument("--num-classes", type=int, help="classifier outputs")


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
            raise UsageError(f"--model searches your network: {', '.join(given)} belong to the named spaces")
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


def add_training_args(p: argparse.ArgumentParser, *, data: bool = True) -> None:
    """Where a command that trains runs: ``--device``, ``--amp``, ``--workers`` (and ``--augment``)."""
    g = p.add_argument_group("training device and data loading")
    g.add_argument("--device", default=None,
                   help="auto (default: CUDA when available, else the CPU) | cpu | cuda | cuda:N")
    g.add_argument("--amp", choices=["off", "bf16", "fp16"], default=None,
                   help="mixed precision for the weights (CUDA only; α and the latency term stay fp32; default off)")
    g.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes (default: 0 for data held in memory, else up to 8)")
    if data:
        from ..search.data import list_presets

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
    g.add_argument("--threads", type=int, default=1, help="intra-op threads (default %(default)s)")
    g.add_argument(device_flag, dest="measure_device", default="cpu",
                   help="cpu or cuda (torch, onnxruntime); a remote device is chosen with --backend-opt "
                        "transport=adb|ssh|local (default %(default)s)")
    g.add_argument("--batch", type=int, default=1, help="batch size (default %(default)s)")
    g.add_argument("--warmup", type=int, help="warm-up runs")
    g.add_argument("--repeats", type=int, help="timed runs (at least)")
    g.add_argument("--min-time", type=float, help="keep timing until this many seconds have passed")
    g.add_argument("--rounds", type=int, help="time each layer/network in this many interleaved passes, seconds "
                   "apart, pooling the samples (default 3)")
    g.add_argument("--statistic", choices=list(STATISTICS),
                   help="headline latency that predictors and searches read (default min: over interleaved rounds, "
                        "the figure that repeats on a CPU whose speed swings)")
    g.add_argument("--fast", action="store_true",
                   help="one pass of 30 runs with the median as headline, instead of the default 3 interleaved "
                        "passes of 10 runs with the minimum (quicker; does not repeat on a shared machine)")
    g.add_argument("--jobs", type=int, default=1, help="build the programs in this many processes before "
                   "timing anything (executorch, where lowering a network takes ~40 s; needs "
                   "--backend-opt cache_dir=DIR) (default %(default)s)")
    g.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="backend-specific option, repeatable (e.g. transport=adb for the remote backend, "
                   "mobile=true for onnxruntime, cache_dir=DIR for executorch)")


def parse_options(items: list[str]) -> dict[str, object]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (numbers and true/false converted)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"backend option {item!r} is not KEY=VALUE")
        v: object = value
        if value.lower() in ("true", "false"):
            v = value.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    v = conv(value)
                    break
                except ValueError:
                    pass
        out[key.replace("-", "_")] = v
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
                             **parse_options(a.backend_opt))
    if not backend.supports_rounds and getattr(a, "rounds", None) is None:  # its tool times the runs itself
        backend.protocol = protocol(Protocol())
    return backend


def add_latency_model_args(p: argparse.ArgumentParser, *, predictor_help: str) -> None:
    g = p.add_argument_group("latency model (one of)")
    g.add_argument("--table", help="latency table CSV (LUT-sum costs)")
    g.add_argument("--predictor", help=predictor_help)
    g.add_argument("--force", action="store_true", help="use a latency model from another device or backend anyway")


def latency_model_from_args(a: argparse.Namespace, space: Any = None):
    from ..predictors.loader import load_latency_model

    return load_latency_model(table=a.table, predictor=a.predictor, space=space, force=a.force)
