"""Datasets for search and retraining as ``torch.utils.data`` datasets with train / valid / test splits.

``valid`` is held out from the training images, without augmentation: search steps the architecture on it while
the weights train on ``train`` (augmented with the dataset's preset); ``test`` is only for the final report.
Named datasets (``load_data(spec)``; a path follows the colon):

- ``digits`` (default): scikit-learn's bundled 8x8 handwritten digits (1797 images), upsampled, in memory.
- ``digits-hard``: the same digits randomly rotated, scaled, shifted, contrast-changed and noised.
- ``fashion-mnist[:DIR]``: Fashion-MNIST's IDX files (default: Debian's ``dataset-fashion-mnist`` package,
  ``/usr/share/datasets/fashion-mnist``); ``idx:DIR`` any MNIST-format set (MNIST, KMNIST, ...).
- ``cifar10:DIR``: CIFAR-10's python batches (``data_batch_1..5``, ``test_batch``).
- ``folder:DIR``: an image folder, ``DIR/train/<class>`` + ``DIR/val/<class>`` (ImageNet layout) or
  ``DIR/<class>`` (split at random); decoded image by image as the loader asks.
- ``synthetic``: small random class templates plus noise, for tests.

Modules: :mod:`.datasets` (formats, sources, views), :mod:`.transforms` (augmentation presets),
:mod:`.loaders` (seeded samplers and DataLoaders).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ...errors import InputNotFound, UnknownNameError, UsageError
from .datasets import (
    IMAGE_SUFFIXES,
    ArraySource,
    FolderSource,
    ImageData,
    ImageSet,
    UnreadableImage,
    digits_arrays,
    distort,
    list_folder,
    normalise,
    read_cifar_batch,
    read_idx,
    to_float,
    write_cifar_batch,
    write_idx,
)
from .loaders import SeededSampler, cycle, make_loader, num_batches
from .transforms import get_preset, list_presets

__all__ = ["DataSplits", "ImageData", "ImageSet", "UnreadableImage", "batches", "cycle", "data_for_space",
           "list_datasets", "list_presets", "load_cifar10", "load_data", "load_digits_data", "load_fashion_mnist",
           "load_folder", "load_idx", "load_synthetic", "make_loader", "num_batches", "read_cifar_batch", "read_idx",
           "write_cifar_batch", "write_idx", "SeededSampler", "IMAGE_SUFFIXES", "FASHION_MNIST_DIR"]

CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass(frozen=True)
class DataSplits:
    name: str
    train: Dataset
    valid: Dataset
    test: Dataset
    num_classes: int
    image_shape_: tuple[int, int, int] | None = None
    augment: str = "none"
    classes: tuple[str, ...] = field(default=())

    @property
    def image_shape(self) -> tuple[int, int, int]:
        if self.image_shape_ is not None:
            return self.image_shape_
        return tuple(self.train.x.shape[1:])  # type: ignore[attr-defined,return-value]

    def describe(self) -> str:
        c, h, w = self.image_shape
        aug = f", augmentation {self.augment}" if self.augment != "none" else ""
        return (f"{self.name}: {len(self.train)} train / {len(self.valid)} valid / {len(self.test)} test images, "
                f"{c}x{h}x{w}, {self.num_classes} classes{aug}")

    def train_all(self) -> Dataset:
        """``train`` and ``valid`` together, augmented as ``train`` (retraining uses every training image)."""
        if isinstance(self.train, ImageData) and isinstance(self.valid, ImageData):
            return ImageData(torch.cat([self.train.x, self.valid.x]), torch.cat([self.train.y, self.valid.y]))
        if isinstance(self.train, ImageSet) and isinstance(self.valid, ImageSet) and \
                self.train.source is self.valid.source:
            return ImageSet(self.train.source, np.concatenate([self.train.indices, self.valid.indices]),
                            preset=self.train.preset, augment=self.train.augments, resolution=self.train.resolution,
                            channels=self.train.channels, mean=self.train.mean.flatten().tolist(),
                            std=self.train.std.flatten().tolist())
        return torch.utils.data.ConcatDataset([self.train, self.valid])

    def check_space(self, space: Any) -> None:
        """Refuse data the space cannot classify (class count, channels, resolution)."""
        c, h, w = self.image_shape
        if getattr(space, "kind", None) == "model":
            if space.num_classes is None:
                raise UsageError(f"model space {space.name!r}: its forward must return logits of shape (N, classes) "
                                 "to be trained on labelled images (it returns something else)")
            want = tuple(space.input_shape[1:])
            if (c, h, w) != want:
                raise UsageError(f"data {self.name!r} images are {c}x{h}x{w}; model space {space.name!r} was "
                                 f"declared with --input-shape {'x'.join(map(str, space.input_shape))}")
            if space.num_classes is not None and self.num_classes > space.num_classes:
                raise UsageError(f"data {self.name!r} has {self.num_classes} classes but model {space.name!r} has "
                                 f"{space.num_classes} outputs")
            return
        if self.num_classes > space.num_classes:
            raise UsageError(f"data {self.name!r} has {self.num_classes} classes but space {space.name!r} has "
                             f"{space.num_classes} outputs; pass --num-classes {self.num_classes}")
        if c != space.in_channels or h != space.resolution or w != space.resolution:
            raise UsageError(f"data {self.name!r} images are {c}x{h}x{w}; space {space.name!r} expects "
                             f"{space.in_channels}x{space.resolution}x{space.resolution}")


def batches(data: ImageData, batch_size: int, *, generator: torch.Generator | None = None, shuffle: bool = True,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of in-memory ``data`` in ``generator``'s order (the same order as :func:`make_loader`)."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield data.x[idx], data.y[idx]


def _check_classes(labels: np.ndarray, num_classes: int, where: str) -> None:
    present = np.unique(labels)
    if num_classes < 2 or len(present) < 2:
        raise UsageError(f"{where} has {len(present)} class(es) with images; classification needs at least 2")


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Every label must name one of the ``num_classes`` classes (0..num_classes-1): a label outside that range
    would stop training with a traceback from the loss, in the middle of a search."""
    labels = np.asarray(labels)
    if not len(labels):
        return
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if len(bad):
        raise UsageError(f"{where} holds label {int(bad[0])} ({len(bad)} image(s) with labels outside the "
                         f"{num_classes} classes 0..{num_classes - 1})")


