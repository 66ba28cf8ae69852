"""tf.data input pipelines for training and evaluation."""

import tensorflow as tf

from kerasll.errors import check_choice

AUGMENTATIONS = (None, "crop_flip")


def crop_flip(image, seed):
    """4-pixel zero padding, a random crop back to size, a random horizontal flip."""
    height, width = image.shape[0], image.shape[1]
    padded = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=seed + [0, 1])


def make_pipeline(x, y, batch_size=128, training=True, augment=None, seed=0):
    """A batched `tf.data.Dataset` of (images, labels).

    Args:
        x, y: float32 images in [0,1] (NHWC) and integer labels.
        batch_size: images per batch.
        training: shuffle every epoch and apply `augment`.
        augment: None or "crop_flip" (CIFAR-10's usual augmentation).
        seed: seed of the shuffle and the augmentation.
    """
    check_choice("augmentation", augment, AUGMENTATIONS)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if augment == "crop_flip":
            # Fresh crop/flip seeds every epoch, repeatable from `seed`.
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds)).map(
                lambda xy, s: (crop_flip(xy[0], s), xy[1]), num_parallel_calls=tf.data.AUTOTUNE
            )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
