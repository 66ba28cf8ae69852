"""Write a small CIFAR-10-format data set (the official python release layout).

CIFAR-10 cannot be downloaded here, so kerasll's CIFAR path is proven on a
generated stand-in: 32×32×3 uint8 images whose class sets a colour pattern
(a coloured stripe orientation and hue) plus noise, so a network can learn it.
The output is `cifar-10-python.tar.gz` holding `cifar-10-batches-py/` with
`data_batch_1..5` and `test_batch`, exactly as the official tarball.

    python scripts/make_cifar_like.py --out /tmp/cifar-like --train 500 --test 100
    kerasll train --arch ddnet --dataset cifar10 --data-dir /tmp/cifar-like --epochs 1
"""

import argparse
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from kerasll.datasets import formats


def make_images(n, rng):
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 32, 32, 3), np.float32)
    for i, c in enumerate(labels):
        angle = np.pi * c / 10
        stripes = 0.5 + 0.5 * np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 0.6)
        hue = np.array([np.cos(c), np.cos(c + 2.1), np.cos(c + 4.2)]) * 0.25 + 0.5
        images[i] = stripes[..., None] * hue + rng.normal(0, 0.15, (32, 32, 3))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def write_release(out, n_train, n_test, seed=0):
    """Write the tarball into `out`; returns its path."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / formats.CIFAR_FOLDER
        folder.mkdir()
        per_batch = max(1, n_train // 5)
        for name in formats.CIFAR_BATCHES["train"]:
            formats.write_cifar_batch(folder / name, *make_images(per_batch, rng))
        formats.write_cifar_batch(folder / "test_batch", *make_images(n_test, rng))
        tarball = out / formats.CIFAR_TARBALL
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(folder, arcname=formats.CIFAR_FOLDER)
    return tarball


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=500, help="training images (split over 5 batches)")
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"wrote {write_release(args.out, args.train, args.test, args.seed)}")


if __name__ == "__main__":
    main()
