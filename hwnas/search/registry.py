"""One small registry per kind of search part (mixed ops, α optimizers, estimators), as timm keeps one per
extension point: ``register`` names a class, ``create`` builds it from a name and keyword settings, ``names`` lists
what is there. A name or a setting that is not known is one line naming what is."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import UnknownNameError, UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
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
        if cls is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return cls

    def settings(self, name: str) -> dict[str, Any]:
        """The keyword settings ``name``'s class takes, with their defaults."""
        sig = inspect.signature(self.get(name).__init__)
        return {p.name: p.default for p in sig.parameters.values()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty and not p.name.startswith("_")}

    def check_args(self, name: str, args: dict[str, Any] | None) -> dict[str, Any]:
        """``args`` if ``name`` takes every one of them, else one line naming the unknown ones and the known."""
        args = dict(args or {})
        known = self.settings(name)
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise UsageError(f"{self.kind} {name!r} has no setting {', '.join(unknown)}; its settings: "
                             f"{', '.join(f'{k}={v!r}' for k, v in known.items()) or 'none'}")
        return args

    def create(self, name: str, args: dict[str, Any] | None = None, /, **context: Any) -> T:
        """An instance of ``name`` with ``args`` (its own settings, checked) and ``context`` (what every part of
        this kind receives from the search)."""
        return self.get(name)(**context, **self.check_args(name, args))
