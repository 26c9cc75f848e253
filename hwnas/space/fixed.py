"""From a searched architecture back to a plain network: every choice replaced by what it chose (NNI's
``apply_fixed_architecture``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .choices import InputChoice, LayerChoice
from .discovery import find_choices
from .nni_json import ChoiceInfo, read_value
from .spec import ArchError, ModelArch


def _child(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, name = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), name


class FixedInputChoice(nn.Module):
    """An ``InputChoice`` after the search: always the same inputs, combined the same way (no parameters)."""

    def __init__(self, choice: InputChoice, option: int):
        super().__init__()
        self.n_candidates, self.reduction = choice.n_candidates, choice.reduction
        self.chosen = tuple(choice.options[option])
        self._reduce, self._as_list = choice.reduce, choice.as_list

    def forward(self, inputs: list[torch.Tensor | None] | dict[str, torch.Tensor | None]) -> Any:
        inputs = self._as_list(inputs)  # a list, or NNI 1.x's dict keyed by choose_from
        return self._reduce([inputs[i] for i in self.chosen])

    def extra_repr(self) -> str:
        return f"chosen={list(self.chosen)}, reduction={self.reduction!r}"


def apply_fixed_architecture(model: nn.Module, arch: ModelArch | Mapping[str, Any] | str | Path, *,
                             space: Any = None) -> nn.Module:
    """``model`` with every ``LayerChoice`` replaced by its chosen candidate and every ``InputChoice`` by a fixed
    selector, so it holds exactly the chosen network's parameters (NNI's ``apply_fixed_architecture``).

    ``arch``: a :class:`ModelArch`, an NNI JSON dict (key → one-hot list, or any other dialect NNI writes: see
    :mod:`hwnas.space.nni_json`), hwnas's record, or the path of a JSON file holding either. Keys that do not match
    the model's choices are refused with the differences; a choice with a single option (a one-candidate
    ``LayerChoice``, an ``InputChoice`` of one option) may be left out, as hwnas's older files did."""
    found = find_choices(model)
    for path, c in found:
        if c.key is None:
            c.key = path
    if isinstance(arch, (str, Path)) and not str(arch).lstrip().startswith("{") and \
            (isinstance(arch, Path) or "=" not in str(arch)):
        path = Path(arch)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"architecture file not found: {path}") from None
        except OSError as exc:  # a folder, no permission
            raise UsageError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"architecture file {path} is not JSON ({exc})") from None
        arch = data
    chosen = _chosen_labels(arch, found) if not isinstance(arch, ModelArch) else arch.as_dict()
    if space is not None and isinstance(arch, ModelArch):
        space.validate(arch)
    keys = {c.key for _, c in found}
    unknown, missing = sorted(set(chosen) - keys), sorted(k for k in keys if k not in chosen and
                                                         not _trivial(found, k))
    if unknown or missing:
        raise ArchError("the architecture's keys do not match the model's choices"
                        + (f"; not in the model: {unknown}" if unknown else "")
                        + (f"; missing: {missing}" if missing else ""))
    for path, c in found:
        parent, name = _child(model, path)
        if isinstance(c, LayerChoice):
            label = chosen.get(c.key, c.names[0])  # left out: a single candidate (checked above)
            if label not in c.names:
                raise ArchError(f"choice {c.key!r}: {label!r} is not one of {list(c.names)}")
            setattr(parent, name, c.candidates[c.names.index(label)])
        else:
            label = chosen.get(c.key)
            if label is not None and label not in c.names:
                raise ArchError(f"input choice {c.key!r}: {label!r} is not one of {list(c.names)}")
            option = c.names.index(label) if label is not None else c.default_option()
            setattr(parent, name, FixedInputChoice(c, option))
    return model


def _trivial(found: list[tuple[str, Any]], key: str) -> bool:
    """Whether the choices of ``key`` have a single option (either kind): a file may leave them out."""
    return all(len(c) < 2 for _, c in found if c.key == key)


def _chosen_labels(data: Mapping[str, Any] | str, found: list[tuple[str, Any]]) -> dict[str, str]:
    """key -> chosen label from hwnas's record (``{"arch": "k=v;..."}``, ``{"choices": {...}}``, ``k=v;...``) or NNI's
    JSON in any of its dialects (:func:`hwnas.space.nni_json.read_value`), read against the model's own choice
    modules."""
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ArchError(f"architecture JSON is malformed: {exc}") from None
        else:
            data = {"arch": text}
    if not isinstance(data, Mapping):
        raise ArchError("an architecture JSON must be an object")
    if isinstance(data.get("choices"), Mapping):
        return {str(k): str(v) for k, v in data["choices"].items()}
    if isinstance(data.get("arch"), str):
        return ModelArch.pairs(data["arch"])
    by_key = {c.key: c for _, c in found}
    out = {}
    for key, v in data.items():
        c = by_key.get(key)
        if c is None:
            out[str(key)] = str(v)  # reported as not in the model by the caller
            continue
        out[key] = read_value(ChoiceInfo.of(key, c), v)
    return out
