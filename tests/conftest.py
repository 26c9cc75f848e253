from __future__ import annotations

import pytest
import torch

from hwnas.profilers import create_backend
from hwnas.space import get_space


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def tiny():
    return get_space("tiny")


@pytest.fixture
def space():
    """The tiny space the search tests run on."""
    return get_space("tiny")


@pytest.fixture
def costs(space):
    """A made-up per-block latency model of ``space`` (bigger kernels and expansions cost more)."""
    from hwnas.predictors.block_costs import BlockCosts

    return BlockCosts(0.2, tuple(tuple(0.0 if c.is_zero else 0.1 * c.kernel * c.expand / 9 for c in p.choices)
                                 for p in space.positions()))


@pytest.fixture
def fake():
    return create_backend("fake")


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    """Fashion-MNIST's four IDX files, made up: 200 train / 60 test 28x28 grayscale images of 10 classes (a bright
    square whose position is the class)."""
    import numpy as np

    from hwnas.train.data.datasets import write_idx

    d = tmp_path_factory.mktemp("fmnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 60)):
        y = np.arange(n) % 10
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = divmod(int(c), 5)
            x[i, 4 + 10 * r:12 + 10 * r, 2 + 5 * col:6 + 5 * col] = 250
        write_idx(d / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(d / f"{split}-labels-idx1-ubyte.gz", y.astype(np.uint8))
    return d


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is false)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
