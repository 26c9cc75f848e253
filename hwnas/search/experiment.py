"""An experiment file in ModularNAS's shape (YAML or JSON), for ``hwnas search --config exp.yaml``::

    method: proxyless-g            # optional: start from a named method (hwnas.search.methods)
    search_space:                  # a named space and its options, or your model
      name: proxyless-cifar        #   model: examples.resnet_space:ResNetSpace
      resolution: 16               #   input_shape: [1, 1, 28, 28]
      width_mult: 0.25
    mixed_op: {type: BinGate, binary_mode: two}
    optim: {type: binarygate, lr: 0.01}
    estim:                         # the estimator chain, in order (a mapping of named stages, or a list)
      warmup: {type: warmup, epochs: 3}
      search: {type: supernet, epochs: 6, arch_every: 1}
    latency: {predictor: calibrated.joblib, target_ms: 0.3, loss: add#abs, lambda: 1.0}
    trainer: {batch_size: 32, init_lr: 0.05, seed: 0}   # any search setting (hwnas.search.SearchConfig)
    data: {name: fashion-mnist, limit: 2000}

It is checked with a schema (pydantic, imported only here): a key that is not known is one line naming it and
what is allowed, and every part's settings are checked by its registry. :func:`load_experiment` returns the
search settings and the inputs (space, latency model, data) the command line would have given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputNotFound, UsageError

SECTIONS = ("method", "search_space", "mixed_op", "optim", "estim", "latency", "trainer", "data")
# optim keys that set the architecture Adam's settings (SearchConfig fields) rather than the optimizer's own
ADAM_KEYS = {"lr": "arch_optim_lr", "weight_decay": "arch_weight_decay", "eps": "arch_adam_eps"}
LATENCY_KEYS = {"loss": "latency_loss", "lambda": "loss_lambda", "alpha": "loss_alpha", "beta": "loss_beta",
                "target_ms": "target_ms", "reward": "rl_preset"}


def _schema() -> Any:
    """The pydantic models of the file (built on first use: pydantic is needed only for config files)."""
    from pydantic import BaseModel, ConfigDict, Field, StrictInt

    class Closed(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class Part(BaseModel):
        model_config = ConfigDict(extra="allow")
        type: str

    class Stage(Part):
        epochs: StrictInt = Field(ge=0)  # strict: ``epochs: true`` is not one epoch

    class Space(Closed):
        name: str | None = None
        model: str | None = None
        input_shape: list[int] | str | None = None
        resolution: int | None = None
        width_mult: float | None = None
        kernels: list[int] | None = None
        expands: list[int] | None = None
        num_classes: int | None = None

    class Latency(Closed):
        table: str | None = None
        predictor: str | None = None
        target_ms: float | None = Field(default=None, gt=0)
        loss: str | None = None
        lambda_: float | None = Field(default=None, alias="lambda", ge=0)
        alpha: float | None = None
        beta: float | None = None
        reward: str | None = None

    class Data(Closed):
        name: str | None = None
        limit: int | None = Field(default=None, ge=1)
        augment: str | None = None

    class Experiment(Closed):
        method: str | None = None
        search_space: Space | None = None
        mixed_op: Part | None = None
        optim: Part | None = None
        estim: list[Stage] | None = None  # a mapping of named stages is read as the list of its values
        latency: Latency | None = None
        trainer: dict[str, Any] | None = None
        data: Data | None = None

    return Experiment


def read_file(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputNotFound(f"experiment file not found: {path}")
    class Loader(yaml.SafeLoader):  # safe, and a key given twice is an error, not the last one silently winning
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    try:
        data = yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader; JSON is YAML too
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path} is not valid YAML/JSON: {first}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a mapping of {', '.join(SECTIONS)}, not {type(data).__name__}")
    return data


def is_experiment(data: dict[str, Any]) -> bool:
    """ModularNAS's shape (any of its sections, or no search setting at all), rather than a flat object of search
    settings (hwnas's older ``--config`` format, or a run's ``config.json``)."""
    from dataclasses import fields

    from .config import SearchConfig

    if "search" in data and isinstance(data["search"], dict):
        return False
    known = {f.name for f in fields(SearchConfig)}
    return any(k in data for k in SECTIONS if k != "method") or not any(k in known for k in data)


def load_experiment(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(SearchConfig, inputs) from an experiment file. ``inputs`` uses the command line's names: space, model,
    input_shape, resolution, width_mult, kernels, expands, num_classes, table, predictor, data, data_limit,
    augment (only those the file gives)."""
    from pydantic import ValidationError

    from .config import SearchConfig

    raw = read_file(path)
    if not is_experiment(raw):  # a flat object of SearchConfig fields (the format before experiment files)
        return SearchConfig.from_dict(raw.get("search", raw)), {}
    names = None
    if isinstance(raw.get("estim"), dict):  # named stages, in the file's order
        names = list(raw["estim"])
        raw = {**raw, "estim": list(raw["estim"].values())}
    try:
        exp = _schema().model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        if names and len(loc) > 1 and loc[0] == "estim" and isinstance(loc[1], int):
            loc[1] = names[loc[1]]
        where = ".".join(str(p) for p in loc)
        allowed = ""
        if err["type"] == "extra_forbidden":
            section = err["loc"][0] if len(err["loc"]) > 1 else None
            model = _schema() if section is None else _schema().model_fields[section].annotation
            fields = _fields(model)
            allowed = f"; allowed: {', '.join(fields)}" if fields else ""
        value = err.get("input")
        given = f", not {value!r}" if err["type"] != "extra_forbidden" and isinstance(value, (str, int, float)) else ""
        raise UsageError(f"{path}: {where}: {err['msg']}{given}{allowed}") from None
    try:
        return _resolve(exp, path)
    except UsageError as exc:
        raise UsageError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None


