"""Building a latency table for a space on a backend: resumable, with a progress bar."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import HwnasError, UsageError
from ..io import bar_disabled, output_lock
from ..space.builder import build_layer
from ..space.keys import LayerKey
from ..space.spaces import SearchSpace
from .base import Backend
from .table import LatencyTable


def open_table(path: str | Path, space: SearchSpace, backend: Backend) -> LatencyTable:
    """Load the table at ``path`` to resume it (refusing other settings), or start a new one."""
    path = Path(path)
    settings, env = backend.settings(), backend.environment()
    if path.exists():
        table = LatencyTable.load(path, repair=True)
        table.check_compatible(settings, env, space, what=f"this {backend.name} profile run")
        return table
    return LatencyTable.new(space, settings, env)


def shard_keys(keys: Iterable[LayerKey], shard: tuple[int, int] | None) -> list[LayerKey]:
    """Shard ``i`` of ``n`` (0-based) of the keys, round-robin so that every shard gets a mix of sizes."""
    keys = list(keys)
    if shard is None:
        return keys
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise UsageError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    return keys[i::n]


def build_table(space: SearchSpace, backend: Backend, path: str | Path, *, keys: Iterable[LayerKey] | None = None,
                shard: tuple[int, int] | None = None, progress: bool = True, jobs: int = 1) -> LatencyTable:
    """Measure every layer of ``space`` (or just ``keys``, or one ``shard`` of them) not yet in the table
    at ``path``.

    The table is saved after each row, so killing the process loses at most the row being measured;
    calling again with the same settings re-measures nothing already there. ``jobs`` > 1 lets a backend
    that builds slowly (ExecuTorch) build every layer's program in that many processes first. Shards built
    by several workers are combined with :func:`hwnas.profilers.table.merge_tables` (``hwnas table merge``).
    """
    path = Path(path)
    with output_lock(path, "latency table"):  # two writers (e.g. two --shard runs on one file) would lose rows
        return _build(space, backend, path, keys, shard, progress, jobs)


def _build(space: SearchSpace, backend: Backend, path: Path, keys: Iterable[LayerKey] | None,
           shard: tuple[int, int] | None, progress: bool, jobs: int) -> LatencyTable:
    table = open_table(path, space, backend)
    wanted = shard_keys(keys if keys is not None else space.layer_keys(), shard)
    todo = [k for k in wanted if k not in table]
    if not path.exists():
        table.save(path)
    work = [layer_job(k, space) for k in todo]
    backend.precompile(work, n_jobs=jobs, progress=progress)
    bar = tqdm(desc=f"profile {space.name} [{backend.name}]", unit="layer", disable=bar_disabled(progress),
               initial=len(wanted) - len(todo), total=len(wanted))
    done = 0
    try:
        for i, stats, _ in backend.measure_many(work):
            table.add(todo[i], stats)
            if done == 0:
                table.note_device_state(backend.device_state(), "first")
            table.save(path)
            bar.set_postfix_str(todo[i].label, refresh=False)
            bar.update()
            done += 1
    except (HwnasError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the runtime could not export or run a module: name it and what can
        what = todo[done].label if done < len(todo) else "a layer"
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        hint = " The torch backend runs any PyTorch module: --backend torch." if backend.name != "torch" else ""
        raise UsageError(f"the {backend.name} backend cannot measure {what} ({type(exc).__name__}: {first}); the "
                         f"{done} rows before it are kept in {path}.{hint}") from exc
    finally:
        bar.close()
    if done:
        table.note_device_state(backend.device_state(), "last")
        table.save(path)
    return table


def layer_job(key: LayerKey, space: SearchSpace) -> functools.partial:
    """A picklable builder of the module a table key times, with its input shape: the layer of a built-in space, or
    a model space's candidate module."""
    if getattr(space, "kind", None) == "model":
        return functools.partial(_module_job, space.module_for(key), key.shape)
    return functools.partial(_layer_job, key)


def _layer_job(key: LayerKey):
    return build_layer(key), key.input_shape


def _module_job(module, shape: tuple[int, ...]):
    return module, shape
