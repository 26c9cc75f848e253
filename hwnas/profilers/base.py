"""The profiler interface and its registry.

A backend turns a ``torch.nn.Module`` and an input shape into something that runs one inference and returns
its elapsed milliseconds; the shared :class:`Protocol` does the rest. Backends that cannot time single runs
from Python (a remote benchmark binary) override :meth:`Backend.measure` instead.
"""

from __future__ import annotations

import fnmatch
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from torch import nn

from .. import __version__
from ..errors import HwnasError, UnknownNameError, UsageError
from ..space.builder import build_layer
from ..space.keys import LayerKey
from .environment import environment
from .protocol import ROBUST, LatencyStats, Protocol


class MissingRuntimeError(HwnasError, ImportError):
    """An optional runtime is not installed; the message names the pip extra that provides it."""


class DeviceError(HwnasError, RuntimeError):
    """The device went away or refused a command (unplugged phone, dropped ssh connection, failed binary).

    ``device`` names it; rows measured before the failure stay in the table, so the same command resumes."""

    def __init__(self, message: str, device: str = ""):
        super().__init__(message)
        self.device = device


class Runner(ABC):
    """One prepared model on one backend."""

    @abstractmethod
    def __call__(self) -> float:
        """Run one inference; return its elapsed time in milliseconds."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sessions, exported files)."""


