"""Datasets for search and retraining, as in-memory tensors with train / valid / test splits.

``valid`` is held out from the training images: search steps the architecture on it while the weights train on
``train``; ``test`` is only for the final report. Named datasets (``load_data(name)``):

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download), upsampled to the space's
  resolution. Easy: most architectures reach ~98%.
- ``digits-hard``: the same digits randomly rotated, scaled, shifted, contrast-changed and noised (several fixed
  copies of each image, drawn once from ``seed``), so accuracy spreads across architectures.
- ``cifar10``: CIFAR-10 from its python batch files (``data_batch_1..5``, ``test_batch``) in ``path``.
- ``folder``: an image folder ``path/<class>/*.png|jpg`` (or ``path/train/<class>`` and ``path/test/<class>``).
- ``synthetic``: small random class templates plus noise, for tests.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputNotFound, UnknownNameError, UsageError

CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class ImageData:
    """Images ``x`` (N, C, H, W) float32, normalised, with integer labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or len(self.x) != len(self.y):
            raise UsageError(f"images must be (N, C, H, W) with N labels; got {tuple(self.x.shape)} and "
                             f"{tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.x[index], self.y[index])


@dataclass(frozen=True)
class DataSplits:
    name: str
    train: ImageData
    valid: ImageData
    test: ImageData
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.x.shape[1:])  # type: ignore[return-value]

    def describe(self) -> str:
        c, h, w = self.image_shape
        return (f"{self.name}: {len(self.train)} train / {len(self.valid)} valid / {len(self.test)} test images, "
                f"{c}x{h}x{w}, {self.num_classes} classes")

    def check_space(self, space: Any) -> None:
        """Refuse data the space cannot classify (class count, channels, resolution)."""
        c, h, w = self.image_shape
        if getattr(space, "kind", None) == "model":
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
    """Mini-batches of ``data``; the order comes from ``generator`` (the caller owns the random state)."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield data.x[idx], data.y[idx]


def num_batches(data: ImageData, batch_size: int, drop_last: bool = False) -> int:
    n = len(data)
    return n // batch_size if drop_last and n >= batch_size else math.ceil(n / batch_size)


# ---- preparing images ---------------------------------------------------------------------------------------
def _to_float(images: np.ndarray | torch.Tensor, resolution: int | None, channels: int = 3) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if resolution is not None and x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > resolution)
    return x.contiguous()


def _normalise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


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
    xt, xv, xs = _normalise(x[tr], x[va], x_test)
    return DataSplits(name, ImageData(xt, y[tr]), ImageData(xv, y[va]), ImageData(xs, y_test), num_classes)


def _labels(y: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(y), dtype=torch.long)


# ---- digits ---------------------------------------------------------------------------------------------------
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def load_digits_data(*, resolution: int = 32, seed: int = 0, valid_fraction: float = 0.2, test_fraction: float = 0.2,
                     hard: bool = False, copies: int = 3, limit: int | None = None) -> DataSplits:
    """scikit-learn's digits; ``hard`` applies fixed random affine distortions, contrast changes and noise."""
    images, labels = _digits_arrays()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))[:limit]
    images, labels = images[order], labels[order]
    x = _to_float(images, resolution)
    y = _labels(labels)
    groups = np.arange(len(y))
    if hard:
        x, y, groups = _distort(x, y, copies=copies, rng=rng)
    n_test_groups = max(1, int(round(len(order) * test_fraction)))
    is_test = groups < n_test_groups  # the first images of the permutation (and all their copies) are test
    return _split(x[~is_test], y[~is_test], x[is_test], y[is_test], name="digits-hard" if hard else "digits",
                  valid_fraction=valid_fraction, rng=rng, num_classes=10, groups=groups[~is_test])


