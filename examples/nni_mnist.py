"""NNI's NAS guide network (PyTorch's MNIST example with a searchable first convolution and a skip connection),
written as the guide writes it; only the import line differs (``from hwnas.space import ...`` instead of
``from nni.nas.pytorch import mutables``).

Two changes from the guide's text, both needed for it to run at all: the 5x5 candidate keeps the 3x3 one's output
size (``padding=1``, stride 1: the guide's ``nn.Conv2d(1, 32, 5, 3)`` gives 8x8 maps where fc1 expects 12x12 after
pooling, and hwnas refuses it naming the shapes), and ``n_chosen=None`` on the skip connection, which is NNI 1.x's
default ("choose 0 or 1 of [x]"); hwnas, like NNI 2+, defaults to one chosen input.

    hwnas profile --model examples.nni_mnist:Net --input-shape 1,1,28,28 -o tables/nni-mnist.csv
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from hwnas.space import InputChoice, LayerChoice


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = LayerChoice([
            nn.Conv2d(1, 32, 3, 1),
            nn.Conv2d(1, 32, 5, 1, padding=1),
        ])  # try 3x3 kernel and 5x5 kernel
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.conv3 = nn.Conv2d(64, 64, 1, 1)
        # choose zero or one input
        self.skipcon = InputChoice(n_candidates=1, n_chosen=None)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x0 = self.skipcon([x])  # choose 0 or 1 from [x]
        x = self.conv3(x)
        if x0 is not None:  # skip connection allowed
            x += x0
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = F.relu(x)  # (the guide's "same as the original" part: PyTorch's MNIST example)
        x = self.fc1(x.flatten(1))
        x = F.relu(x)
        x = self.dropout2(x)
        return self.fc2(x)
