"""Image datasets as ``torch.utils.data`` datasets: where the images come from (sources) and what a split sees
(views with a transform and a normalisation).

Memory: a source keeps what one image costs on disk at most. Image folders list their files and decode one image
per ``__getitem__``; IDX files are held as uint8 (uncompressed files memory-mapped, gzipped ones decompressed once:
47 MB for Fashion-MNIST's 60,000 training images); CIFAR-10 batches as uint8 (150 MB for the 50,000 training
images). Only scikit-learn's digits and the synthetic test set (both < 30 MB) are prepared in memory as float
tensors, exactly as before, so their results stay comparable with earlier runs.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ...errors import InputNotFound, UsageError
from .transforms import Preset, get_preset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


class UnreadableImage(UsageError):
    """An image file that cannot be decoded. Raised in a DataLoader worker, torch re-raises it in the main process
    as ``UnreadableImage("Caught ... Original Traceback ...")``: only the original one-line message is kept."""

    def __init__(self, message: str):
        if message.startswith("Caught "):
            last = [ln for ln in message.strip().splitlines() if ln.strip()][-1]
            message = last.split(": ", 1)[1] if ": " in last else last
        super().__init__(message)


def _key(key: Any) -> tuple[int, int | None]:
    """A sampler key is an index or (index, augmentation seed) (:class:`hwnas.train.data.loaders.SeededSampler`)."""
    if isinstance(key, (tuple, list)):
        return int(key[0]), int(key[1])
    return int(key), None


# ---- in-memory float tensors (digits, synthetic) ---------------------------------------------------------------
@dataclass(frozen=True)
class ImageData(Dataset):
    """Images ``x`` (N, C, H, W) float32, normalised, with integer labels ``y`` (N,), held in memory."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or len(self.x) != len(self.y):
            raise UsageError(f"images must be (N, C, H, W) with N labels; got {tuple(self.x.shape)} and "
                             f"{tuple(self.y.shape)}")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, key: Any) -> tuple[torch.Tensor, torch.Tensor]:
        i, _ = _key(key)
        return self.x[i], self.y[i]

    def __getitems__(self, keys: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor([_key(k)[0] for k in keys], dtype=torch.long)
        return self.x[idx], self.y[idx]

    @property
    def labels(self) -> np.ndarray:
        return self.y.numpy()

    @property
    def augments(self) -> bool:
        return False

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageData:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.x[index], self.y[index])


# ---- sources: uint8 images on disk or in memory -----------------------------------------------------------------
class ArraySource:
    """uint8 images (N, H, W) or (N, C, H, W) — a numpy array or memory map — with int64 labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, name: str):
        if images.ndim == 3:
            images = images[:, None]
        self.images, self.labels, self.name = images, np.asarray(labels, dtype=np.int64), name

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.images[i]))

    def read_many(self, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.images[idx]))

    def stats(self, limit: int = 10000, seed: int = 0) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] from up to ``limit`` images (seeded)."""
        n = len(self)
        idx = np.sort(np.random.default_rng(seed).permutation(n)[:limit])
        x = self.read_many(idx).float() / 255.0
        return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()


class FolderSource:
    """Image files listed once; each is decoded when it is read (PIL), as RGB or, if every checked file is, L."""

    def __init__(self, files: list[Path], labels: np.ndarray, classes: list[str], name: str):
        self.files, self.labels, self.classes, self.name = files, np.asarray(labels, dtype=np.int64), classes, name

    def __len__(self) -> int:
        return len(self.files)

    def read(self, i: int) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        f = self.files[i]
        try:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnreadableImage(f"cannot read image {f}: {type(exc).__name__}: {exc}") from None
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()

    def read_many(self, idx: np.ndarray) -> list[torch.Tensor]:
        return [self.read(int(i)) for i in idx]


