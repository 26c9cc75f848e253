"""A chain of choice blocks with NAS-Bench-201's operations: every block is a 1x1, 3x3 or 5x5 convolution (each
with BatchNorm and ReLU), a 3x3 average pool or the identity. Three stages of two blocks (8, 16 and 32 channels, a
strided 1x1 convolution between stages); 5^6 = 15,625 networks, Fashion-MNIST sized by default.

The operations differ a lot in what they can learn (a network of pools and identities is a linear model of a
3x3 convolution's features; one of 5x5 convolutions sees the whole 16 px image), so retraining a network twice
ranks it about the same: the space where ``benchmarks/ranking.py`` can measure whether a supernet ranks networks
on this CPU (docs/benchmarks.md). Each choice has its own weights (SPOS's supernet, as published).

    hwnas profile --model examples.chain_space:ChainSpace --input-shape 1,3,16,16 -o tables/chain.csv
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from hwnas.space import LayerChoice


def conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def block_choice(c: int) -> LayerChoice:
    return LayerChoice(OrderedDict(conv1=conv_bn(c, c, 1), conv3=conv_bn(c, c, 3), conv5=conv_bn(c, c, 5),
                                   pool=nn.AvgPool2d(3, 1, 1, count_include_pad=False), skip=Identity()))


class ChainSpace(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10, widths: tuple[int, ...] = (8, 16, 32),
                 blocks: int = 2):
        super().__init__()
        layers: list[nn.Module] = [conv_bn(in_channels, widths[0], 3)]
        cin = widths[0]
        for i, c in enumerate(widths):
            if i:
                layers.append(conv_bn(cin, c, 1, stride=2))
            layers += [block_choice(c) for _ in range(blocks)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
