"""DataLoaders whose order and augmentation come from generators the caller owns (so ``--resume`` is exact).

:class:`SeededSampler` draws each epoch's permutation from the caller's generator (the one a search checkpoints)
and, for an augmenting dataset, one seed per sample; the dataset seeds that sample's augmentation with it. What a
batch holds therefore depends on the generator alone, not on the number of DataLoader workers, on whether they
persist between epochs, or on the global random state.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

SEED_HIGH = 2**62


class SeededSampler(Sampler):
    """Indices 0..n-1, shuffled by ``generator`` at the start of each pass; with ``seeds``, (index, seed) pairs."""

    def __init__(self, n: int, generator: torch.Generator | None = None, *, shuffle: bool = True,
                 seeds: bool = False):
        self.n, self.generator, self.shuffle, self.seeds = n, generator, shuffle, seeds

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        if not self.seeds:
            yield from order.tolist()
            return
        seeds = torch.randint(SEED_HIGH, (self.n,), generator=self.generator)
        yield from zip(order.tolist(), seeds.tolist(), strict=True)


def collate(batch: Any) -> Any:
    """A dataset with ``__getitems__`` returns the batch (x, y) itself; anything else goes to default_collate."""
    if isinstance(batch, tuple) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
        return batch
    return default_collate(batch)


def default_workers(dataset: Dataset, device: torch.device | None = None) -> int:
    """0 for images held in memory without augmentation (a batch is one indexing op); else up to 8 processes."""
    if not getattr(dataset, "augments", False) and not _decodes_files(dataset):
        return 0
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def _decodes_files(dataset: Dataset) -> bool:
    from .datasets import FolderSource

    return isinstance(getattr(dataset, "source", None), FolderSource)


def make_loader(dataset: Dataset, batch_size: int, *, generator: torch.Generator | None = None,
                shuffle: bool = True, drop_last: bool = False, workers: int | None = None,
                device: torch.device | str | None = None) -> DataLoader:
    """A DataLoader over ``dataset`` in ``generator``'s order: worker processes (``workers``; None: see
    :func:`default_workers`) that persist between epochs, pinned memory when the batches go to a GPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    workers = default_workers(dataset, device) if workers is None else workers
    sampler = SeededSampler(len(dataset), generator, shuffle=shuffle, seeds=bool(getattr(dataset, "augments", False)))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, num_workers=workers,
                      collate_fn=collate, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None,
                      # worker seeds only: the augmentation is seeded per sample by the sampler
                      generator=torch.Generator().manual_seed(0))


def num_batches(n: Any, batch_size: int, drop_last: bool = False) -> int:
    n = n if isinstance(n, int) else len(n)
    return n // batch_size if drop_last and n >= batch_size else math.ceil(n / batch_size)


def cycle(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless batches: a new pass (a new permutation from the loader's generator) whenever one ends."""
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            return
