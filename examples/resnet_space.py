"""A ResNet-style search space, different from the MBConv backbone: every residual block chooses its kernel size
(3 or 5) and the width of its hidden layer (1x or 2x the block's channels), and the second block of every stage may
be skipped. Six searchable blocks, 4 x 4 x 5 x 4 x 5 x 4 ... networks; Fashion-MNIST sized by default.

    hwnas profile --model examples.resnet_space:ResNetSpace --input-shape 1,1,28,28 -o tables/resnet.csv
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from hwnas.space import LayerChoice


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """conv k x k (c -> hidden) -> conv k x k (hidden -> c), added to the input."""

    def __init__(self, c: int, hidden: int, k: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, hidden, k), conv_bn(hidden, c, k, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class Skip(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def block_choice(c: int, *, skippable: bool) -> LayerChoice:
    ops: OrderedDict[str, nn.Module] = OrderedDict()
    for k in (3, 5):
        for w in (1, 2):
            ops[f"k{k}w{w}"] = Bottleneck(c, c * w, k)
    if skippable:
        ops["skip"] = Skip()
    return LayerChoice(ops)


class ResNetSpace(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        self.stem = conv_bn(in_channels, widths[0], 3)
        stages = []
        cin = widths[0]
        for i, c in enumerate(widths):
            stages.append(nn.Sequential(OrderedDict(
                down=conv_bn(cin, c, 3, stride=1 if i == 0 else 2),
                b0=block_choice(c, skippable=False),
                b1=block_choice(c, skippable=True))))
            cin = c
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def rgb_small() -> ResNetSpace:
    """Three input channels and narrow stages: what the tests search on small generated RGB images."""
    return ResNetSpace(in_channels=3, num_classes=4, widths=(8, 16))
