"""The trial API in the shape of NNI's classic mode: a user's own training script, with two added lines, is one
trial of a study.

    arch = hwnas.trial.next_architecture(model, study="sqlite:///study.db", input_shape=(1, 1, 28, 28))
    ...  # the script's own training and testing
    hwnas.trial.report(accuracy)

:func:`next_architecture` asks the study (Optuna) for the next architecture and applies it: on a model with
``LayerChoice`` / ``InputChoice`` it replaces each choice by the sampled candidate (as NNI's
``get_and_apply_next_architecture`` does); on a built-in space or a :class:`~hwnas.space.model_space.ModelSpace` it
returns the architecture to build. :func:`report` tells the study the accuracy and the latency (from ``latency=``,
the latency model or a function, or measured on ``input_shape`` with a profiler backend).

Run the script as many times, in as many processes and on as many machines as wanted (``for i in $(seq 20); do
python train.py; done``, a SLURM array): each run is one trial of the shared study. A run that ends without calling
:func:`report` is recorded failed with that reason, and one that raises is recorded failed with its error. Without
a study (``study=None``) the first candidates are applied and :func:`report` records nothing: NNI's standalone mode
for debugging the script.
"""

from __future__ import annotations

import atexit
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .objective import one_line
from .samplers import make_sampler, suggest_architecture
from .study import OBJECTIVES, check_study, make_storage, optuna_module, space_fingerprint

NO_REPORT = "the trial script ended without calling hwnas.trial.report(accuracy)"
DEFAULT_STUDY = "hwnas-trials"


class ModuleChoices:
    """The decisions of a live ``nn.Module`` (its ``LayerChoice`` / ``InputChoice`` points, equal keys one
    decision), read without a forward pass: what a sampler needs to propose, and what a study fingerprints."""

    kind = "module"

    def __init__(self, model: Any):
        from ..space.discovery import find_choices

        self.name = type(model).__name__
        found = find_choices(model)
        if not found:
            raise UsageError(f"{self.name} has no LayerChoice or InputChoice: nothing to choose")
        self._decisions: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._defaults: list[int] = []
        for path, c in found:
            key = c.key or path
            labels = tuple(c.names)
            if len(labels) < 2 or key in self._decisions:
                continue
            classes = tuple(type(m).__name__ for m in getattr(c, "candidates", ())) or (f"input:{c.reduction}",)
            self._decisions[key] = (labels, classes)
            self._defaults.append(c.default_option() if hasattr(c, "default_option") else 0)

    def decision_names(self) -> list[str]:
        return list(self._decisions)

    def choice_labels(self) -> list[tuple[str, ...]]:
        return [labels for labels, _ in self._decisions.values()]

    def from_indices(self, indices: list[int]) -> Any:
        from ..space.spec import ModelArch

        return ModelArch(tuple((k, labels[i]) for (k, (labels, _)), i in zip(self._decisions.items(), indices,
                                                                               strict=True)))

    def first(self) -> Any:
        """What the model computes outside a search: first candidates, an InputChoice's default inputs."""
        return self.from_indices(self._defaults)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name,
                "decisions": [[k, list(labels), list(classes)] for k, (labels, classes) in self._decisions.items()]}


@dataclass
class _Pending:
    study: Any
    trial: Any
    arch: Any
    target: Any          # the model the choices were applied to, or the space
    latency: Any
    input_shape: tuple[int, ...] | None
    backend: str


_pending: _Pending | None = None
_standalone = False   # next_architecture ran without a study: report records nothing
_hooked = False


def _fail(p: _Pending, reason: str) -> None:
    optuna = optuna_module()
    try:
        p.trial.set_user_attr("error", reason)
        p.study.tell(p.trial, state=optuna.trial.TrialState.FAIL)
    except Exception as exc:  # noqa: BLE001 - at exit, the storage may be gone: say so, lose nothing else
        print(f"hwnas.trial: could not record trial {p.trial.number} as failed: {one_line(exc)}", file=sys.stderr)
        return
    print(f"hwnas.trial: trial {p.trial.number} failed: {reason}", file=sys.stderr)