def _hold_out(n: int, valid_fraction: float, rng: np.random.Generator, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < valid_fraction < 1:
        raise UsageError("valid_fraction must be between 0 and 1")
    if n < 2:
        raise UsageError(f"{where} has {n} training image(s): too few to hold a validation split out")
    order = rng.permutation(n)
    k = min(n - 1, max(1, int(round(n * valid_fraction))))
    return np.sort(order[k:]), np.sort(order[:k])


# ---- in-memory: digits, synthetic --------------------------------------------------------------------------------
def _split(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor, *, name: str,
           valid_fraction: float, rng: np.random.Generator, num_classes: int, groups: np.ndarray | None = None
           ) -> DataSplits:
    """Hold ``valid_fraction`` of the training images out (whole groups, so copies of one image stay together)."""
    if not 0 < valid_fraction < 1:
        raise UsageError("valid_fraction must be between 0 and 1")
    groups = np.arange(len(y)) if groups is None else groups
    uniq = rng.permutation(np.unique(groups))
    held = set(uniq[:max(1, int(round(len(uniq) * valid_fraction)))].tolist())
    is_valid = np.array([g in held for g in groups])
    tr, va = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    xt, xv, xs = normalise(x[tr], x[va], x_test)
    return DataSplits(name, ImageData(xt, y[tr]), ImageData(xv, y[va]), ImageData(xs, y_test), num_classes)


def _labels(y: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(y), dtype=torch.long)


def load_digits_data(*, resolution: int = 32, seed: int = 0, valid_fraction: float = 0.2, test_fraction: float = 0.2,
                     hard: bool = False, copies: int = 3, limit: int | None = None, channels: int = 3,
                     augment: str | None = None) -> DataSplits:
    """scikit-learn's digits; ``hard`` applies fixed random affine distortions, contrast changes and noise."""
    if augment not in (None, "none"):
        raise UsageError("digits are prepared in memory without augmentation: use --augment none")
    images, labels = digits_arrays()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))[:limit]
    images, labels = images[order], labels[order]
    x = to_float(images, resolution, channels)
    y = _labels(labels)
    groups = np.arange(len(y))
    if hard:
        x, y, groups = distort(x, y, copies=copies, rng=rng)
    n_test_groups = max(1, int(round(len(order) * test_fraction)))
    is_test = groups < n_test_groups  # the first images of the permutation (and all their copies) are test
    return _split(x[~is_test], y[~is_test], x[is_test], y[is_test], name="digits-hard" if hard else "digits",
                  valid_fraction=valid_fraction, rng=rng, num_classes=10, groups=groups[~is_test])


