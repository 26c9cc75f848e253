"""Building a latency table for a space on a backend: resumable, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from ..space.keys import LayerKey
from ..space.spaces import SearchSpace
from .base import Backend
from .table import LatencyTable


def open_table(path: str | Path, space: SearchSpace, backend: Backend) -> LatencyTable:
    """Load the table at ``path`` to resume it (refusing other settings), or start a new one."""
    path = Path(path)
    settings, env = backend.settings(), backend.environment()
    if path.exists():
        table = LatencyTable.load(path)
        table.check_compatible(settings, env, space, what=f"this {backend.name} profile run")
        return table
    return LatencyTable.new(space, settings, env)


def build_table(space: SearchSpace, backend: Backend, path: str | Path, *, keys: Iterable[LayerKey] | None = None,
                progress: bool = True) -> LatencyTable:
    """Measure every layer of ``space`` (or just ``keys``) not yet in the table at ``path``.

    The table is saved after each row, so killing the process loses at most the row being measured;
    calling again with the same settings re-measures nothing already there.
    """
    path = Path(path)
    table = open_table(path, space, backend)
    wanted = list(keys) if keys is not None else list(space.layer_keys())
    todo = [k for k in wanted if k not in table]
    if not path.exists():
        table.save(path)
    bar = tqdm(todo, desc=f"profile {space.name} [{backend.name}]", unit="layer", disable=not progress,
               initial=len(wanted) - len(todo), total=len(wanted))
    for key in bar:
        bar.set_postfix_str(key.label, refresh=False)
        table.add(key, backend.measure_key(key))
        table.save(path)
    return table
