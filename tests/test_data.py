from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hwnas.space import get_space
from hwnas.train.data import (
    batches,
    data_for_space,
    load_cifar10,
    load_data,
    load_digits_data,
    load_folder,
    read_cifar_batch,
    write_cifar_batch,
)


def _cifar_dir(tmp_path, n_train=(20, 12), n_test=10, seed=0):
    """Batch files in the real CIFAR-10 python format: a pickled dict with b'data' (N, 3072) uint8, b'labels'."""
    rng = np.random.default_rng(seed)
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i, n in enumerate(n_train, start=1):
        write_cifar_batch(d / f"data_batch_{i}", rng.integers(0, 256, (n, 3, 32, 32)), rng.integers(0, 10, n))
    # the test batch written by hand, exactly as the published files lay it out
    imgs = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n_test).tolist()
    with open(d / "test_batch", "wb") as fh:
        pickle.dump({b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": imgs,
                     b"filenames": [b"x.png"] * n_test}, fh, protocol=2)
    return d, imgs, labels


def test_cifar_batches_read_back_in_channel_plane_order(tmp_path):
    d, imgs, labels = _cifar_dir(tmp_path)
    x, y = read_cifar_batch(d / "test_batch")
    assert x.shape == (10, 3, 32, 32) and x.dtype == np.uint8 and y.tolist() == labels
    # the first 1024 values of a row are the red plane, row-major
    assert np.array_equal(x[3, 0].ravel(), imgs[3, :1024]) and np.array_equal(x[3, 2].ravel(), imgs[3, 2048:])


def test_cifar10_splits_and_normalises(tmp_path):
    d, _, _ = _cifar_dir(tmp_path)
    data = load_cifar10(d, valid_fraction=0.25, seed=0)
    assert len(data.train) + len(data.valid) == 32 and len(data.valid) == 8 and len(data.test) == 10
    assert data.image_shape == (3, 32, 32) and data.num_classes == 10
    assert data.augment == "cifar" and data.train.augments and not data.valid.augments
    x, _ = data.valid.__getitems__(list(range(len(data.valid))))  # held out without augmentation
    assert abs(float(x.mean())) < 0.15 and float(x.std()) == pytest.approx(1.0, abs=0.1)
    same = load_data(f"cifar10:{d}", valid_fraction=0.25)
    assert np.array_equal(same.train.indices, data.train.indices)
    assert torch.equal(same.valid[0][0], data.valid[0][0])


def test_cifar10_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-10 folder not found"):
        load_cifar10(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="data_batch_1..5"):
        load_cifar10(tmp_path / "empty")
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR-10 python batch"):
        read_cifar_batch(bad)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil"
    evil.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        read_cifar_batch(evil)


def test_digits_are_upsampled_split_and_seeded():
    a = load_digits_data(resolution=32, seed=0)
    b = load_digits_data(resolution=32, seed=0)
    c = load_digits_data(resolution=32, seed=1)
    assert a.image_shape == (3, 32, 32) and a.num_classes == 10
    assert len(a.train) + len(a.valid) + len(a.test) == 1797
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)


def test_hard_digits_are_distorted_copies_kept_on_one_side_of_the_split():
    easy = load_digits_data(resolution=16, seed=0, limit=200)
    hard = load_digits_data(resolution=16, seed=0, limit=200, hard=True, copies=3)
    assert len(hard.test) == 3 * len(easy.test)
    assert len(hard.train) + len(hard.valid) == 3 * (len(easy.train) + len(easy.valid))
    # distorted copies of one test digit differ from each other
    n = len(easy.test)
    assert not torch.allclose(hard.test.x[0], hard.test.x[n])
    assert int(hard.test.y[0]) == int(hard.test.y[n])


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    data = load_folder(tmp_path, resolution=16, valid_fraction=0.25, test_fraction=0.25)
    assert data.num_classes == 2 and data.image_shape == (3, 16, 16)
    assert len(data.train) + len(data.valid) + len(data.test) == 12
    with pytest.raises(FileNotFoundError, match="no images"):
        load_folder(tmp_path / "cat")
    x, y = data.train[(0, 123)]  # augmented (imagenet preset for folders), seeded by the sampler's key
    assert x.shape == (3, 16, 16) and torch.equal(x, data.train[(0, 123)][0])
    assert not torch.equal(x, data.train[(0, 124)][0])


def test_batches_cover_every_image_once_in_generator_order():
    data = load_data("synthetic", n=50, resolution=8).train
    seen = torch.cat([y for _, y in batches(data, 16, generator=torch.Generator().manual_seed(0))])
    assert len(seen) == len(data) and sorted(seen.tolist()) == sorted(data.y.tolist())
    again = torch.cat([y for _, y in batches(data, 16, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(seen, again)


def test_data_must_fit_the_space():
    with pytest.raises(ValueError, match="expects 3x16x16"):
        load_data("synthetic", resolution=8).check_space(get_space("tiny"))
    assert data_for_space("synthetic", get_space("tiny")).image_shape == (3, 16, 16)
    with pytest.raises(ValueError, match="--num-classes 12"):
        load_data("synthetic", num_classes=12, resolution=16).check_space(get_space("tiny"))
    with pytest.raises(KeyError, match="unknown dataset"):
        load_data("imagenet")
    with pytest.raises(ValueError, match="needs a path"):
        load_data("cifar10")