def _resolve(exp: Any, path: str | Path) -> tuple[Any, dict[str, Any]]:
    from .config import SearchConfig

    settings: dict[str, Any] = dict(exp.trainer or {})
    _check_trainer(settings, estim_given=exp.estim is not None)
    # α's Adam settings: the optim section's (files written before hwnas put them there kept them in trainer)
    adam_in_optim = {ADAM_KEYS[k] for k in (exp.optim.model_dump() if exp.optim else {}) if k in ADAM_KEYS}
    clash = sorted(adam_in_optim & set(settings))
    if clash:
        raise UsageError(f"trainer.{clash[0]}: the optim section sets it too; keep one")
    if isinstance(settings.get("supernet"), str) and not Path(settings["supernet"]).is_absolute():
        settings["supernet"] = str((Path(path).parent / settings["supernet"]).resolve())  # as the table's path
    inputs: dict[str, Any] = {}
    if exp.method:
        settings["method"] = exp.method
    if exp.search_space:
        sp = exp.search_space.model_dump(exclude_none=True)
        if "name" in sp:
            sp["space"] = sp.pop("name")
        if isinstance(sp.get("input_shape"), list):
            sp["input_shape"] = ",".join(map(str, sp["input_shape"]))
        for k in ("kernels", "expands"):
            if k in sp:
                sp[k] = tuple(sp[k])
        inputs.update(sp)
    if exp.mixed_op:
        mixed = exp.mixed_op.model_dump()
        settings["mixed_op"] = mixed.pop("type")
        settings["mixed_op_args"] = mixed or None
    if exp.optim:
        optim = exp.optim.model_dump()
        name = optim.pop("type")
        settings["arch_optim"] = name
        from .optim import OPTIMIZERS

        own = OPTIMIZERS.settings(name)
        for k in list(optim):
            if k not in own and k in ADAM_KEYS:
                settings[ADAM_KEYS[k]] = optim.pop(k)
        settings["arch_optim_args"] = OPTIMIZERS.check_args(name, optim) or None
    if exp.estim is not None:
        settings["stages"] = [s.model_dump() for s in exp.estim]
    if exp.latency:
        lat = exp.latency.model_dump(exclude_none=True, by_alias=True)
        for k in ("table", "predictor"):
            if k in lat:
                inputs[k] = str((Path(path).parent / lat.pop(k)).resolve()) if not Path(lat[k]).is_absolute() \
                    else lat.pop(k)
        settings.update({LATENCY_KEYS[k]: v for k, v in lat.items()})
    if exp.data:
        d = exp.data.model_dump(exclude_none=True)
        if "name" in d:
            inputs["data"] = d["name"]
        if "limit" in d:
            inputs["data_limit"] = d["limit"]
        if "augment" in d:
            inputs["augment"] = d["augment"]
    _check_names(inputs)
    cfg = SearchConfig.from_dict(settings)
    from .methods import resolve_parts

    resolve_parts(cfg)  # every part and its settings known
    return cfg, inputs