# ---- views: what a split sees ----------------------------------------------------------------------------------
class ImageSet(Dataset):
    """The images ``indices`` of ``source``, transformed to ``channels`` × ``resolution`` × ``resolution`` and
    normalised with ``mean`` / ``std``. With ``augment`` the preset's training transform runs, seeded per sample
    by the sampler's key (index, seed); without, its evaluation transform."""

    def __init__(self, source: ArraySource | FolderSource, indices: np.ndarray, *, preset: Preset | str,
                 augment: bool, resolution: int, channels: int, mean: list[float], std: list[float]):
        self.source, self.indices = source, np.asarray(indices, dtype=np.int64)
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.augments = bool(augment and self.preset.augments)
        self.resolution, self.channels = resolution, channels
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.source.labels[self.indices]

    def with_augment(self, augment: bool) -> ImageSet:
        return ImageSet(self.source, self.indices, preset=self.preset, augment=augment, resolution=self.resolution,
                        channels=self.channels, mean=self.mean.flatten().tolist(), std=self.std.flatten().tolist())

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        """(…, C, H, W) float in [0, 1] -> the space's channels, normalised."""
        c = x.shape[-3]
        if c != self.channels:
            if c == 1:
                x = x.expand(*x.shape[:-3], self.channels, *x.shape[-2:])
            elif self.channels == 1:
                x = x.mean(dim=-3, keepdim=True)
            else:
                raise UsageError(f"{self.source.name}: images have {c} channels, the space takes {self.channels}")
        mean, std = self.mean, self.std
        if mean.shape[0] != x.shape[-3]:
            mean, std = mean.mean().view(1, 1, 1), std.mean().view(1, 1, 1)
        return ((x - mean) / std).contiguous()

    def __getitem__(self, key: Any) -> tuple[torch.Tensor, torch.Tensor]:
        i, seed = _key(key)
        x = self.source.read(int(self.indices[i])).float().div_(255.0)
        if self.augments and seed is not None:
            x = self.preset.train(x, self.resolution, torch.Generator().manual_seed(seed))
        else:
            x = self.preset.eval(x, self.resolution, None)
        return self._finish(x), torch.tensor(int(self.source.labels[self.indices[i]]))

    def __getitems__(self, keys: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        pos = np.array([_key(k)[0] for k in keys], dtype=np.int64)
        labels = torch.from_numpy(self.source.labels[self.indices[pos]])
        if isinstance(self.source, ArraySource) and not self.augments and self.preset.name in ("none", "cifar",
                                                                                               "cifar-cutout"):
            # one batched read and resize: the plain evaluation transform on a whole batch
            x = self.source.read_many(self.indices[pos]).float().div_(255.0)
            x = self.preset.eval(x, self.resolution, None)
            return self._finish(x), labels
        xs = [self[k][0] for k in keys]
        return torch.stack(xs), labels


# ---- file formats -----------------------------------------------------------------------------------------------
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
    from ...io import atomic_write

    images = np.asarray(images, dtype=np.uint8)
    payload = {b"batch_label": b"hwnas", b"labels": [int(v) for v in labels],
               b"data": images.reshape(len(images), -1), b"filenames": [f"{i}.png".encode() for i in range(len(images))]}
    atomic_write(path, lambda fh: pickle.dump(payload, fh, protocol=2), mode="wb")


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (MNIST's format; gzipped when the name ends in .gz). Uncompressed files are memory-mapped."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"IDX file not found: {path}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
            header, offset = raw[:4], 4
        else:
            with path.open("rb") as fh:
                header = fh.read(4)
            raw, offset = None, 4
        zero, dtype_code, ndim = struct.unpack(">HBB", header)
        if zero != 0 or dtype_code not in _IDX_TYPES or not 1 <= ndim <= 4:
            raise ValueError("bad magic number")
        dims_bytes = raw[4:4 + 4 * ndim] if raw is not None else path.open("rb").read(4 + 4 * ndim)[4:]
        dims = struct.unpack(f">{ndim}I", dims_bytes)
        offset += 4 * ndim
        dtype = np.dtype(_IDX_TYPES[dtype_code])
        if raw is not None:
            arr = np.frombuffer(raw, dtype=dtype, count=int(np.prod(dims)), offset=offset).reshape(dims)
        else:
            arr = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=dims)
    except (OSError, EOFError, struct.error, ValueError) as exc:
        raise UsageError(f"{path} is not an IDX file ({type(exc).__name__}: {exc})") from None
    return arr


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz); for tests and small subsets."""
    from ...io import atomic_write

    array = np.ascontiguousarray(array, dtype=np.uint8)
    payload = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=1)
    atomic_write(path, lambda fh: fh.write(payload), mode="wb")


def list_folder(root: Path, classes: list[str] | None = None) -> tuple[list[Path], np.ndarray, list[str]]:
    """(files, labels, classes) of ``root/<class>/*`` (image suffixes only); nothing is decoded."""
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
    files, labels = [], []
    for ci, cls in enumerate(classes):
        d = root / cls
        for f in sorted(d.iterdir()) if d.is_dir() else []:
            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                files.append(f)
                labels.append(ci)
    return files, np.asarray(labels, dtype=np.int64), classes


# ---- the small in-memory sets: digits and synthetic --------------------------------------------------------------
def to_float(images: np.ndarray | torch.Tensor, resolution: int | None, channels: int = 3) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if resolution is not None and x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > resolution)
    return x.contiguous()


def normalise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train, *others)]


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def distort(x: torch.Tensor, y: torch.Tensor, *, copies: int, rng: np.random.Generator
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
