"""Per-sample random numbers: an image's draws depend on (seed, its index, a counter) only.

Attack results must not change when the same image is attacked in another batch
(`--limit`, `--batch-size`), so random starts and Square's proposals are drawn
from a counter-based generator keyed by the image's index in the evaluated set,
not from a stream shared by the batch. The generator is the murmur3 32-bit
finaliser applied to the key; it runs inside compiled graphs on any device.
"""

import math

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


def _bits(seed, index, counter, size):
    """(B, size) 32-bit hashes of (seed, index[b], counter, 0..size-1) as int64."""
    seed = _and(tf.cast(seed, tf.int64), _MASK)
    index = _and(tf.cast(tf.reshape(index, [-1, 1]), tf.int64), _MASK)
    counter = _and(tf.cast(counter, tf.int64), _MASK)
    h = _fmix(_xor(seed, 0x9E3779B9))
    h = _fmix(_xor(h, index))
    h = _fmix(_xor(h, _and(counter * 0x27D4EB2F, _MASK)))
    k = tf.range(size, dtype=tf.int64)[None, :]
    return _fmix(_xor(h, _and(k * 0x165667B1, _MASK)))


def uniform(seed, index, counter, shape, dtype=tf.float32):
    """Uniform [0, 1) draws of per-sample `shape` (without the batch axis) → (B, *shape)."""
    size = int(math.prod(shape))
    u = (tf.cast(_bits(seed, index, counter, size), tf.float64) + 0.5) / 2.0**32
    return tf.cast(tf.reshape(u, tf.concat([[-1], tf.constant(shape, tf.int32)], 0)), dtype)


def normal(seed, index, counter, shape, dtype=tf.float32):
    """Standard normal draws (Box–Muller) of per-sample `shape` → (B, *shape)."""
    u1 = uniform(seed, index, 2 * counter, shape, tf.float64)
    u2 = uniform(seed, index, 2 * counter + 1, shape, tf.float64)
    z = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * math.pi * u2)
    return tf.cast(z, dtype)


def signs(seed, index, counter, shape, dtype=tf.float32):
    """Random ±1 of per-sample `shape` → (B, *shape)."""
    u = uniform(seed, index, counter, shape, dtype)
    return tf.where(u < 0.5, -tf.ones_like(u), tf.ones_like(u))


def integers(seed, index, counter, high):
    """One integer in [0, high) per sample (high a scalar tensor) → (B,) int32."""
    u = uniform(seed, index, counter, [1], tf.float64)[:, 0]
    return tf.minimum(tf.cast(tf.floor(u * tf.cast(high, tf.float64)), tf.int32), tf.cast(high, tf.int32) - 1)
