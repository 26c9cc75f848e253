"""The streamed data pipeline: formats (IDX, folders), presets, seeded DataLoaders, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas.errors import HwnasError
from hwnas.train.data import (
    UnreadableImage,
    load_data,
    load_folder,
    load_idx,
    make_loader,
    read_idx,
    write_idx,
)
from hwnas.train.data.transforms import get_preset


def _idx_dir(tmp_path, n=40, n_test=10, gz=True, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "idx"
    d.mkdir()
    sfx = ".gz" if gz else ""
    write_idx(d / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n, 28, 28)))
    write_idx(d / f"train-labels-idx1-ubyte{sfx}", np.arange(n) % classes)
    write_idx(d / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(d / f"t10k-labels-idx1-ubyte{sfx}", np.arange(n_test) % classes)
    return d


@pytest.mark.parametrize("gz", [True, False])
def test_idx_reads_gzipped_or_memory_mapped_and_repeats_grey_to_three_channels(tmp_path, gz):
    d = _idx_dir(tmp_path, gz=gz)
    raw = read_idx(d / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    assert raw.shape == (40, 28, 28) and raw.dtype == np.uint8
    assert isinstance(raw, np.memmap) != gz  # uncompressed files are memory-mapped, not read
    data = load_data(f"idx:{d}", resolution=16, valid_fraction=0.25)
    assert (len(data.train), len(data.valid), len(data.test)) == (30, 10, 10)
    assert data.image_shape == (3, 16, 16) and data.num_classes == 3
    x, y = data.train.__getitems__([0, 1, 2])
    assert x.shape == (3, 3, 16, 16) and torch.equal(x[:, 0], x[:, 2])
    one = load_idx(d, resolution=16, channels=1)
    assert one.train[0][0].shape == (1, 16, 16)


def test_fashion_mnist_from_debian_files_when_installed():
    from hwnas.train.data import FASHION_MNIST_DIR

    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    data = load_data("fashion-mnist", resolution=32, limit=500)
    assert data.num_classes == 10 and len(data.train) + len(data.valid) == 500 and len(data.test) == 500
    x, _ = data.valid.__getitems__(list(range(32)))
    assert x.shape == (32, 3, 32, 32) and torch.isfinite(x).all()


def _folder(root, classes=("a", "b"), n=4, size=(12, 10)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_imagenet_layout_and_its_errors(tmp_path):
    _folder(tmp_path / "ok" / "train")
    _folder(tmp_path / "ok" / "val", n=2)
    data = load_folder(tmp_path / "ok", resolution=8)
    assert len(data.test) == 4 and data.classes == ("a", "b") and data.augment == "imagenet"
    _folder(tmp_path / "bad" / "train")
    _folder(tmp_path / "bad" / "val", classes=("a", "c"))
    with pytest.raises(HwnasError, match="differ.*only in train: b.*only in val: c"):
        load_folder(tmp_path / "bad")
    _folder(tmp_path / "one", classes=("a",))
    with pytest.raises(HwnasError, match="at least 2"):
        load_folder(tmp_path / "one")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images"):
        load_folder(tmp_path / "empty")


def test_a_broken_image_names_its_file_in_one_line_even_from_a_worker(tmp_path):
    root = _folder(tmp_path / "f", n=6)
    (root / "a" / "9.png").write_text("not a png")
    data = load_folder(root, resolution=8, augment="none", valid_fraction=0.2, test_fraction=0.01)
    for workers in (0, 1):
        loader = make_loader(data.train_all(), 4, generator=torch.Generator().manual_seed(0), workers=workers)
        with pytest.raises(UnreadableImage) as err:
            for _ in loader:
                pass
        assert "9.png" in str(err.value) and "\n" not in str(err.value)


def test_unknown_specs_and_one_class_data(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset"):
        load_data("imagenet")
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_data(f"fashion-mnist:{tmp_path / 'none'}")
    d = _idx_dir(tmp_path, classes=1)
    with pytest.raises(HwnasError, match="at least 2"):
        load_data(f"idx:{d}")


def test_loader_order_and_augmentation_come_from_the_generator_alone(tmp_path):
    root = _folder(tmp_path / "f", n=8, size=(20, 20))
    data = load_folder(root, resolution=8, test_fraction=0.1)

    def epoch(workers):
        loader = make_loader(data.train, 4, generator=torch.Generator().manual_seed(3), workers=workers)
        return torch.cat([x for x, _ in loader])

    a, b = epoch(0), epoch(2)
    assert torch.equal(a, b)  # worker processes do not change a batch
    loader = make_loader(data.train, 4, generator=torch.Generator().manual_seed(3))
    first, second = torch.cat([x for x, _ in loader]), torch.cat([x for x, _ in loader])
    assert not torch.equal(first, second)  # a new permutation and new augmentations every epoch


def test_presets_keep_the_resolution_and_evaluation_is_deterministic():
    img = torch.rand(3, 40, 30)
    for name in ("none", "cifar", "cifar-cutout", "imagenet"):
        p = get_preset(name)
        assert p.eval(img, 24, None).shape == (3, 24, 24)
        if p.train is not None:
            g = torch.Generator().manual_seed(0)
            out = p.train(img, 24, g)
            assert out.shape == (3, 24, 24) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(get_preset("imagenet").eval(img, 24, None), get_preset("imagenet").eval(img, 24, None))
    with pytest.raises(KeyError, match="unknown augmentation"):
        get_preset("autoaugment")