def load_synthetic(*, resolution: int = 16, num_classes: int = 4, n: int = 512, noise: float = 0.5, seed: int = 0,
                   valid_fraction: float = 0.25, limit: int | None = None, channels: int = 3,
                   augment: str | None = None) -> DataSplits:
    """Smooth random class templates plus noise: learnable in a few steps; for tests and dry runs.
    ``limit`` caps the number of training + validation images (as for the other datasets)."""
    if augment not in (None, "none"):
        raise UsageError("synthetic data is made in memory without augmentation: use --augment none")
    n = min(n, limit) if limit is not None else n
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.randn(num_classes, channels, 4, 4, generator=g), size=(resolution, resolution),
                              mode="bilinear", align_corners=False)
    y = torch.randint(num_classes, (n + n // 4,), generator=g)
    x = templates[y] + noise * torch.randn(len(y), channels, resolution, resolution, generator=g)
    return _split(x[:n], y[:n], x[n:], y[n:], name="synthetic", valid_fraction=valid_fraction,
                  rng=np.random.default_rng(seed), num_classes=num_classes)


# ---- streamed: IDX, CIFAR-10, folders ----------------------------------------------------------------------------
def _streamed(name: str, train_src: Any, test_src: Any, *, num_classes: int, resolution: int, channels: int,
              seed: int, valid_fraction: float, limit: int | None, augment: str, mean: list[float],
              std: list[float], classes: tuple[str, ...] = ()) -> DataSplits:
    rng = np.random.default_rng(seed)
    n = len(train_src)
    pool = np.arange(n) if limit is None else np.sort(rng.permutation(n)[:limit])
    check_labels(train_src.labels, num_classes, f"{name}: the training set")
    check_labels(test_src.labels, num_classes, f"{name}: the test set")
    _check_classes(train_src.labels[pool], num_classes, name)
    tr, va = _hold_out(len(pool), valid_fraction, rng, name)
    test_idx = np.arange(len(test_src)) if limit is None else np.arange(min(limit, len(test_src)))
    preset = get_preset(augment)
    kw = dict(preset=preset, resolution=resolution, channels=channels, mean=mean, std=std)
    return DataSplits(name, ImageSet(train_src, pool[tr], augment=True, **kw),
                      ImageSet(train_src, pool[va], augment=False, **kw),
                      ImageSet(test_src, test_idx, augment=False, **kw), num_classes,
                      (channels, resolution, resolution), preset.name, classes)


def _idx_file(d: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (d / name).exists():
            return d / name
    raise InputNotFound(f"no {stem}[.gz] in {d} (an IDX data set has train-images-idx3-ubyte, "
                        f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, gzipped or not)")


def load_idx(path: str | Path, *, resolution: int = 32, channels: int = 3, seed: int = 0, valid_fraction: float = 0.1,
             limit: int | None = None, augment: str | None = None, name: str | None = None) -> DataSplits:
    """An MNIST-format data set (MNIST, Fashion-MNIST, KMNIST) from its four IDX files in ``path``."""
    d = Path(path)
    if not d.is_dir():
        raise InputNotFound(f"IDX data folder not found: {d}")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(_idx_file(d, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_idx_file(d, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise UsageError(f"{d}: {prefix} images must be uint8 (N, H, W) with N labels; got "
                             f"{images.dtype} {images.shape} and {labels.shape} labels")
        parts[split] = ArraySource(images, np.asarray(labels, dtype=np.int64), name or f"idx:{d.name}")
    train = parts["train"]
    num_classes = int(train.labels.max()) + 1 if len(train) else 0
    mean, std = train.stats(seed=seed)
    return _streamed(name or f"idx:{d.name}", train, parts["test"], num_classes=num_classes, resolution=resolution,
                     channels=channels, seed=seed, valid_fraction=valid_fraction, limit=limit,
                     augment=augment or "none", mean=mean, std=std)


def load_fashion_mnist(path: str | Path | None = None, **kw: Any) -> DataSplits:
    """Fashion-MNIST (70,000 28×28 grayscale images, 10 classes) from ``path`` or Debian's package files."""
    d = Path(path) if path else FASHION_MNIST_DIR
    if not d.is_dir():
        raise InputNotFound(f"Fashion-MNIST not found in {d}: install Debian's dataset-fashion-mnist "
                            f"(apt-get install dataset-fashion-mnist) or give 'fashion-mnist:/path/to/idx/files'")
    return load_idx(d, name="fashion-mnist", **kw)


def load_cifar10(path: str | Path, *, resolution: int = 32, channels: int = 3, seed: int = 0,
                 valid_fraction: float = 0.1, limit: int | None = None, augment: str | None = None) -> DataSplits:
    """CIFAR-10 from ``path`` (the ``cifar-10-batches-py`` folder). Missing training batches are skipped, but at
    least one and ``test_batch`` must be there."""
    path = Path(path)
    if not path.is_dir():
        raise InputNotFound(f"CIFAR-10 folder not found: {path} (expected data_batch_1..5 and test_batch)")
    found = [path / f for f in CIFAR_TRAIN_FILES if (path / f).exists()]
    if not found:
        raise InputNotFound(f"no CIFAR-10 training batches (data_batch_1..5) in {path}")
    parts = [read_cifar_batch(f) for f in (*found, path / CIFAR_TEST_FILE)]
    for f, (_, labels) in zip((*found, path / CIFAR_TEST_FILE), parts, strict=True):
        check_labels(labels, 10, f"CIFAR-10 batch {f}")
    test = ArraySource(*parts.pop(), "cifar10")
    train = ArraySource(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), "cifar10")
    mean, std = train.stats(seed=seed)
    return _streamed("cifar10", train, test, num_classes=10, resolution=resolution, channels=channels, seed=seed,
                     valid_fraction=valid_fraction, limit=limit, augment=augment or "cifar", mean=mean, std=std)


def load_folder(path: str | Path, *, resolution: int = 32, channels: int = 3, seed: int = 0,
                valid_fraction: float = 0.2, test_fraction: float = 0.2, limit: int | None = None,
                augment: str | None = None) -> DataSplits:
    """Images in ``path/train/<class>/`` + ``path/val|test/<class>/`` (ImageNet layout) or ``path/<class>/``
    (a random ``test_fraction`` is the test split). Files are listed now and decoded as the loader reads them."""
    path = Path(path)
    if not path.is_dir():
        raise InputNotFound(f"image folder not found: {path}")
    test_dir = next((path / d for d in ("val", "test") if (path / d).is_dir()), None)
    where = f"image folder {path}"
    if (path / "train").is_dir() and test_dir is not None:
        files, labels, classes = list_folder(path / "train")
        test_classes = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if test_classes != classes:
            only_train = sorted(set(classes) - set(test_classes))
            only_test = sorted(set(test_classes) - set(classes))
            raise UsageError(f"{where}: the classes of train/ and {test_dir.name}/ differ (only in train: "
                             f"{', '.join(only_train[:5]) or '-'}; only in {test_dir.name}: "
                             f"{', '.join(only_test[:5]) or '-'})")
        tfiles, tlabels, _ = list_folder(test_dir, classes)
        if not files:
            raise InputNotFound(f"no images ({', '.join(IMAGE_SUFFIXES)}) in class folders under {path / 'train'}")
        if not tfiles:
            raise InputNotFound(f"no images ({', '.join(IMAGE_SUFFIXES)}) in class folders under {test_dir}")
        train = FolderSource(files, labels, classes, f"folder:{path.name}")
        test = FolderSource(tfiles, tlabels, classes, f"folder:{path.name}")
    else:
        files, labels, classes = list_folder(path)
        if not files:
            raise InputNotFound(f"no images ({', '.join(IMAGE_SUFFIXES)}) in class folders under {path}")
        _check_classes(labels, len(classes), where)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(files))
        n_test = max(1, int(round(len(files) * test_fraction)))
        te, tr = np.sort(order[:n_test]), np.sort(order[n_test:])
        train = FolderSource([files[i] for i in tr], labels[tr], classes, f"folder:{path.name}")
        test = FolderSource([files[i] for i in te], labels[te], classes, f"folder:{path.name}")
    return _streamed(f"folder:{path.name}", train, test, num_classes=len(classes), resolution=resolution,
                     channels=channels, seed=seed, valid_fraction=valid_fraction, limit=limit,
                     augment=augment or "imagenet", mean=IMAGENET_MEAN, std=IMAGENET_STD, classes=tuple(classes))


# ---- registry -------------------------------------------------------------------------------------------------
_DATASETS: dict[str, Callable[..., DataSplits]] = {
    "digits": lambda **kw: load_digits_data(**kw),
    "digits-hard": lambda **kw: load_digits_data(hard=True, **kw),
    "fashion-mnist": load_fashion_mnist,
    "idx": load_idx,
    "cifar10": load_cifar10,
    "folder": load_folder,
    "synthetic": load_synthetic,
}
_NEEDS_PATH = ("idx", "cifar10", "folder")
_TAKES_PATH = (*_NEEDS_PATH, "fashion-mnist")


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_data(name: str, **kwargs: Any) -> DataSplits:
    """A named dataset; ``"cifar10:PATH"``, ``"folder:PATH"``, ``"idx:PATH"`` carry their path after the colon."""
    base, _, path = name.partition(":")
    if base not in _DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())} "
                               f"(cifar10, folder and idx take a path: 'cifar10:/data/cifar-10-batches-py')")
    if base in _TAKES_PATH:
        if base in _NEEDS_PATH and not path and "path" not in kwargs:
            raise UsageError(f"dataset {base!r} needs a path: '{base}:/path/to/data'")
        if path:
            kwargs.setdefault("path", path)
    elif path:
        raise UsageError(f"dataset {base!r} takes no path")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return _DATASETS[base](**kwargs)
    except TypeError as exc:
        raise UsageError(f"dataset {base!r}: {exc}") from None


def data_for_space(name: str, space: Any, *, seed: int = 0, **kwargs: Any) -> DataSplits:
    """``load_data`` at the space's resolution and input channels, checked against its classes."""
    data = load_data(name, resolution=space.resolution, channels=space.in_channels, seed=seed, **kwargs)
    data.check_space(space)
    for note in data_notes(data, space, kwargs.get("limit")):
        logging.getLogger(__name__).warning("note: " + note)
    return data


def data_notes(data: DataSplits, space: Any, limit: int | None = None) -> list[str]:
    """What a user would not guess from the command line: a training split with fewer images than classes (a
    small ``--data-limit``), or a classifier with more outputs than the data has classes."""
    notes = []
    labels = np.asarray(data.train.labels) if hasattr(data.train, "labels") else None
    if labels is not None:
        present = len(np.unique(labels))
        if len(labels) < data.num_classes or present < data.num_classes:
            notes.append(f"{data.name}: {len(labels)} training images for {data.num_classes} classes ({present} of "
                         f"them with any)" + (f", from --data-limit {limit}" if limit else "")
                         + ": the network cannot learn the classes it never sees")
    outputs = getattr(space, "num_classes", None)
    if outputs is not None and data.num_classes < outputs:
        notes.append(f"{data.name} has {data.num_classes} classes, the network's classifier {outputs} outputs: "
                     f"{outputs - data.num_classes} are never a target"
                     + (f" (--num-classes {data.num_classes} sizes the head to the data; a latency table must be "
                        f"made with it too)" if getattr(space, "kind", None) != "model" else ""))
    return notes
