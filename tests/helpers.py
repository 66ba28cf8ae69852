"""Helpers shared by test modules (no test module imports another): process starters, small data sets, a linear model."""

import os
import subprocess
import sys

import keras
import numpy as np

from devtools.cluster import localhost_cluster

KERASLL = [sys.executable, "-m", "kerasll"]  # what the `kerasll` command runs
PROCESS_ENV = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3", "COLUMNS": "200"}  # wide lines: log lines unwrapped


def kept_records(out):
    """The per-image records a `--json out` run kept beside its JSON (FILE.records/), by name."""
    records = np.load(next((out.parent / (out.name + ".records")).glob("*/*/records.npz")))
    return {k: records[k] for k in records.files if k != "__seconds__"}


def start_workers(args, workers=2, cwd=None):
    """`workers` processes running `args`, each with its TF_CONFIG of one localhost cluster; the Popen objects."""
    return [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                             env=os.environ | {"TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "3"})
            for config in localhost_cluster(workers)]


def finish(workers, timeout=240):
    """Wait for every process; [(exit code, stdout, stderr)]. A timeout kills them all."""
    outputs = []
    for w in workers:
        try:
            out, err = w.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise
        outputs.append((w.returncode, out, err))
    return outputs


RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (12, 8, 8, 1)).astype(np.uint8)
LABELS = np.arange(12) % 4  # four classes: the fewest AutoAttack's targeted DLR loss takes


def prepare_tfds(data_dir):
    """Store a four-class data set with tensorflow-datasets' own API, as a user prepares one offline."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                           "label": tfds.features.ClassLabel(names=["a", "b", "c", "d"])})
    splits = {name: tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
              for name, images, labels in (("test", IMAGES, LABELS), ("train", IMAGES[:4], LABELS[:4]))}
    tfds.dataset_builders.store_as_tfds_dataset("tiny_shapes", "1.0.0", features, splits, data_dir=str(data_dir))
    return data_dir


def write_folder(root, images=IMAGES, labels=LABELS):
    import keras

    for i, (image, label) in enumerate(zip(images, labels)):
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        keras.utils.save_img(root / f"class{label}" / f"{i:03d}.png", image, scale=False)
    return root



def linear_images(n=120, dim=4, classes=5, seed=0):
    """A linear classifier on (dim, dim, 1) images in [0.3, 0.7] and, per image, its exact L∞ robust radius."""
    import keras

    rng = np.random.default_rng(seed)
    inputs = keras.Input((dim, dim, 1))
    dense = keras.layers.Dense(classes)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w = rng.normal(size=(dim * dim, classes)).astype(np.float32)
    b = rng.normal(size=classes).astype(np.float32)
    dense.set_weights([w, b])
    x = rng.uniform(0.3, 0.7, (n, dim, dim, 1)).astype(np.float32)
    z = x.reshape(n, -1) @ w + b
    y = rng.integers(0, classes, n)
    y[: n // 2] = np.argmax(z[: n // 2], 1)  # half correctly classified
    margin = z[np.arange(n), y][:, None] - z
    dist = np.abs(w[:, y].T[:, None, :] - w.T[None]).sum(2)  # ‖w_y − w_j‖₁
    same = np.arange(classes)[None] == y[:, None]
    radius = np.where(same, np.inf, margin / np.where(same, 1.0, dist)).min(1)
    return model, x, y, np.where(np.argmax(z, 1) == y, radius, -np.inf)


def min_l1_to_plane(x, w, b):
    """The exact smallest L1 move inside the [0,1] box taking w·x + b to 0, per row of `x` (inf where the
    box cannot): the pixels of largest |w_i| move first, each to its box limit (a fractional knapsack)."""
    out = []
    for xi in x.reshape(len(x), -1):
        need = abs(xi @ w + b)
        direction = -np.sign(xi @ w + b) * np.sign(w)  # each pixel moves against the score
        room = np.where(direction > 0, 1 - xi, xi)
        cost = 0.0
        for i in np.argsort(-np.abs(w)):
            gain = abs(w[i]) * room[i]
            if gain >= need:
                cost, need = cost + need / abs(w[i]), 0.0
                break
            cost, need = cost + room[i], need - gain
        out.append(cost if need == 0 else np.inf)
    return np.array(out)


def small_cnn(input_shape=(6, 6, 1), num_classes=4, dtype="float32", seed=0):
    """A tiny conv net with a max-pool (a non-smooth op, like the real models)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, dtype=dtype)
    x = keras.layers.Conv2D(3, 3, activation="tanh", dtype=dtype)(inputs)
    x = keras.layers.MaxPooling2D(2, dtype=dtype)(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(8, activation="tanh", dtype=dtype)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, dtype=dtype)(x))


def linear_model(dim=12, num_classes=5, seed=0):
    """Logits = W·flatten(x) + b on (dim,) inputs, with W, b returned in numpy."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, num_classes)).astype(np.float32)
    b = rng.normal(size=num_classes).astype(np.float32)
    inputs = keras.Input((dim,))
    dense = keras.layers.Dense(num_classes)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w, b])
    return model, w, b


HIDING = """
import sys
from importlib.machinery import PathFinder


class HidingPathFinder(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):  # as if these packages were not installed
        if name.split(".")[0] in {hidden!r}:
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [HidingPathFinder if f is PathFinder else f for f in sys.meta_path]
"""


def hiding_site(folder, *packages):
    """A folder whose sitecustomize.py makes `packages` (top-level names) unimportable in a Python started with
    it first on PYTHONPATH, as if they were not installed; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(HIDING.format(hidden=tuple(packages)))
    return folder
