"""Per-sample random numbers: an image's draws depend on (seed, its key, a counter) only.

Attack results must not change when the same image is attacked in another batch,
another order, another subset or from another file format (`--limit`,
`--batch-size`, a shuffled `.npz`, an image folder), so random starts, noise and
Square's proposals are drawn from a counter-based generator keyed by the image's
*content* (`image_keys`: a 63-bit hash of its float32 pixels), not from a stream
shared by the batch nor from its position. The generator is the murmur3 32-bit
finaliser applied to the key; it runs inside compiled graphs on any device.
"""

import hashlib
import math

import numpy as np

import tensorflow as tf

_MASK = 0xFFFFFFFF


_xor, _and = tf.bitwise.bitwise_xor, tf.bitwise.bitwise_and


def _fmix(h):
    """murmur3's 32-bit finaliser on int64 tensors holding 32-bit values."""
    h = _xor(h, tf.bitwise.right_shift(h, 16))
    h = _and(h * 0x85EBCA6B, _MASK)
    h = _xor(h, tf.bitwise.right_shift(h, 13))
    h = _and(h * 0xC2B2AE35, _MASK)
    return _xor(h, tf.bitwise.right_shift(h, 16))


def image_keys(x):
    """Each image's key: the first 63 bits of the BLAKE2b hash of its float32 pixels, (N,) int64.

    Equal images get equal keys wherever they sit in a set, so an image's random
    draws, and with them its attack result, depend on what it is, not where it is.
    """
    x = np.ascontiguousarray(np.asarray(x, np.float32))
    rows = x.reshape(len(x), -1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in rows)
    return (np.frombuffer(digests, ">u8") >> np.uint64(1)).astype(np.int64)


def keys_of(x, keys=None):
    """`keys` as an int64 array, or the images' content keys when None: every attack's prologue."""
    return image_keys(x) if keys is None else np.asarray(keys, np.int64)


def _bits(seed, keys, counter, size):
    """(B, size) 32-bit hashes of (seed, keys[b], counter, 0..size-1) as int64; both halves of each key count."""
    seed = _and(tf.cast(seed, tf.int64), _MASK)
    keys = tf.cast(tf.reshape(keys, [-1, 1]), tf.int64)
    low, high = _and(keys, _MASK), _and(tf.bitwise.right_shift(keys, 32), _MASK)
    counter = _and(tf.cast(counter, tf.int64), _MASK)
    h = _fmix(_xor(seed, 0x9E3779B9))
    h = _fmix(_xor(_fmix(_xor(h, low)), high))
    h = _fmix(_xor(h, _and(counter * 0x27D4EB2F, _MASK)))
    k = tf.range(size, dtype=tf.int64)[None, :]
    return _fmix(_xor(h, _and(k * 0x165667B1, _MASK)))


def uniform(seed, keys, counter, shape, dtype=tf.float32):
    """Uniform [0, 1) draws of per-sample `shape` (without the batch axis) → (B, *shape)."""
    size = int(math.prod(shape))
    u = (tf.cast(_bits(seed, keys, counter, size), tf.float64) + 0.5) / 2.0**32
    return tf.cast(tf.reshape(u, tf.concat([[-1], tf.constant(shape, tf.int32)], 0)), dtype)


def normal(seed, keys, counter, shape, dtype=tf.float32):
    """Standard normal draws (Box–Muller) of per-sample `shape` → (B, *shape)."""
    u1 = uniform(seed, keys, 2 * counter, shape, tf.float64)
    u2 = uniform(seed, keys, 2 * counter + 1, shape, tf.float64)
    z = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * math.pi * u2)
    return tf.cast(z, dtype)


def signs(seed, keys, counter, shape, dtype=tf.float32):
    """Random ±1 of per-sample `shape` → (B, *shape)."""
    u = uniform(seed, keys, counter, shape, dtype)
    return tf.where(u < 0.5, -tf.ones_like(u), tf.ones_like(u))
