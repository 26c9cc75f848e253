"""A user's network as a search space: the ``LayerChoice`` / ``InputChoice`` points found in its module tree.

:class:`ModelSpace` gives a model the interface hwnas's built-in MBConv spaces have (decisions and their labels,
table keys per choice, sampling, parsing, building a fixed network), so that profiling, predictors, search and
export run on it unchanged:

- every choice is found in ``named_modules`` order; choices with the same key share one decision;
- one forward pass with hooks records the input shape each choice sees; each candidate is checked against its
  siblings' output shapes, and is timed alone at that shape (its table key: :class:`ModuleKey`, the candidate's
  fingerprint plus the input shape, so identical candidates at equal shapes are timed once);
- the space's fingerprint (every candidate's class, configuration and parameter shapes, the input shapes, and the
  shapes of the parameters outside the choices) is recorded by tables, predictors and runs, which refuse another.

An architecture of a model space is a :class:`ModelArch`: the chosen label of every decision, written
``key=label;key=label``; NNI's JSON (key → one-hot list, multi-hot for several chosen inputs) reads and writes too.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..errors import UsageError
from .choices import InputChoice
from .counting import count_params
from .discovery import Decision, discover, find_choices, load_factory, qualified
from .fixed import apply_fixed_architecture
from .keys import ModuleKey, parse_shape, shape_text
from .nni_json import ChoiceInfo, label_inputs, read_value, write_value
from .spec import ArchError, ModelArch


class ModelSpace:
    """A user's ``nn.Module`` with choice points, as a search space.

    ``factory`` builds a fresh model (a class or function; ``"package.module:factory"`` works too), ``input_shape``
    is the shape of one input with batch 1 (e.g. ``(1, 1, 28, 28)``). Discovery runs one forward pass on zeros."""

    kind = "model"

    def __init__(self, factory: Callable[[], nn.Module] | str, input_shape: tuple[int, ...] | str, *,
                 name: str | None = None):
        self.factory_ref = factory if isinstance(factory, str) else qualified(factory)
        self.factory = load_factory(factory) if isinstance(factory, str) else factory
        self.input_shape = parse_shape(input_shape)
        if len(self.input_shape) < 2 or self.input_shape[0] != 1:
            raise UsageError(f"--input-shape must start with a batch of 1, e.g. 1,1,28,28; got "
                             f"{shape_text(self.input_shape)}")
        template = _call_factory(self.factory, self.factory_ref)
        if not isinstance(template, nn.Module):
            raise UsageError(f"model factory {self.factory_ref!r} returned {type(template).__name__}, not a "
                             "torch.nn.Module")
        self.name = name or (self.factory_ref.rsplit(":", 1)[-1] if self.factory_ref else type(template).__name__)
        self._template = template
        self.decisions, self._modules, self.num_classes, self._rest, self.choice_paths = discover(
            template, self.input_shape)
        self.fingerprint = hashlib.sha1(json.dumps(
            [d.to_dict() for d in self.decisions] + [self._rest, shape_text(self.input_shape)],
            sort_keys=True).encode()).hexdigest()[:16]
        inputs = {c.key: c for _, c in find_choices(template) if isinstance(c, InputChoice)}  # keys set by discover
        # an InputChoice of one option is no decision, but NNI's JSON has its key: key -> its only label
        self.single_inputs = {k: c.names[0] for k, c in inputs.items() if len(c.options) < 2}
        self.input_names = {k: list(c.input_names) for k, c in inputs.items() if c.input_names}

    # ---- the interface the stages use (shared with the built-in MBConv spaces) ------------------------------------
    @property
    def in_channels(self) -> int:
        return self.input_shape[1]

    @property
    def resolution(self) -> int:
        return self.input_shape[-1]

    @property
    def num_decisions(self) -> int:
        return len(self.decisions)

    def choice_labels(self) -> list[tuple[str, ...]]:
        return [d.labels for d in self.decisions]

    def decision_names(self) -> list[str]:
        return [d.key for d in self.decisions]

    def decision_groups(self) -> list[int]:
        """The calibration group of every decision: each decision is its own group."""
        return list(range(len(self.decisions)))

    def kinds(self) -> tuple[str, ...]:
        """The candidate kinds the calibrated predictor scales separately (candidate class and label)."""
        seen: dict[str, None] = {}
        for d in self.decisions:
            if d.kind == "layer":
                for c, lab in zip(d.classes, d.labels, strict=True):
                    seen.setdefault(f"{c}:{lab}", None)
        return tuple(seen)

    def choice_kind(self, d: int, option: int) -> int:
        """Index of the option's kind in :meth:`kinds`, or -1 for an input choice."""
        dec = self.decisions[d]
        if dec.kind != "layer":
            return -1
        return self.kinds().index(f"{dec.classes[option]}:{dec.labels[option]}")

    def choice_active(self, d: int, option: int) -> bool:
        """Whether the option runs anything (an input choice of no input does not)."""
        dec = self.decisions[d]
        return dec.kind == "layer" or dec.labels[option] != "none"

    def fixed_keys(self) -> tuple[ModuleKey, ...]:
        """Nothing outside the choices is timed in isolation: the calibrated predictor learns the rest from whole
        networks measured end to end."""
        return ()

    def choice_keys(self, d: int, option: int) -> tuple[ModuleKey, ...]:
        return self.decisions[d].keys[option]

    def layer_keys(self) -> tuple[ModuleKey, ...]:
        seen: dict[ModuleKey, None] = {}
        for d in self.decisions:
            for ks in d.keys:
                for k in ks:
                    seen.setdefault(k, None)
        return tuple(seen)

    def module_for(self, key: ModuleKey) -> nn.Module:
        """A copy of the candidate module a table key times (for profiling it alone)."""
        try:
            return copy.deepcopy(self._modules[key.ident()])
        except KeyError:
            raise UsageError(f"model space {self.name!r} has no candidate {key.fingerprint} at {key.input_shape}") \
                from None

    # ---- architectures ----------------------------------------------------------------------------------------
    def from_indices(self, indices: list[int] | tuple[int, ...]) -> ModelArch:
        if len(indices) != len(self.decisions):
            raise ArchError(f"model space {self.name!r} has {len(self.decisions)} decisions, got {len(indices)} "
                            "choices")
        return ModelArch(tuple((d.key, d.labels[int(i)]) for d, i in zip(self.decisions, indices, strict=True)))

    def indices(self, arch: ModelArch) -> list[int]:
        self.validate(arch)
        return [d.labels.index(v) for d, (_, v) in zip(self.decisions, arch.choices, strict=True)]

    def validate(self, arch: Any) -> ModelArch:
        if not isinstance(arch, ModelArch):
            raise ArchError(f"expected an architecture of model space {self.name!r}, got {type(arch).__name__}")
        keys = [k for k, _ in arch.choices]
        want = self.decision_names()
        if keys != want:
            missing, extra = sorted(set(want) - set(keys)), sorted(set(keys) - set(want))
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise ArchError(f"the architecture's keys do not match model space {self.name!r}: "
                            + "; ".join(p for p in (f"missing {missing}" if missing else "",
                                                    f"not in the model {extra}" if extra else "",
                                                    f"given twice {twice}" if twice else "") if p)
                            + ("" if missing or extra or twice else f"; expected the order {want}"))
        for d, (_, v) in zip(self.decisions, arch.choices, strict=True):
            if v not in d.labels:
                raise ArchError(f"choice {d.key!r}: {v!r} is not one of {list(d.labels)}")
        return arch

    def parse(self, text: str | Mapping[str, Any]) -> ModelArch:
        """``key=label;key=label``, hwnas's JSON record (``{"arch": ...}`` or ``{"choices": {...}}``), or NNI's JSON
        (key → one-hot / multi-hot list)."""
        if isinstance(text, str):
            t = text.strip()
            if t.endswith(".json") and not t.startswith("{"):  # a file: nni_arch.json, arch.json
                try:
                    t = Path(t).read_text()
                except OSError as exc:
                    raise ArchError(f"cannot read architecture file {text}: {exc.strerror or exc}") from None
            if not t.startswith("{"):
                return self._parse_string(t)
            try:
                data = json.loads(t)
            except json.JSONDecodeError as exc:
                raise ArchError(f"architecture JSON is malformed: {exc}") from None
        else:
            data = text
        if not isinstance(data, Mapping):
            raise ArchError("an architecture JSON must be an object")
        if "choices" in data and isinstance(data["choices"], Mapping):
            data = data["choices"]
        elif "arch" in data and isinstance(data["arch"], str):
            return self._parse_string(data["arch"])
        return self.from_nni(data)

    def _parse_string(self, text: str) -> ModelArch:
        given = ModelArch.pairs(text)
        for key, label in list(given.items()):  # a one-option InputChoice: no decision, but its key may be named
            if key in self.single_inputs:
                if label != self.single_inputs[key]:
                    raise ArchError(f"input choice {key!r}: {label!r} is not its only option "
                                    f"{self.single_inputs[key]!r}")
                del given[key]
        order = self.decision_names()  # any order is accepted; the record keeps the model's
        for d in self.decisions:  # a one-candidate LayerChoice may be left out, as a one-option InputChoice is
            if d.key not in given and len(d.labels) == 1:
                given[d.key] = d.labels[0]
        if set(given) == set(order):
            return self.validate(ModelArch(tuple((k, given[k]) for k in order)))
        return self.validate(ModelArch(tuple(given.items())))

    def choice_info(self, key: str) -> ChoiceInfo:
        """What reading NNI's JSON needs to know of the choice ``key`` (a decision or a one-option InputChoice)."""
        if key in self.single_inputs:
            label = self.single_inputs[key]
            return ChoiceInfo(key, "input", (label,), max(label_inputs(label), default=-1) + 1,
                              self._names_of(key), "all")
        d = self.decisions[self.decision_names().index(key)]
        if d.kind == "layer":
            return ChoiceInfo(key, "layer", d.labels)
        n_chosen = {len(label_inputs(lab)) for lab in d.labels}
        return ChoiceInfo(key, "input", d.labels, self._input_count(d), self._names_of(key),
                          n_chosen.pop() if len(n_chosen) == 1 else None)

    def _names_of(self, key: str) -> tuple[str, ...] | None:
        names = self.input_names.get(key)
        return tuple(names) if names else None

    def nni_keys(self) -> list[str]:
        """Every key NNI's JSON has: the decisions' and the one-option InputChoices'."""
        return self.decision_names() + [k for k in self.single_inputs if k not in self.decision_names()]

    def from_nni(self, data: Mapping[str, Any]) -> ModelArch:
        """NNI's exported JSON, in any of its dialects (:func:`hwnas.space.nni_json.read_value`): key → list of
        booleans (one-hot over a LayerChoice's candidates, multi-hot over an InputChoice's inputs), names, indices.
        A choice with a single option (of either kind) may be left out."""
        keys = self.nni_keys()
        single = {d.key for d in self.decisions if len(d.labels) == 1} | set(self.single_inputs)
        unknown = sorted(set(data) - set(keys))
        missing = sorted(set(keys) - set(data) - single)
        if unknown or missing:
            raise ArchError(f"the JSON's keys do not match model space {self.name!r}"
                            + (f"; not in the model: {unknown}" if unknown else "")
                            + (f"; missing: {missing}" if missing else ""))
        for key in self.single_inputs:
            if key in data:
                read_value(self.choice_info(key), data[key])  # its only option, or refused
        return self.validate(ModelArch(tuple(
            (d.key, read_value(self.choice_info(d.key), data[d.key]) if d.key in data else d.labels[0])
            for d in self.decisions)))

    def to_nni(self, arch: ModelArch) -> dict[str, list[bool]]:
        """NNI 1.x's JSON for ``arch`` (``apply_fixed_architecture``'s format): every key, each a one-hot list over a
        LayerChoice's candidates or a multi-hot list over an InputChoice's inputs."""
        chosen = {**self.validate(arch).as_dict(), **self.single_inputs}
        return {k: write_value(self.choice_info(k), chosen[k]) for k in self.nni_keys()}

    def to_nni3(self, arch: ModelArch) -> dict[str, Any]:
        """NNI 3.0's sample for ``arch`` (what ``nni.nas.space.model_context`` and ``ModelSpace.freeze`` take): every
        key, a LayerChoice's candidate name (its index for a list of candidates), an InputChoice's list of input
        indices. NNI 3.0 does not read NNI 1.x's one-hot lists (it refuses them for a LayerChoice and reads an
        InputChoice's booleans as indices); hwnas reads both forms."""
        chosen = {**self.validate(arch).as_dict(), **self.single_inputs}
        out: dict[str, Any] = {}
        for k in self.nni_keys():
            info = self.choice_info(k)
            if info.kind == "input":
                out[k] = list(label_inputs(chosen[k]))
            elif info.labels == tuple(str(i) for i in range(len(info.labels))):
                out[k] = int(chosen[k])  # a list of candidates: NNI 3.0 names them 0, 1, ...
            else:
                out[k] = chosen[k]
        return out

    def _input_count(self, d: Decision) -> int:
        mod = self._template.get_submodule(d.paths[0])
        return mod.n_candidates  # type: ignore[union-attr]

    def sample(self, rng: np.random.Generator | int) -> ModelArch:
        rng = np.random.default_rng(rng)
        return self.from_indices([int(rng.integers(len(d.labels))) for d in self.decisions])

    def first(self) -> ModelArch:
        """The architecture the model computes outside a search (first candidates, first inputs)."""
        out = []
        for d in self.decisions:
            mod = self._template.get_submodule(d.paths[0])
            out.append(mod.default_option() if isinstance(mod, InputChoice) else 0)
        return self.from_indices(out)

    def arch_keys(self, arch: ModelArch) -> list[ModuleKey]:
        return [k for d, i in enumerate(self.indices(arch)) for k in self.choice_keys(d, i)]

    def macs(self, arch: ModelArch) -> int:
        return sum(k.macs() for k in self.arch_keys(arch))

    def params(self, arch: ModelArch) -> int:
        return count_params(self.build_model(arch))

    # ---- models -----------------------------------------------------------------------------------------------
    def build(self) -> nn.Module:
        """A fresh model with every choice still in it (the supernet's body)."""
        model = _call_factory(self.factory, self.factory_ref)
        if tuple(p for p, _ in find_choices(model)) != self.choice_paths:
            raise UsageError(f"model factory {self.factory_ref!r} built a model with other choices than before")
        return model

    def build_model(self, arch: ModelArch, *, dropout: float = 0.0) -> nn.Module:
        """The fixed network of ``arch``: every choice replaced by what it chose."""
        return apply_fixed_architecture(self.build(), arch, space=self)

    # ---- persistence ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "factory": self.factory_ref,
                "input_shape": list(self.input_shape), "fingerprint": self.fingerprint,
                "num_classes": self.num_classes, "decisions": [d.to_dict() for d in self.decisions],
                "single_inputs": dict(self.single_inputs), "input_names": dict(self.input_names)}

    def __repr__(self) -> str:
        return (f"ModelSpace({self.name!r}, {len(self.decisions)} decisions, input {shape_text(self.input_shape)}, "
                f"fingerprint {self.fingerprint})")


