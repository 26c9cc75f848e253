"""Plain ``torch.nn.Module`` networks and single layers from architectures and table keys."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UsageError
from .counting import count_macs, count_params  # noqa: F401 - re-exported
from .keys import HEAD_CONV, LOGITS, MBCONV, POOL, STEM, LayerKey
from .spaces import BlockPosition, SearchSpace
from .spec import ArchSpec, BlockSpec


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand (skipped when expand == 1), kxk depthwise, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, kernel: int, expand: int, stride: int, residual: bool):
        super().__init__()
        mid = int(round(cin * expand))
        self.expand = conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = conv_bn(mid, cout, 1, act=False)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class Zero(nn.Module):
    """The ``zero`` choice: the block is skipped (its residual connection passes the input through)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def build_block(pos: BlockPosition, block: BlockSpec) -> nn.Module:
    if block.is_zero:
        return Zero()
    return MBConv(pos.in_ch, pos.out_ch, block.kernel, block.expand, pos.stride, pos.residual)


class Head(nn.Module):
    def __init__(self, cin: int, cmid: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.conv = conv_bn(cin, cmid, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(cmid, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(torch.flatten(self.pool(self.conv(x)), 1)))


class Network(nn.Module):
    """stem -> first fixed MBConv -> searchable blocks -> head."""

    def __init__(self, stem: nn.Module, first: nn.Module, blocks: list[nn.Module], head: nn.Module):
        super().__init__()
        self.stem, self.first, self.blocks, self.head = stem, first, nn.ModuleList(blocks), head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for b in self.blocks:
            x = b(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_fixed(space: SearchSpace, dropout: float = 0.0) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Stem, first block and head of ``space`` (shared by child networks and the supernet)."""
    stem_k, first_k, head_k = space.fixed_keys()[:3]
    return build_layer(stem_k), build_layer(first_k), Head(head_k.in_ch, head_k.out_ch, space.num_classes, dropout)


def build_model(arch: ArchSpec, space: SearchSpace, *, dropout: float = 0.0) -> nn.Module:
    """The network for one architecture of ``space`` (validated first); for a model space, the user's model with
    every choice fixed (:func:`hwnas.space.model_space.apply_fixed_architecture`)."""
    if getattr(space, "kind", None) == "model":
        return space.build_model(arch, dropout=dropout)
    space.validate(arch)
    stem, first, head = build_fixed(space, dropout)
    blocks = [build_block(pos, b) for pos, b in zip(space.positions(), arch.blocks, strict=True)]
    return Network(stem, first, blocks, head)


class _Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


def build_layer(key: LayerKey) -> nn.Module:
    """A module computing exactly the layer a table key describes, for profiling it in isolation."""
    if key.op == STEM:
        return conv_bn(key.in_ch, key.out_ch, key.kernel, key.stride)
    if key.op == MBCONV:
        return MBConv(key.in_ch, key.out_ch, key.kernel, key.expand, key.stride, key.idskip)
    if key.op == HEAD_CONV:
        return conv_bn(key.in_ch, key.out_ch, 1)
    if key.op == POOL:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), _Flatten())
    if key.op == LOGITS:
        return nn.Linear(key.in_ch, key.out_ch)
    raise UsageError(f"no builder for layer op {key.op!r}")