def _check_names(inputs: dict[str, Any]) -> None:
    """A named space or data set the file gives, known (the error names the file's key, not only the name)."""
    from ..space import list_spaces
    from ..train.data import list_datasets

    space, data = inputs.get("space"), inputs.get("data")
    if isinstance(space, str) and space not in list_spaces():
        raise UsageError(f"search_space.name: unknown search space {space!r}; known: {', '.join(list_spaces())}")
    if isinstance(data, str) and data.partition(":")[0] not in list_datasets():
        raise UsageError(f"data.name: unknown dataset {data!r}; known: {', '.join(list_datasets())} (cifar10, "
                         f"folder and idx take a path: 'folder:/data/imagenet')")


# trainer keys another section owns: set there, or the two would fight (the last one silently winning)
_OWNED = {"method": "method", "mixed_op": "mixed_op", "mixed_op_args": "mixed_op", "arch_optim": "optim",
          "arch_optim_args": "optim", "stages": "estim", **{v: "latency" for v in LATENCY_KEYS.values()}}
_STAGE_KEYS = ("n_epochs", "warmup_epochs", "warmup", "search_rounds", "train_args", "search_args")


def _check_trainer(trainer: dict[str, Any], *, estim_given: bool) -> None:
    from dataclasses import fields

    from .config import SearchConfig

    # the settings this section takes: SearchConfig's fields but those another section sets, and display-only ones
    known = {f.name for f in fields(SearchConfig)}
    takes = sorted(k for k in known if k not in _OWNED and k != "progress" and not (estim_given and k in _STAGE_KEYS))
    unknown = sorted(k for k in trainer if k not in known)
    if unknown:
        raise UsageError(f"trainer.{unknown[0]}: unknown setting{'s' if len(unknown) > 1 else ''} "
                         f"({', '.join(unknown)}); the trainer section takes: {', '.join(takes)}")
    for k in trainer:
        if k in _OWNED:
            raise UsageError(f"trainer.{k}: set it in the {_OWNED[k]} section")
        if estim_given and k in _STAGE_KEYS:
            raise UsageError(f"trainer.{k}: the estim section sets the stages and their epochs; set it there")


def _fields(model: Any) -> list[str]:
    import typing

    for arg in (model, *typing.get_args(model)):
        if hasattr(arg, "model_fields"):
            return [f.alias or n for n, f in arg.model_fields.items()]
    return []


def to_experiment(cfg: Any, parts: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved experiment in the file's shape (written into the run as ``experiment.yaml``): every part and
    stage spelled out, the latency section, and the trainer settings that differ from the defaults."""
    from dataclasses import fields

    from .config import PART_FIELDS, SearchConfig

    defaults = SearchConfig()
    latency_fields = set(LATENCY_KEYS.values())
    elsewhere = latency_fields | PART_FIELDS | set(ADAM_KEYS.values()) | {"progress"}  # progress: display only
    trainer = {f.name: getattr(cfg, f.name) for f in fields(cfg)
               if f.name not in elsewhere and getattr(cfg, f.name) != getattr(defaults, f.name)}
    out: dict[str, Any] = {"method": cfg.method}
    ins = inputs or {}
    if ins.get("model"):
        out["search_space"] = {"model": ins["model"], "input_shape": ins.get("input_shape")}
    elif ins.get("space"):
        out["search_space"] = {"name": ins["space"], **{k: (list(ins[k]) if isinstance(ins[k], tuple) else ins[k])
                                                      for k in ("resolution", "width_mult", "kernels", "expands",
                                                                "num_classes") if ins.get(k) is not None}}
    out["mixed_op"] = dict(parts["mixed_op"])
    from .optim import OPTIMIZERS

    own = OPTIMIZERS.settings(parts["optim"]["type"])
    adam = {k: getattr(cfg, v) for k, v in ADAM_KEYS.items()
            if k not in own and (k == "lr" or getattr(cfg, v) != getattr(defaults, v))}
    out["optim"] = {**parts["optim"], **adam}
    out["estim"] = {f"{i}-{s['type']}": dict(s) for i, s in enumerate(parts["stages"])}
    lat = {k: getattr(cfg, v) for k, v in LATENCY_KEYS.items() if getattr(cfg, v) is not None}
    for k in ("table", "predictor"):
        if ins.get(k):
            lat[k] = ins[k]
    out["latency"] = lat
    if trainer:
        out["trainer"] = trainer
    data = {k2: ins[k1] for k1, k2 in (("data", "name"), ("data_limit", "limit"), ("augment", "augment"))
            if ins.get(k1) is not None}
    if data:
        out["data"] = data
    return out
