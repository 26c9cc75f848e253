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


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is false)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
