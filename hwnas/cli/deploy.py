"""``hwnas retrain`` and ``hwnas export``: train a searched network and ship it (ONNX / ExecuTorch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .flags import (
    DATA_LIMIT_HELP,
    add_backend_args,
    add_space_args,
    add_training_args,
    backend_from_args,
    bounded_int,
    channels_last_flag,
    non_negative_int,
    output_path,
    positive_float,
    positive_int,
    seed_int,
    space_from_args,
)


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("retrain", help="train a searched architecture and report accuracy and measured latency")
    r.add_argument("source", nargs="?", help="search run directory or exported arch.json")
    r.add_argument("--arch", help="architecture string instead of a run (with --space ...)")
    add_space_args(r, default="proxyless-cifar")
    r.add_argument("--data", help="as for search (default: the data set the search run recorded, else digits)")
    r.add_argument("--data-limit", type=positive_int, help=DATA_LIMIT_HELP + " (default: the run's, with its data)")
    r.add_argument("--epochs", type=non_negative_int, default=30)
    r.add_argument("--batch-size", type=bounded_int(1, 65_536), default=64)
    r.add_argument("--lr", type=positive_float, default=0.05)
    r.add_argument("--seed", type=seed_int, default=0)
    r.add_argument("--inherit", action="store_true", help="start from the supernet's weights (needs a run directory)")
    r.add_argument("--no-measure", action="store_true", help="skip measuring latency")
    r.add_argument("-o", "--output", type=output_path, help="write retrain.json, model.pt and model.onnx (+ model.pte "
                                                            "with the mobile extra) here")
    r.add_argument("--quiet", action="store_true")
    add_training_args(r)
    add_backend_args(r, device_flag="--measure-device")
    r.set_defaults(func=cmd_retrain)

    e = sub.add_parser("export", help="write a searched or retrained network as ONNX or an ExecuTorch program",
                       description="Exports RUN_OR_MODEL -- a retrain folder or its model.pt (trained weights), or a "
                                   "search run directory (arch.json with the supernet's weights) -- for batch-1 fp32 "
                                   "inference, and checks the file's outputs against torch's on a batch.")
    e.add_argument("source", metavar="RUN_OR_MODEL", help="retrain folder, model.pt, or search run directory")
    e.add_argument("--format", choices=["onnx", "pte"], help="default: from the suffix of -o")
    e.add_argument("-o", "--output", required=True, help="file to write (model.onnx, model.pte)")
    e.add_argument("--data", help="re-estimate BatchNorm statistics of supernet weights on this data set's "
                                  "training images, and check the export on its test images")
    e.add_argument("--data-limit", type=positive_int, help=DATA_LIMIT_HELP)
    e.add_argument("--model", metavar="PACKAGE.MODULE:FACTORY",
                   help="a model space's network: your model (default: the factory the run or model.pt records, "
                        "imported from the current directory or PYTHONPATH); needs --input-shape")
    e.add_argument("--input-shape", metavar="1,C,H,W", help="the model's input with batch 1, with --model")
    e.set_defaults(func=cmd_export)


def cmd_export(a: argparse.Namespace) -> int:
    import torch

    from ..search.inherit import run_model
    from ..train.data import data_for_space, make_loader
    from ..train.deploy import check_export, export_file, load_model

    fmt = a.format or Path(a.output).suffix.lstrip(".").lower()
    if fmt not in ("onnx", "pte"):
        raise UsageError(f"cannot tell the format from {a.output!r}: pass --format onnx or pte")
    if a.input_shape and not a.model:
        raise UsageError("--input-shape goes with --model")
    import os

    if os.getcwd() not in sys.path:  # a recorded factory is imported from the current directory, as --model is
        sys.path.insert(0, os.getcwd())
    given = space_from_args(a) if a.model else None
    data = calib = None
    if a.data:
        src = Path(a.source)
        try:
            space = load_model(src, given)[2] if (src.suffix == ".pt" or (src / "model.pt").exists()) else None
        except UsageError:
            space = None
        if space is None:
            from ..search.export import load_exported

            space = given or load_exported(src)[1]
        data = data_for_space(a.data, space, limit=a.data_limit, augment="none")
        calib = make_loader(data.train, 64, generator=torch.Generator().manual_seed(0))
    model, arch, space, what = run_model(a.source, recalibrate_with=calib, space=given)
    if data is None and "supernet" in what:
        print("note: BatchNorm statistics are the supernet's (they mix every path); pass --data to re-estimate them")
    path = export_file(model, space, a.output, fmt)
    if data is not None:
        x = next(iter(make_loader(data.test, 8, shuffle=False)))[0]
    else:
        x = torch.randn(8, space.in_channels, space.resolution, space.resolution,
                        generator=torch.Generator().manual_seed(0))
    check = check_export(path, model, x)
    print(f"arch     {arch}")
    print(f"weights  {what}")
    print(f"wrote    {path} ({fmt}, input 1x{space.in_channels}x{space.resolution}x{space.resolution})")
    print(f"check    max |{fmt} - torch| = {check.max_abs_diff:.2e} on {check.images} "
          f"{'test' if data is not None else 'random'} images ({'within' if check.ok else 'OVER'} "
          f"{check.tolerance:g})")
    return 0 if check.ok else 1


def _json_object(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {"space": None}  # not a JSON record: let load_exported say what is wrong
    return data if isinstance(data, dict) else {"space": None}


def cmd_retrain(a: argparse.Namespace) -> int:
    from ..search.export import load_exported
    from ..search.inherit import inherited_weights
    from ..search.run import RunDir
    from ..train.data import data_for_space
    from ..train.retrain import RetrainConfig, retrain

    costs, run_dir = None, None
    if a.source:
        src = Path(a.source)
        if a.model and src.is_file() and "space" not in _json_object(src):  # NNI's nni_arch.json, or a bare record
            space = space_from_args(a)
            arch = space.parse(src.read_text())
        else:
            arch, space, record = load_exported(src)
        if getattr(space, "kind", None) == "model" and (a.model or space.factory_ref) and a.source and \
                not (a.model and src.is_file() and "space" not in _json_object(src)):
            from ..space.model_space import ModelSpace, check_same_space

            # the model named now, else the one the run recorded (as `search --resume` does)
            live = space_from_args(a) if a.model else ModelSpace(space.factory_ref, space.input_shape)
            check_same_space(space.to_dict(), live, f"the searched architecture in {src}")
            space, arch = live, live.parse(record)
        if src.is_dir():
            run_dir = src
            if RunDir(src).file(RunDir.COSTS).exists():
                costs = RunDir(src).costs()
    elif a.arch:
        space = space_from_args(a)
        arch = space.parse(a.arch)
    else:
        raise UsageError("retrain needs a search run directory, an arch.json, or --arch with --space")
    if a.inherit and run_dir is None:
        raise UsageError("--inherit needs a search run directory (it holds the supernet checkpoint)")
    if a.data is None:  # the data the search ran on, as `search --resume` takes it
        rec = (RunDir(run_dir).config().get("inputs") or {}) if run_dir is not None and \
            RunDir(run_dir).file(RunDir.CONFIG).exists() else {}
        if rec.get("data"):
            a.data = rec["data"]
            if a.data_limit is None:
                a.data_limit = rec.get("data_limit")
            if a.augment is None:
                a.augment = rec.get("augment")
            if not a.quiet:
                print(f"data: {a.data}" + (f" (at most {a.data_limit} images)" if a.data_limit else "")
                      + ", as the search run recorded (--data to train on another)")
        else:
            a.data = "digits"
    cfg = RetrainConfig(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed, device=a.device or "auto",
                        amp=a.amp or "off", channels_last=channels_last_flag(a), workers=a.workers)
    data = data_for_space(a.data, space, seed=a.seed, limit=a.data_limit, augment=a.augment)
    backend = None if a.no_measure else backend_from_args(a)
    init = inherited_weights(run_dir, arch, space) if a.inherit else None
    res = retrain(arch, space, data, cfg, init_weights=init, backend=backend, costs=costs,
                  output=a.output, progress=not a.quiet, log=None if a.quiet else print)
    print(f"arch          {arch}")
    print(f"test accuracy {res.test_acc:.4f} ({data.name}, {len(data.test)} images; "
          f"{'inherited supernet weights' if res.inherited else 'from scratch'}, {res.epochs} "
          f"epoch{'' if res.epochs == 1 else 's'})")
    print(f"trained on    {res.runtime['device']} (mixed precision {res.runtime['amp']})")
    if res.measured_ms is not None:
        print(f"measured      {res.measured_ms:.4g} ms {backend.protocol.statistic} ({backend.name}, "
              f"{backend.threads} thread(s))")
    if res.predicted_ms is not None:
        extra = f" ({res.predicted_ms / res.measured_ms - 1:+.1%} vs measured)" if res.measured_ms else ""
        print(f"predicted     {res.predicted_ms:.4g} ms{extra}")
    for e in res.exported:
        print(f"exported      {e['path']}: max |file - torch| {e['max_abs_diff']:.2e} on {e['images']} test images "
              f"({'within' if e['ok'] else 'OVER'} {e['tolerance']:g})")
    if a.output:
        print(f"wrote {Path(a.output) / 'retrain.json'} and model.pt")
    return 0
