"""Augmentation presets with the papers' settings, written with torch tensor ops on one image (C, H, W) in [0, 1].

Each preset has a training transform (random, drawing from the ``torch.Generator`` it is given, so that a sample's
augmentation depends only on its seed: resumable and independent of DataLoader workers) and an evaluation
transform (deterministic). Both end at ``resolution`` × ``resolution``:

- ``imagenet``: ProxylessNAS's ImageNet training: RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3), horizontal
  flip, ColorJitter(brightness 32/255, saturation 0.5); evaluation: resize the short side to resolution / 0.875,
  centre crop.
- ``cifar``: zero-pad 4, random crop, horizontal flip (ResNet / DARTS CIFAR recipe); ``cifar-cutout`` adds a
  16-pixel Cutout (DeVries & Taylor 2017, as DARTS/ProxylessNAS CIFAR); evaluation: the image as it is.
- ``none``: evaluation transform only (resize to the resolution when needed).

They are implemented here rather than with ``torchvision.transforms`` so that they run the same everywhere hwnas
runs (torchvision is optional: see docs/search.md) and take an explicit generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import UnknownNameError

Transform = Callable[[torch.Tensor, int, "torch.Generator | None"], torch.Tensor]


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (C, H, W) or (N, C, H, W) images (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    batched = x.ndim == 4
    xb = x if batched else x[None]
    out = F.interpolate(xb, size=size, mode="bilinear", align_corners=False,
                        antialias=xb.shape[-1] > size[1] or xb.shape[-2] > size[0])
    return out if batched else out[0]


def resize_short(x: torch.Tensor, short: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h <= w:
        return resize(x, (short, max(short, round(w * short / h))))
    return resize(x, (max(short, round(h * short / w)), short))


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top:top + size, left:left + size]


def _uniform(g: torch.Generator | None, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def random_resized_crop(x: torch.Tensor, size: int, g: torch.Generator | None, scale=(0.08, 1.0),
                        ratio=(3 / 4, 4 / 3)) -> torch.Tensor:
    """torchvision's RandomResizedCrop: 10 tries at an area fraction in ``scale`` and a log-uniform aspect ratio,
    else a centre crop clamped to ``ratio``."""
    h, w = x.shape[-2:]
    area = h * w
    for _ in range(10):
        target = area * _uniform(g, *scale)
        aspect = math.exp(_uniform(g, math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (), generator=g))
            left = int(torch.randint(0, w - cw + 1, (), generator=g))
            return resize(x[..., top:top + ch, left:left + cw], (size, size))
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, round(w / ratio[0])
    elif in_ratio > ratio[1]:
        ch, cw = h, round(h * ratio[1])
    else:
        cw, ch = w, h
    top, left = (h - ch) // 2, (w - cw) // 2
    return resize(x[..., top:top + ch, left:left + cw], (size, size))


def hflip(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return x.flip(-1) if float(torch.rand((), generator=g)) < 0.5 else x


def color_jitter(x: torch.Tensor, g: torch.Generator | None, brightness: float = 32 / 255,
                 saturation: float = 0.5) -> torch.Tensor:
    """ProxylessNAS's ``ColorJitter(brightness=32/255, saturation=0.5)``: a brightness factor in [1-b, 1+b] and a
    saturation blend with the grey image, in random order, clamped to [0, 1]."""
    b = _uniform(g, max(0.0, 1 - brightness), 1 + brightness)
    s = _uniform(g, max(0.0, 1 - saturation), 1 + saturation)

    def bright(t: torch.Tensor) -> torch.Tensor:
        return (t * b).clamp(0, 1)

    def sat(t: torch.Tensor) -> torch.Tensor:
        if t.shape[0] != 3:
            return t
        grey = (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])[None]
        return (s * t + (1 - s) * grey).clamp(0, 1)

    ops = (bright, sat) if float(torch.rand((), generator=g)) < 0.5 else (sat, bright)
    for op in ops:
        x = op(x)
    return x


def pad_crop(x: torch.Tensor, g: torch.Generator | None, pad: int = 4) -> torch.Tensor:
    h, w = x.shape[-2:]
    padded = F.pad(x, (pad, pad, pad, pad))
    top = int(torch.randint(0, 2 * pad + 1, (), generator=g))
    left = int(torch.randint(0, 2 * pad + 1, (), generator=g))
    return padded[..., top:top + h, left:left + w]


def cutout(x: torch.Tensor, g: torch.Generator | None, length: int = 16) -> torch.Tensor:
    h, w = x.shape[-2:]
    cy, cx = int(torch.randint(0, h, (), generator=g)), int(torch.randint(0, w, (), generator=g))
    y0, y1, x0, x1 = max(0, cy - length // 2), min(h, cy + length // 2), max(0, cx - length // 2), min(w, cx + length // 2)
    x = x.clone()
    x[..., y0:y1, x0:x1] = 0
    return x


# ---- presets ----------------------------------------------------------------------------------------------------
def _eval_plain(x: torch.Tensor, res: int, _g=None) -> torch.Tensor:
    return resize(x, (res, res))


def _eval_imagenet(x: torch.Tensor, res: int, _g=None) -> torch.Tensor:
    return center_crop(resize_short(x, int(math.ceil(res / 0.875))), res)


def _train_imagenet(x: torch.Tensor, res: int, g: torch.Generator | None) -> torch.Tensor:
    return color_jitter(hflip(random_resized_crop(x, res, g), g), g)


def _train_cifar(x: torch.Tensor, res: int, g: torch.Generator | None) -> torch.Tensor:
    return hflip(pad_crop(resize(x, (res, res)), g), g)


def _train_cifar_cutout(x: torch.Tensor, res: int, g: torch.Generator | None) -> torch.Tensor:
    return cutout(_train_cifar(x, res, g), g, length=max(1, round(16 * res / 32)))


@dataclass(frozen=True)
class Preset:
    """A named augmentation recipe: ``train`` is None for ``none`` (the evaluation transform is used)."""

    name: str
    train: Transform | None
    eval: Transform
    description: str

    @property
    def augments(self) -> bool:
        return self.train is not None


PRESETS: dict[str, Preset] = {
    "none": Preset("none", None, _eval_plain, "no augmentation (resize to the space's resolution)"),
    "cifar": Preset("cifar", _train_cifar, _eval_plain, "pad-4 random crop + horizontal flip"),
    "cifar-cutout": Preset("cifar-cutout", _train_cifar_cutout, _eval_plain,
                           "pad-4 random crop + horizontal flip + 16 px cutout"),
    "imagenet": Preset("imagenet", _train_imagenet, _eval_imagenet,
                       "RandomResizedCrop + flip + ColorJitter(brightness 32/255, saturation 0.5); "
                       "resize to res/0.875 + centre crop to evaluate"),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UnknownNameError(f"unknown augmentation {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]
