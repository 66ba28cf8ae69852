"""tf.data input pipelines for training and evaluation.

A training pipeline draws epoch e's order (and its augmentation) from
(seed, e) alone, so a run resumed at epoch e sees exactly the data an
uninterrupted run would have seen there.
"""

import keras
import tensorflow as tf

from kerasll.errors import check_choice

AUGMENTATIONS = (None, "crop_flip")


def crop_flip(image, seed):
    """4-pixel zero padding, a random crop back to size, a random horizontal flip."""
    height, width = image.shape[0], image.shape[1]
    padded = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=seed + [0, 1])


def make_pipeline(x, y, batch_size=128, training=True, augment=None, seed=0, epoch=None):
    """A batched `tf.data.Dataset` of (images, labels).

    Args:
        x, y: float32 images in [0,1] (NHWC) and integer labels.
        batch_size: images per batch.
        training: shuffle every epoch and apply `augment`.
        augment: None or "crop_flip" (CIFAR-10's usual augmentation).
        seed: seed of the shuffle and the augmentation.
        epoch: an int64 `tf.Variable`, the epoch whose order the next pass draws;
            each pass adds one. Pass the same variable to `DataEpoch` among
            `fit`'s callbacks to keep it equal to Keras's epoch, so a resumed
            run continues the order where it stopped. Default: a counter from 0.

    Pass `shuffle=False` to `fit`: the pipeline shuffles (Keras ignores its
    own shuffle for a dataset, and warns).
    """
    check_choice("augmentation", augment, AUGMENTATIONS)
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
