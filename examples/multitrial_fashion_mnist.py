"""A plain PyTorch training script on Fashion-MNIST whose network has choices (``LayerChoice``, ``InputChoice``),
made one trial of a multi-trial search by two added lines (the two calls commented hwnas, and their import), as in
NNI's classic mode.

Each run trains the architecture the study proposes and reports its test accuracy; latency is measured on the
network itself (ONNX Runtime, batch 1). Run it as often as wanted, in as many processes or machines as wanted;
they share the study through its storage::

    for i in $(seq 20); do python examples/multitrial_fashion_mnist.py --storage sqlite:///fmnist.db; done
    python examples/multitrial_fashion_mnist.py --storage sqlite:///fmnist.db &   # a second worker, at once

Without ``--storage`` the script runs standalone (first candidates, nothing recorded), to debug the training code.
The data are the four IDX files of Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import hwnas.trial
from hwnas.space import InputChoice, LayerChoice
from hwnas.train.data.datasets import read_idx


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = LayerChoice({"k3": nn.Conv2d(1, 16, 3, padding=1), "k5": nn.Conv2d(1, 16, 5, padding=2),
                                  "k7": nn.Conv2d(1, 16, 7, padding=3)})
        self.conv2 = LayerChoice({"w16": nn.Conv2d(16, 16, 3, padding=1),
                                  "dw": nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16),
                                                      nn.Conv2d(16, 16, 1)),
                                  "w16x2": nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                                                         nn.Conv2d(16, 16, 3, padding=1))})
        self.skip = InputChoice(n_candidates=1, n_chosen=None)  # a skip connection around conv2, or none
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        y = self.conv2(x)
        s = self.skip([x])
        if s is not None:
            y = y + s
        x = F.max_pool2d(F.relu(y), 2)
        return self.fc(x.flatten(1))


def load(data_dir: Path, split: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(next(data_dir.glob(f"{split}-images-idx3-ubyte*")))[:limit]
    y = read_idx(next(data_dir.glob(f"{split}-labels-idx1-ubyte*")))[:limit]
    return torch.from_numpy(np.array(x, np.float32) / 255.0).unsqueeze(1), torch.from_numpy(np.array(y)).long()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    p.add_argument("--train-limit", type=int, default=6000)
    p.add_argument("--test-limit", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--storage", help="the study's storage: sqlite:///fmnist.db, journal:fmnist.log, postgresql://...")
    a = p.parse_args()
    torch.manual_seed(0)
    x, y = load(a.data_dir, "train", a.train_limit)
    x_test, y_test = load(a.data_dir, "t10k", a.test_limit)

    model = Net()
    arch = hwnas.trial.next_architecture(model, study=a.storage, input_shape=(1, 1, 28, 28))  # hwnas
    print(f"architecture: {arch}")

    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(a.epochs):
        model.train()
        for i in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            F.cross_entropy(model(x[i]), y[i]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"test accuracy {accuracy:.4f}")

    hwnas.trial.report(accuracy)  # hwnas


if __name__ == "__main__":
    main()