def _call_factory(factory: Callable[[], nn.Module], ref: str | None) -> Any:
    """The user's factory called with no arguments; its own errors are named as such."""
    try:
        return factory()
    except TypeError as exc:
        if "argument" in str(exc):
            raise UsageError(f"model factory {ref or factory!r} needs arguments ({exc}): give --model a class or "
                             "function that takes none, e.g. def small(): return Net(width=16)") from None
        raise UsageError(f"model factory {ref or factory!r} failed: TypeError: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's code: report it as theirs
        raise UsageError(f"model factory {ref or factory!r} failed: {type(exc).__name__}: {exc}") from None


class RecordedModelSpace(ModelSpace):
    """A model space read back from a file (a table's or predictor's metadata): its decisions, keys and fingerprint,
    without the user's code. It prices and parses architectures; building a network needs the model
    (``--model package.module:factory``), whose fingerprint must match."""

    def __init__(self, d: Mapping[str, Any]):  # noqa: D107 - no discovery: the record is the space
        try:
            self.name, self.factory_ref = str(d["name"]), d.get("factory")
            self.input_shape = parse_shape(d["input_shape"])
            self.fingerprint = str(d["fingerprint"])
            self.num_classes = d.get("num_classes")
            self.decisions = tuple(Decision.from_dict(x) for x in d["decisions"])
            # recorded since NNI's JSON holds every key (older records lack them: their one-option InputChoices are
            # then unknown keys)
            self.single_inputs = {str(k): str(v) for k, v in dict(d.get("single_inputs") or {}).items()}
            self.input_names = {str(k): [str(n) for n in v] for k, v in dict(d.get("input_names") or {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the model space record is incomplete or damaged ({type(exc).__name__}: {exc})") \
                from None
        self.factory, self._template, self._modules, self._rest, self.choice_paths = None, None, {}, [], ()

    def _need_model(self) -> None:
        raise UsageError(f"building networks of model space {self.name!r} needs its code: pass --model "
                         f"{self.factory_ref or 'package.module:factory'} --input-shape "
                         f"{','.join(map(str, self.input_shape))}")

    def live(self) -> ModelSpace:
        """The space rebuilt from the factory the record names (the user's own code, as ``search --resume`` does),
        refused if its fingerprint is not the recorded one."""
        live = getattr(self, "_live_space", None)
        if live is None:
            if not self.factory_ref:
                self._need_model()
            live = ModelSpace(self.factory_ref, self.input_shape)
            if live.fingerprint != self.fingerprint:
                raise UsageError(f"{self.factory_ref} now builds another model (fingerprint {live.fingerprint}, "
                                 f"recorded {self.fingerprint}): its candidates, input shapes or the rest of the "
                                 "model changed since the record was made")
            self._live_space = live
        return live

    def build(self) -> nn.Module:
        return self.live().build()

    def module_for(self, key: ModuleKey) -> nn.Module:
        return self.live().module_for(key)

    def first(self) -> ModelArch:
        return self.from_indices([0] * len(self.decisions))

    def _input_count(self, d: Decision) -> int:
        return max((int(v) for lab in d.labels if lab != "none" for v in lab.split("+")), default=-1) + 1


def space_from_dict(d: Mapping[str, Any], where: str = "space record") -> Any:
    """The space a file records: a built-in MBConv space, or a model space (its record, without the user's code)."""
    from .spaces import SearchSpace

    if not isinstance(d, Mapping):
        raise UsageError(f"{where}: a space record must be a JSON object, not {type(d).__name__}")
    if d.get("kind") == "model":
        return RecordedModelSpace(d)
    return SearchSpace.from_dict(dict(d), where=where)


def arch_from_record(space: Any, data: Mapping[str, Any]) -> Any:
    """The architecture an exported record (``arch.json``) holds, for ``space``."""
    from .spec import ArchSpec

    if getattr(space, "kind", None) == "model":
        return space.parse(data)
    return space.validate(ArchSpec.from_dict(data))


def check_same_space(recorded: Mapping[str, Any] | None, space: Any, what: str) -> None:
    """Refuse a file made for another model (fingerprints differ)."""
    if recorded is None or space is None:
        return
    if (recorded.get("kind") == "model") != (getattr(space, "kind", None) == "model"):
        raise UsageError(f"{what} was made for " + (f"model {recorded.get('name')!r}" if recorded.get("kind") == "model"
                         else f"the built-in space {recorded.get('name')!r}") + f", not for {space.name!r}")
    if recorded.get("kind") != "model":
        return
    fp = recorded.get("fingerprint")
    if fp != space.fingerprint:
        raise UsageError(f"{what} was made for model space {recorded.get('name')!r} (fingerprint {fp}), not for "
                         f"{space.name!r} (fingerprint {space.fingerprint}): its candidates, input shapes or the "
                         "rest of the model differ; profile this model again")