def _at_exit() -> None:
    global _pending
    if _pending is not None:
        p, _pending = _pending, None
        _fail(p, NO_REPORT)


def _excepthook(exc_type: type, exc: BaseException, tb: Any) -> None:
    global _pending
    if _pending is not None:
        p, _pending = _pending, None
        _fail(p, one_line(exc))
    _previous_hook(exc_type, exc, tb)


_previous_hook = sys.excepthook


def _hook() -> None:
    global _hooked, _previous_hook
    if not _hooked:
        atexit.register(_at_exit)
        _previous_hook = sys.excepthook
        sys.excepthook = _excepthook
        _hooked = True


def _space_of(model_or_space: Any) -> Any:
    from torch import nn

    if isinstance(model_or_space, nn.Module):
        return ModuleChoices(model_or_space)
    if hasattr(model_or_space, "choice_labels") and hasattr(model_or_space, "from_indices"):
        return model_or_space
    raise UsageError(f"next_architecture takes a model with LayerChoice/InputChoice or a search space, not "
                     f"{type(model_or_space).__name__}")


def open_trial_study(study: Any, space: Any, *, study_name: str = DEFAULT_STUDY, sampler: str = "nsga2",
                     seed: int | None = None) -> Any:
    """``study`` as an Optuna study: one given, or the study ``study_name`` in the storage URL ``study``, created
    for ``space`` (accuracy up, latency down) when it does not exist, and refused when made for another space."""
    optuna = optuna_module()
    record = {"space": space_fingerprint(space), "space_name": getattr(space, "name", "?"),
              "objectives": [list(o) for o in OBJECTIVES], "settings": {}}
    if isinstance(study, str):
        storage = make_storage(study, heartbeat_interval=None)  # Optuna beats only inside Study.optimize
        study = optuna.create_study(study_name=study_name, storage=storage, directions=[d for _, d in OBJECTIVES],
                                    sampler=make_sampler(sampler, space=space, seed=seed), load_if_exists=True)
    elif not hasattr(study, "ask"):
        raise UsageError(f"study= takes an optuna Study or a storage URL (sqlite:///study.db, journal:PATH), not "
                         f"{type(study).__name__}")
    check_study(study, record)
    return study


def next_architecture(model_or_space: Any, study: Any = None, *, study_name: str = DEFAULT_STUDY,
                      latency: Any = None, input_shape: tuple[int, ...] | None = None,
                      backend: str = "onnxruntime", sampler: str = "nsga2") -> Any:
    """Ask the study for the next architecture and apply it (NNI's ``get_and_apply_next_architecture``).

    ``model_or_space``: a model with ``LayerChoice`` / ``InputChoice`` (its choices are replaced in place by the
    sampled candidates), a built-in space or a model space (build the returned architecture yourself). ``study``:
    an Optuna study or a storage URL (then ``study_name``, created with ``sampler`` if new); ``None``: standalone
    mode (first candidates, nothing recorded). Latency for :func:`report`: ``latency`` (a latency model from
    :func:`hwnas.predictors.loader.load_latency_model`, :class:`~hwnas.predictors.block_costs.BlockCosts` of the
    space, or a function of the applied model or architecture giving ms), else measured on ``input_shape`` with
    ``backend``, else given to :func:`report`. Returns the architecture."""
    global _pending, _standalone
    space = _space_of(model_or_space)
    if _pending is not None:  # the previous trial of this process never reported
        p, _pending = _pending, None
        _fail(p, NO_REPORT)
    _standalone = study is None
    if study is None:
        arch = space.first() if hasattr(space, "first") else space.from_indices([0] * len(space.choice_labels()))
        trial = None
    else:
        study = open_trial_study(study, space, study_name=study_name, sampler=sampler)
        trial = study.ask()
        try:
            arch = suggest_architecture(trial, space)
        except Exception as exc:
            trial.set_user_attr("error", one_line(exc))
            study.tell(trial, state=optuna_module().trial.TrialState.FAIL)
            raise
        trial.set_user_attr("arch", str(arch))
    if isinstance(space, ModuleChoices):
        from ..space.fixed import apply_fixed_architecture

        apply_fixed_architecture(model_or_space, arch)
    if trial is not None:
        _pending = _Pending(study, trial, arch, model_or_space, latency,
                            tuple(input_shape) if input_shape is not None else None, backend)
        _hook()
    return arch


