"""Build kerasll's embedded Fashion-MNIST subset from the real IDX files.

A class-balanced random sample (seeded) of the official train and test splits,
stored as uint8 in a compressed .npz inside the package, with the data set's
MIT licence notice beside it.

    python scripts/make_embedded_subset.py --source /usr/share/datasets/fashion-mnist
"""

import argparse
from pathlib import Path

import numpy as np

from kerasll.datasets import formats
from kerasll.datasets.loading import EMBEDDED


def balanced_sample(labels, per_class, rng):
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return np.sort(np.concatenate(picks))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist", help="folder with the IDX files")
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=EMBEDDED)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        images, labels = formats.load_idx(args.source, split)
        idx = balanced_sample(labels, per_class, rng)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images[idx], labels[idx].astype(np.uint8)
        arrays[f"index_{split}"] = idx.astype(np.int32)  # positions in the official split
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): "
          f"{len(arrays['y_train'])} train, {len(arrays['y_test'])} test images")


if __name__ == "__main__":
    main()
