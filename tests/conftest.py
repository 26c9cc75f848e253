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
def fake():
    return create_backend("fake")


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is false)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
