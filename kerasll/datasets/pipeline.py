"""Input pipelines for training and evaluation: `tf.data` on TensorFlow, a `keras.utils.PyDataset` elsewhere.

A training pipeline draws epoch e's order (and its augmentation) from
(seed, e) alone, so a run resumed at epoch e sees exactly the data an
uninterrupted run would have seen there. The two kinds draw with their own
generators (TensorFlow's stateless ops; NumPy's Philox), so their orders differ.
"""

import math

import keras
import numpy as np

from kerasll._lazy import Deferred
from kerasll.errors import check_choice

tf = Deferred("tensorflow")  # the tf.data pipeline; the PyDataset needs none

AUGMENTATIONS = (None, "crop_flip")


def crop_flip(image, seed):
    """4-pixel zero padding, a random crop back to size, a random horizontal flip."""
    height, width = image.shape[0], image.shape[1]
    padded = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=seed + [0, 1])


def make_pipeline(x, y, batch_size=128, training=True, augment=None, seed=0, epoch=None):
    """Batches of (images, labels): a `tf.data.Dataset` on Keras's TensorFlow backend, else an `ArrayBatches`.

    Args:
        x, y: float32 images in [0,1] (NHWC) and integer labels.
        batch_size: images per batch.
        training: shuffle every epoch and apply `augment`.
        augment: None or "crop_flip" (CIFAR-10's usual augmentation).
        seed: seed of the shuffle and the augmentation.
        epoch: an `epoch_counter()`, the epoch whose order the next pass draws;
            each pass adds one. Pass the same variable to `DataEpoch` among
            `fit`'s callbacks to keep it equal to Keras's epoch, so a resumed
            run continues the order where it stopped. Default: a counter from 0.

    Pass `shuffle=False` to `fit`: the pipeline shuffles (Keras ignores its
    own shuffle for a dataset, and warns).
    """
    check_choice("augmentation", augment, AUGMENTATIONS)
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(x, y, batch_size, training, augment, seed, epoch)
    if not training:
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    images, labels = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    n = len(x)
    counter = epoch if epoch is not None else tf.Variable(0, dtype=tf.int64, trainable=False)
    seed = tf.constant(int(seed), tf.int64)

    def order(_):
        e = counter.assign_add(1) - 1
        perm = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([seed, e]))
        return tf.data.Dataset.from_tensor_slices((perm, tf.fill([n], e)))

    # flat_map hides the length: state it, or Keras runs one step too many per epoch.
    ds = tf.data.Dataset.from_tensors(0).flat_map(order).apply(tf.data.experimental.assert_cardinality(n))
    if augment == "crop_flip":
        # Fresh crop/flip per image and epoch, a function of (seed, epoch, image) only.
        def load(i, e):
            s = tf.cast(tf.stack([seed * 1_000_003 + e, i]), tf.int32)
            return crop_flip(tf.gather(images, i), s), tf.gather(labels, i)

        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return ds.batch(batch_size).map(
        lambda i, e: (tf.gather(images, i), tf.gather(labels, i)), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)


def epoch_counter():
    """The epoch counter a training pipeline and `DataEpoch` share: an int64 `tf.Variable` (read inside the
    tf.data graph) on TensorFlow, a plain `Counter` elsewhere."""
    if keras.backend.backend() == "tensorflow":
        return tf.Variable(0, dtype=tf.int64, trainable=False)
    return Counter()


class Counter:
    """An epoch counter with the `assign`/`assign_add` of a variable."""

    def __init__(self, value=0):
        self.value = int(value)

    def assign(self, value):
        self.value = int(value)

    def assign_add(self, value):
        self.value += int(value)


def crop_flip_numpy(images, rng):
    """`crop_flip` for a batch in NumPy: 4-pixel zero padding, a random crop back to size, a random flip."""
    n, height, width = images.shape[:3]
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4)] + [(0, 0)] * (images.ndim - 3))
    rows, cols, flips = rng.integers(0, 9, n), rng.integers(0, 9, n), rng.random(n) < 0.5
    out = np.stack([padded[i, r:r + height, c:c + width] for i, (r, c) in enumerate(zip(rows, cols))])
    out[flips] = out[flips, :, ::-1]
    return out


class ArrayBatches(keras.utils.PyDataset):
    """`make_pipeline` on Keras's JAX and PyTorch backends: batches of NumPy arrays, epoch e shuffled (and
    augmented) by NumPy's Philox generator keyed by (seed, e), so a resumed run draws an uninterrupted one's
    data; `epoch` (a `Counter`) is set by `DataEpoch` and advanced at every epoch's end."""

    def __init__(self, x, y, batch_size, training=True, augment=None, seed=0, epoch=None):
        super().__init__()
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.batch_size, self.training, self.augment, self.seed = int(batch_size), training, augment, int(seed)
        self.epoch = epoch if epoch is not None else Counter()
        self._order = (None, None)

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def _rng(self, *words):
        return np.random.Generator(np.random.Philox(key=[self.seed, *words]))

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if not self.training:
            return self.x[rows], self.y[rows]
        e = int(self.epoch.value)
        if self._order[0] != e:
            self._order = (e, self._rng(e).permutation(len(self.x)))
        chosen = self._order[1][rows]
        images = self.x[chosen]
        if self.augment == "crop_flip":  # fresh per image and epoch: a function of (seed, epoch, batch) only
            images = crop_flip_numpy(images, self._rng(e, index + 1))
        return images, self.y[chosen]

    def on_epoch_end(self):
        if self.training:
            self.epoch.assign_add(1)


class DataEpoch(keras.callbacks.Callback):
    """Set a pipeline's epoch variable to Keras's epoch at the start of every epoch.

    With `BackupAndRestore`, a resumed `fit` starts at the epoch it stopped in;
    this callback makes the pipeline draw that epoch's order, not epoch 0's.
    """

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)
