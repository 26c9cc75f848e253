"""One small registry per kind of search part (mixed ops, α optimizers, estimators), as timm keeps one per
extension point: ``register`` names a class, ``create`` builds it from a name and keyword settings, ``names`` lists
what is there. A name or a setting that is not known is one line naming what is.

A part of your own needs no change to hwnas: name it ``package.module:Class`` (``--arch-optim
my_parts:HillClimb``, or ``type:`` in an experiment file); the module is imported from the current directory or
PYTHONPATH and the class registered under its own ``@REGISTRY.register`` name (``docs/write-your-own.md``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import UnknownNameError, UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, symbol: str, where: str, hints: dict[str, str] | None = None):
        self.kind, self.symbol, self.where = kind, symbol, where  # e.g. "mixed op", "MIXED_OPS", "hwnas.search.mixed"
        self.hints = hints or {}  # where a setting none of the parts take is set instead
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str, *aliases: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            cls.name = name  # type: ignore[attr-defined]
            for n in (name, *aliases):
                if n in self._classes and self._classes[n] is not cls:
                    raise ValueError(f"{self.kind} {n!r} is registered twice")
                self._classes[n] = cls
            return cls

        return deco

    def names(self) -> list[str]:
        """Every name, aliases included, sorted."""
        return sorted(self._classes)

    def canonical(self) -> list[str]:
        """Every registered class under its own name (no aliases), sorted."""
        return sorted({c.name for c in self._classes.values()})  # type: ignore[attr-defined]

    def get(self, name: str) -> type[T]:
        cls = self._classes.get(str(name)) or self._classes.get(str(name).lower())
        if cls is None and ":" in str(name):
            cls = self._import(str(name))
        if cls is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())} (or "
                                   f"package.module:Class for your own)")
        return cls

    def _import(self, ref: str) -> type[T]:
        import importlib
        import os
        import sys

        mod, _, attr = ref.partition(":")
        if os.getcwd() not in sys.path and "" not in sys.path:  # a console script leaves the current directory out
            sys.path.append(os.getcwd())
        try:
            obj: Any = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except ImportError as exc:
            raise UsageError(f"cannot import {mod!r} for the {self.kind} {ref} ({exc}); is it on PYTHONPATH?") from None
        except AttributeError:
            raise UsageError(f"module {mod!r} has no {attr!r} (the {self.kind} {ref})") from None
        except Exception as exc:  # the user's module fails while it is imported
            raise UsageError(f"importing {mod!r} for the {self.kind} {ref} failed: {type(exc).__name__}: {exc}") \
                from None
        if obj not in self._classes.values():
            raise UsageError(f"{ref} is not a registered {self.kind}: decorate the class with "
                             f"@{self.symbol}.register(\"its-name\") (from {self.where} import {self.symbol})")
        self._classes[ref] = obj
        return obj

    def spelled(self, name: str) -> str:
        """How a run records the part ``name`` stands for: hwnas's own under its registered name; a part of your own as
        ``package.module:Class``, which ``--config`` and ``--resume`` import again from the run's ``experiment.yaml``
        and ``config.json`` (a class defined in a script run as ``__main__`` keeps its registered name: no module
        name would import it)."""
        cls = self.get(name)
        mod = str(getattr(cls, "__module__", ""))
        if _ours(cls) or mod == "__main__":
            return cls.name  # type: ignore[attr-defined]
        return f"{mod}:{cls.__qualname__}"

    def settings(self, name: str) -> dict[str, Any]:
        """The keyword settings ``name``'s class takes, with their defaults."""
        return {p.name: p.default for p in self._settings(name)}

    def _settings(self, name: str) -> list[inspect.Parameter]:
        return [p for p in inspect.signature(self.get(name).__init__).parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty and not p.name.startswith("_")]

    def check_args(self, name: str, args: dict[str, Any] | None) -> dict[str, Any]:
        """``args`` if ``name`` takes every one of them, else one line naming the unknown ones and the known."""
        args = dict(args or {})
        params = {p.name: p for p in self._settings(name)}
        known = {k: p.default for k, p in params.items()}
        unknown = sorted(set(args) - set(known))
        if unknown:
            hint = "".join(f" ({k}: {self.hints[k]})" for k in unknown if k in self.hints)
            raise UsageError(f"{self.kind} {name!r} has no setting {', '.join(unknown)}; its settings: "
                             f"{', '.join(f'{k}={v!r}' for k, v in known.items()) or 'none'}{hint}")
        return {k: _typed(self.kind, name, k, v, known[k], str(params[k].annotation)) for k, v in args.items()}

    def create(self, name: str, args: dict[str, Any] | None = None, /, **context: Any) -> T:
        """An instance of ``name`` with ``args`` (its own settings, checked) and ``context`` (what every part of
        this kind receives from the search)."""
        cls, checked = self.get(name), self.check_args(name, args)
        obj = cls(**context, **checked)
        if not _ours(cls):  # a part of your own: its settings as resolved, which its describe() records in the run
            obj.resolved_settings = {**self.settings(name), **checked}  # type: ignore[attr-defined]
        return obj


def _ours(cls: type) -> bool:
    return str(getattr(cls, "__module__", "")).split(".")[0] == "hwnas"


def _typed(kind: str, name: str, key: str, value: Any, default: Any, annotation: str = "") -> Any:
    """``value`` as its setting's type: the annotation's where it names one (``float``, ``int | None``), else the
    default's (a float setting takes an int too, and a number YAML left as text: ``3e-4``); one line where it is not
    one: a quoted ``'false'`` is not false, and ``tau_max=abc`` is not a number."""
    if value is None and default is None:
        return value
    named = {"int": 0, "float": 0.0, "bool": False, "str": ""}.get(annotation.split("|")[0].strip().strip("'\""))
    like = named if named is not None else default
    if like is None:
        return value
    if isinstance(like, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(like, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(like, float):
        if isinstance(value, str):  # YAML reads 3e-4 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                pass
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    elif isinstance(like, str):
        ok, want = isinstance(value, str), "text"
    elif isinstance(like, (list, tuple)):
        ok, want = isinstance(value, (list, tuple)), "a list"
    else:
        ok, want = isinstance(value, type(like)), type(like).__name__
    if not ok:
        raise UsageError(f"{kind} {name!r}: {key} takes {want} (default {default!r}), not {value!r}")
    return value