def _distort(x: torch.Tensor, y: torch.Tensor, *, copies: int, rng: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``copies`` randomly distorted versions of every image (rotation ±30°, scale 0.75-1.1, shift ±15%,
    contrast 0.4-1.0, a darker or lighter background, Gaussian noise σ 0.25)."""
    n = len(y)
    xs = x.repeat(copies, 1, 1, 1)
    m = len(xs)
    ang = np.deg2rad(rng.uniform(-30, 30, m))
    scale = rng.uniform(0.75, 1.1, m)
    shift = rng.uniform(-0.3, 0.3, (m, 2))  # in [-1, 1] grid units: ±15% of the image
    cos, sin = np.cos(ang) / scale, np.sin(ang) / scale
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(torch.as_tensor(theta, dtype=torch.float32), list(xs.shape), align_corners=False)
    out = F.grid_sample(xs, grid, align_corners=False, padding_mode="zeros")
    contrast = torch.as_tensor(rng.uniform(0.4, 1.0, (m, 1, 1, 1)), dtype=torch.float32)
    background = torch.as_tensor(rng.uniform(0.0, 0.4, (m, 1, 1, 1)), dtype=torch.float32)
    noise = torch.as_tensor(rng.normal(0, 0.25, out.shape[:1] + (1,) + out.shape[2:]), dtype=torch.float32)
    out = (background + contrast * out + noise).expand(-1, 3, -1, -1).contiguous()
    return out, y.repeat(copies), np.tile(np.arange(n), copies)


# ---- CIFAR-10 python batches --------------------------------------------------------------------------------
class _CifarUnpickler(pickle.Unpickler):
    """The CIFAR batches are pickles; only the numpy array constructors they need are allowed."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")
        return super().find_class(module, name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch file -> (uint8 images (N, 3, 32, 32), int64 labels (N,))."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"CIFAR-10 batch file not found: {path}")
    try:
        with path.open("rb") as fh:
            d = _CifarUnpickler(fh, encoding="bytes").load()
        data = np.asarray(d[b"data"] if b"data" in d else d["data"], dtype=np.uint8)
        labels = d.get(b"labels", d.get("labels", d.get(b"fine_labels")))
        labels = np.asarray(labels, dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UsageError(f"{path} is not a CIFAR-10 python batch file ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise UsageError(f"{path}: expected 'data' of shape (N, 3072) and N labels, got {data.shape} and "
                         f"{len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def write_cifar_batch(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write uint8 images (N, 3, 32, 32) in the CIFAR-10 python batch format (for tests and small subsets)."""
    from ..io import atomic_write

    images = np.asarray(images, dtype=np.uint8)
    payload = {b"batch_label": b"hwnas", b"labels": [int(v) for v in labels],
               b"data": images.reshape(len(images), -1), b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    atomic_write(path, lambda fh: pickle.dump(payload, fh, protocol=2), mode="wb")


def load_cifar10(path: str | Path, *, resolution: int = 32, seed: int = 0, valid_fraction: float = 0.1,
                 limit: int | None = None) -> DataSplits:
    """CIFAR-10 from ``path`` (the ``cifar-10-batches-py`` folder). Missing training batches are skipped, but at
    least one and ``test_batch`` must be there."""
    path = Path(path)
    if not path.is_dir():
        raise InputNotFound(f"CIFAR-10 folder not found: {path} (expected data_batch_1..5 and test_batch)")
    found = [path / f for f in CIFAR_TRAIN_FILES if (path / f).exists()]
    if not found:
        raise InputNotFound(f"no CIFAR-10 training batches (data_batch_1..5) in {path}")
    parts = [read_cifar_batch(f) for f in found]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    xt, yt = read_cifar_batch(path / CIFAR_TEST_FILE)
    rng = np.random.default_rng(seed)
    if limit is not None:
        keep = rng.permutation(len(y))[:limit]
        x, y = x[keep], y[keep]
        xt, yt = xt[:limit], yt[:limit]
    return _split(_to_float(x / 255.0, resolution), _labels(y), _to_float(xt / 255.0, resolution), _labels(yt),
                  name="cifar10", valid_fraction=valid_fraction, rng=rng, num_classes=10)


# ---- image folders ----------------------------------------------------------------------------------------------
def _read_folder(root: Path, classes: list[str] | None, resolution: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for ci, cls in enumerate(classes):
        for f in sorted((root / cls).glob("*")) if (root / cls).is_dir() else []:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(f) as im:
                    im = im.convert("RGB").resize((resolution, resolution), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0)
                    labels.append(ci)
    if not images:
        raise InputNotFound(f"no images ({', '.join(IMAGE_SUFFIXES)}) in class folders under {root}")
    return np.stack(images), np.asarray(labels), classes


def load_folder(path: str | Path, *, resolution: int = 32, seed: int = 0, valid_fraction: float = 0.2,
                test_fraction: float = 0.2) -> DataSplits:
    """Images in ``path/<class>/`` (split at random) or ``path/train/<class>/`` + ``path/test|val/<class>/``."""
    path = Path(path)
    if not path.is_dir():
        raise InputNotFound(f"image folder not found: {path}")
    rng = np.random.default_rng(seed)
    test_dir = next((path / d for d in ("test", "val") if (path / d).is_dir()), None)
    if (path / "train").is_dir() and test_dir is not None:
        x, y, classes = _read_folder(path / "train", None, resolution)
        xt, yt, _ = _read_folder(test_dir, classes, resolution)
    else:
        x, y, classes = _read_folder(path, None, resolution)
        order = rng.permutation(len(y))
        n_test = max(1, int(round(len(y) * test_fraction)))
        xt, yt, x, y = x[order[:n_test]], y[order[:n_test]], x[order[n_test:]], y[order[n_test:]]
    return _split(_to_float(x, None), _labels(y), _to_float(xt, None), _labels(yt), name=f"folder:{path.name}",
                  valid_fraction=valid_fraction, rng=rng, num_classes=len(classes))


# ---- synthetic ------------------------------------------------------------------------------------------------
def load_synthetic(*, resolution: int = 16, num_classes: int = 4, n: int = 512, noise: float = 0.5, seed: int = 0,
                   valid_fraction: float = 0.25, limit: int | None = None) -> DataSplits:
    """Smooth random class templates plus noise: learnable in a few steps; for tests and dry runs.
    ``limit`` caps the number of training + validation images (as for the other datasets)."""
    n = min(n, limit) if limit is not None else n
    g = torch.Generator().manual_seed(seed)
    templates = F.interpolate(torch.randn(num_classes, 3, 4, 4, generator=g), size=(resolution, resolution),
                              mode="bilinear", align_corners=False)
    y = torch.randint(num_classes, (n + n // 4,), generator=g)
    x = templates[y] + noise * torch.randn(len(y), 3, resolution, resolution, generator=g)
    return _split(x[:n], y[:n], x[n:], y[n:], name="synthetic", valid_fraction=valid_fraction,
                  rng=np.random.default_rng(seed), num_classes=num_classes)


# ---- registry -------------------------------------------------------------------------------------------------
_DATASETS: dict[str, Callable[..., DataSplits]] = {
    "digits": lambda **kw: load_digits_data(**kw),
    "digits-hard": lambda **kw: load_digits_data(hard=True, **kw),
    "cifar10": load_cifar10,
    "folder": load_folder,
    "synthetic": load_synthetic,
}


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_data(name: str, **kwargs: Any) -> DataSplits:
    """A named dataset; ``"cifar10:PATH"`` and ``"folder:PATH"`` carry their path after the colon."""
    base, _, path = name.partition(":")
    if base not in _DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; known: {', '.join(list_datasets())} "
                       f"(cifar10 and folder take a path: 'cifar10:/data/cifar-10-batches-py')")
    if base in ("cifar10", "folder"):
        if not path and "path" not in kwargs:
            raise UsageError(f"dataset {base!r} needs a path: '{base}:/path/to/data'")
        kwargs.setdefault("path", path)
    elif path:
        raise UsageError(f"dataset {base!r} takes no path")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return _DATASETS[base](**kwargs)
    except TypeError as exc:
        raise UsageError(f"dataset {base!r}: {exc}") from None


def data_for_space(name: str, space: Any, *, seed: int = 0, **kwargs: Any) -> DataSplits:
    """``load_data`` at the space's resolution, checked against its classes and channels."""
    data = load_data(name, resolution=space.resolution, seed=seed, **kwargs)
    data.check_space(space)
    return data