def _latency_of(p: _Pending) -> float | None:
    lat = p.latency
    if lat is not None:
        if hasattr(lat, "costs") and hasattr(lat, "space"):  # a LatencyModel
            return float(lat.costs.arch_ms(p.arch, lat.space))
        if hasattr(lat, "arch_ms"):  # BlockCosts of the space
            return float(lat.arch_ms(p.arch, p.target))
        if callable(lat):
            return float(lat(p.target))
        raise UsageError(f"latency= takes a latency model, BlockCosts or a function, not {type(lat).__name__}")
    if p.input_shape is not None:
        from torch import nn

        from ..profilers import create_backend

        model = p.target if isinstance(p.target, nn.Module) else p.target.build_model(p.arch)
        was = model.training
        bk = create_backend(p.backend)
        try:
            m = bk.measure(model.eval(), p.input_shape).to_dict()
        finally:
            model.train(was)
        return float(m[bk.protocol.column])
    return None


def report(accuracy: float, latency_ms: float | None = None, **attrs: Any) -> dict[str, Any] | None:
    """Tell the study this trial's result: ``accuracy`` and the latency (given, or from what
    :func:`next_architecture` was told). ``attrs`` are kept with the trial. Returns the trial's record (``None`` in
    standalone mode)."""
    global _pending, _standalone
    p = _pending
    if p is None:
        if _standalone:  # standalone mode: nothing to record
            _standalone = False
            return None
        raise UsageError("hwnas.trial.report was called twice, or before hwnas.trial.next_architecture")
    acc = _number("accuracy", accuracy)
    if not 0 <= acc <= 1:
        raise UsageError(f"report: accuracy is a fraction from 0 to 1, not {accuracy!r} (a percentage? divide by 100)")
    if "latency" in attrs:
        raise UsageError("report takes the latency as latency_ms=<float>; a latency model or a function of the model "
                         "goes to next_architecture(..., latency=...)")
    # numpy scalars (a metric's np.float32) as plain numbers
    attrs = {k: (v.item() if getattr(v, "ndim", None) == 0 and hasattr(v, "item") else v) for k, v in attrs.items()}
    for k, v in attrs.items():  # checked before any is written: Optuna keeps a trial's attributes as JSON
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            raise UsageError(f"report: {k}={type(v).__name__} is not JSON data (a number, string, list or dict), "
                             "which Optuna keeps with the trial") from None
    if latency_ms is None:
        latency_ms = _latency_of(p)
    if latency_ms is None:
        raise UsageError("report needs the latency: report(accuracy, latency_ms=...), or next_architecture(..., "
                         "latency=LATENCY_MODEL) or next_architecture(..., input_shape=(1, C, H, W)) to measure it")
    latency_ms = _number("latency_ms", latency_ms)
    if latency_ms <= 0:
        raise UsageError(f"report: latency_ms is a positive number of milliseconds, not {latency_ms!r}")
    for k, v in attrs.items():
        p.trial.set_user_attr(k, v)
    p.trial.set_user_attr("accuracy", acc)
    p.trial.set_user_attr("latency_ms", float(latency_ms))
    p.study.tell(p.trial, [acc, float(latency_ms)])
    _pending = None
    return {"trial": p.trial.number, "arch": str(p.arch), "accuracy": acc, "latency_ms": float(latency_ms)}


def _number(name: str, value: Any) -> float:
    """``value`` as a finite float, else one line (a NaN or infinite objective would fail or dominate the front)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"report: {name} is not a number ({value!r})") from None
    if not math.isfinite(x):
        raise UsageError(f"report: {name} is not a finite number ({value!r})")
    return x


def pending_trial() -> Any:
    """The trial this process is running (``None`` outside a trial)."""
    return _pending.trial if _pending is not None else None