class Backend(ABC):
    name: ClassVar[str]

    def __init__(self, *, threads: int = 1, device: str = "cpu", batch: int = 1, protocol: Protocol | None = None):
        for name, v in (("threads", threads), ("batch", batch)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UsageError(f"{name} must be an integer >= 1, not {v!r}")
        if not isinstance(device, str) or not device:
            raise UsageError(f"device must be a name like cpu or cuda, not {device!r}")
        self.threads, self.device, self.batch = threads, device, batch
        # the command line's protocol (3 interleaved rounds, the minimum) where this process times the runs, so
        # a table built from Python matches one built by `hwnas profile`; a device tool's own timing otherwise
        self.protocol = protocol or (ROBUST if self.supports_rounds else Protocol())

    @abstractmethod
    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        """Get ``module`` ready to run on an input of ``input_shape`` (batch dimension already applied)."""

    def measure(self, module: nn.Module, input_shape: tuple[int, ...]) -> LatencyStats:
        shape = (self.batch, *input_shape[1:])
        runner = self.prepare(module.eval(), shape)
        try:
            self.warm_up(runner)
            return self.protocol.run(runner)
        finally:
            runner.close()

    def measure_many(self, jobs: Sequence[Callable[[], tuple[nn.Module, tuple[int, ...]]]], *,
                     before: Callable[[], float] | None = None, chunk: int = 32
                     ) -> Iterator[tuple[int, LatencyStats, float]]:
        """Measure what each of ``jobs`` builds (a callable returning ``(module, input_shape)``), yielding
        ``(index, stats, ref)`` as items finish, so that callers can save after each.

        With ``protocol.rounds`` = R > 1, up to ``chunk`` items are prepared at once and timed in interleaved
        passes (each pass times every prepared item once, repeating the protocol's warm-up), so the R timings of one
        item lie a pass (seconds) apart and a slow spell of a shared CPU rarely covers all of them; the R passes'
        samples are pooled. Items enter the window ``ceil(chunk / R)`` per pass and leave, yielded, as soon as
        their R-th timing is done: a killed run loses only the unfinished items in the window, never items whose
        rounds were complete. ``before`` (e.g. a reference probe) runs just before each timing; ``ref`` is its
        minimum (NaN without one)."""
        rounds = self.protocol.rounds
        if rounds == 1:
            for i, job in enumerate(jobs):
                ref = before() if before is not None else math.nan
                module, shape = job()
                yield i, self.measure(module, shape), ref
            return
        if type(self).measure is not Backend.measure:
            raise UsageError(f"the {self.name} backend times runs on its own (its benchmark binary); "
                             f"--rounds is not available for it")
        per_pass = max(1, math.ceil(chunk / rounds))
        upcoming = iter(range(len(jobs)))
        active: dict[int, Runner] = {}
        samples: dict[int, list[float]] = {}
        refs: dict[int, list[float]] = {}
        timed: dict[int, int] = {}
        try:
            more = True
            while True:
                admitted = 0
                while more and len(active) < chunk and admitted < per_pass:
                    i = next(upcoming, None)
                    if i is None:
                        more = False
                        break
                    module, shape = jobs[i]()
                    active[i] = self.prepare(module.eval(), (self.batch, *shape[1:]))
                    self.warm_up(active[i])
                    samples[i], refs[i], timed[i] = [], [], 0
                    admitted += 1
                if not active:
                    return
                for i in list(active):
                    if before is not None:
                        refs[i].append(before())
                    samples[i] += self.protocol.samples(active[i])
                    timed[i] += 1
                    if timed[i] == rounds:
                        active.pop(i).close()
                        r = refs.pop(i)
                        yield i, LatencyStats.from_samples(samples.pop(i), trim=self.protocol.trim), \
                            min(r) if r else math.nan
        finally:
            for r in active.values():
                r.close()

    @property
    def supports_rounds(self) -> bool:
        """Whether this backend times runs in this process (so interleaved rounds apply); a backend whose tool
        times runs on a device (the remote backend) does not."""
        return type(self).measure is Backend.measure

    def precompile(self, jobs: Sequence[Callable[[], tuple[nn.Module, tuple[int, ...]]]],  # noqa: B027
                   n_jobs: int = 1, progress: bool = True) -> None:
        """Build, in ``n_jobs`` parallel processes, whatever :meth:`prepare` would build slowly for ``jobs``
        (e.g. ExecuTorch programs into its cache), before anything is timed. Backends that build fast ignore it."""

    def warm_up(self, runner: Runner) -> None:  # noqa: B027 - optional hook
        """Extra warm-up before the protocol's own (GPU backends wait for clocks to settle)."""

    def device_state(self) -> dict[str, Any]:
        """What the device is doing now (a GPU's clocks, power, performance state), kept with the measurements
        it qualifies; empty where the backend cannot tell."""
        return {}

    def measure_key(self, key: LayerKey) -> LatencyStats:
        return self.measure(build_layer(key), key.input_shape)

    def settings(self) -> dict[str, Any]:
        """What makes two measurements comparable; a table refuses rows taken under other settings."""
        return {"backend": self.name, "device": self.device, "threads": self.threads, "batch": self.batch,
                "protocol": self.protocol.to_dict(), **self.extra_settings()}

    def extra_settings(self) -> dict[str, Any]:
        return {}

    def environment(self) -> dict[str, Any]:
        """Where the measurement ran: versions, processor, accelerator."""
        return {**environment(self.device), "hwnas": __version__, **self.runtime_versions()}

    def runtime_versions(self) -> dict[str, str]:
        return {}


_BACKENDS: dict[str, Callable[..., Backend]] = {}


def register_backend(name: str) -> Callable[[type[Backend]], type[Backend]]:
    def deco(cls: type[Backend]) -> type[Backend]:
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return deco


def list_backends(pattern: str = "*") -> list[str]:
    return sorted(n for n in _BACKENDS if fnmatch.fnmatch(n, pattern))


def create_backend(name: str, **kwargs: Any) -> Backend:
    """Instantiate a registered backend, e.g. ``create_backend("onnxruntime", threads=1)``."""
    if name not in _BACKENDS:
        raise UnknownNameError(f"unknown backend {name!r}; available: {', '.join(list_backends())}")
    cls = _BACKENDS[name]
    try:
        return cls(**kwargs)
    except TypeError as exc:  # an option this backend does not have: say which, not a traceback
        if "unexpected keyword argument" not in str(exc):
            raise
        bad = str(exc).rsplit("argument", 1)[-1].strip()
        raise UsageError(f"backend {name!r} has no option {bad}; see the {getattr(cls, '__name__', name)} "
                         f"docstring for its options") from None
