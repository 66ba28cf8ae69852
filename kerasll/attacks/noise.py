"""Per-sample random numbers: an image's draws depend on (seed, its key, a counter) only.

Attack results must not change when the same image is attacked in another batch,
another order, another subset or from another file format (`--limit`,
`--batch-size`, a shuffled `.npz`, an image folder), so random starts, noise and
Square's proposals are drawn from a counter-based generator keyed by the image's
*content* (`image_keys`: a 63-bit hash of its float32 pixels), not from a stream
shared by the batch nor from its position. The generator is the murmur3 32-bit
finaliser applied to the key; written in `keras.ops`, it runs inside compiled graphs on any device and
backend. TensorFlow and PyTorch hash in int64 and draw in float64; JAX, without 64-bit types by default,
hashes in uint32 (the same words) and draws in float32, so its draws round differently.
"""

import hashlib
import math

import numpy as np
from keras import ops

from kerasll import backend

_MASK = 0xFFFFFFFF


def _words(t):
    """`t` in the dtype the hash runs in: int64 holding 32-bit values, or uint32 where 64-bit integers are off
    (JAX by default); the murmur3 arithmetic below is the same in both, masked to 32 bits."""
    return ops.cast(t, backend.ops().WORD)


def _mul(h, constant):
    return ops.bitwise_and(ops.multiply(h, _words(constant)), _words(_MASK))


def _xor(a, b):
    return ops.bitwise_xor(a, _words(b) if isinstance(b, int) else b)


def _fmix(h):
    """murmur3's 32-bit finaliser on tensors holding 32-bit values."""
    h = _xor(h, ops.right_shift(h, _words(16)))
    h = _mul(h, 0x85EBCA6B)
    h = _xor(h, ops.right_shift(h, _words(13)))
    h = _mul(h, 0xC2B2AE35)
    return _xor(h, ops.right_shift(h, _words(16)))


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


def key_words(keys):
    """Images' int64 keys as the hash takes them: the keys themselves where 64-bit integers are on, else their
    (low, high) 32-bit halves, (N, 2) uint32 (JAX by default), so both halves count on every backend."""
    keys = np.asarray(keys, np.int64)
    if backend.ops().WORD == "int64":
        return keys
    return np.stack([keys & _MASK, (keys >> 32) & _MASK], axis=-1).astype(np.uint32)


def _halves(keys):
    if len(keys.shape) == 2:  # `key_words`' (low, high) pairs
        return _words(keys[:, :1]), _words(keys[:, 1:])
    keys = ops.reshape(_words(keys), (-1, 1))
    return ops.bitwise_and(keys, _words(_MASK)), ops.bitwise_and(ops.right_shift(keys, _words(32)), _words(_MASK))


def _bits(seed, keys, counter, size):
    """(B, size) 32-bit hashes of (seed, keys[b], counter, 0..size-1); both halves of each key count."""
    seed = ops.bitwise_and(_words(seed), _words(_MASK))
    low, high = _halves(keys)
    counter = ops.bitwise_and(_words(counter), _words(_MASK))
    h = _fmix(_xor(seed, 0x9E3779B9))
    h = _fmix(_xor(_fmix(_xor(h, low)), high))
    h = _fmix(_xor(h, _mul(counter, 0x27D4EB2F)))
    k = ops.expand_dims(_words(ops.arange(size)), 0)
    return _fmix(_xor(h, _mul(k, 0x165667B1)))


def fold(seed, *values):
    """A 32-bit seed word that depends on `seed` and each of `values` (integers or scalar integer tensors):
    the defenses' per-step seeds, (base seed, optimizer step, salt, replica), hashed in `keras.ops` so a
    compiled training step folds its traced step counter in on every backend."""
    h = ops.bitwise_and(_words(seed), _words(_MASK))
    for value in values:
        h = _fmix(_xor(h, _mul(ops.bitwise_and(_words(value), _words(_MASK)), 0x27D4EB2F)))
    return h


def row_keys(batch):
    """Keys 0..batch-1 for draws that depend on a row's position in its batch (the defenses' training draws,
    where the step's seed already differs every step), in the words the hash takes."""
    return ops.arange(batch, dtype=backend.ops().WORD)


def uniform(seed, keys, counter, shape, dtype="float32"):
    """Uniform [0, 1) draws of per-sample `shape` (without the batch axis) → (B, *shape).

    From the 32-bit hash in float64 where the backend has it; in float32 (JAX by default) from its top 24 bits,
    so a draw never rounds up to 1."""
    size = int(math.prod(shape))
    bits = _bits(seed, keys, counter, size)
    if backend.ops().WIDE == "float64":
        u = (ops.cast(bits, "float64") + 0.5) / 2.0**32
    else:
        u = (ops.cast(ops.right_shift(bits, _words(8)), "float32") + 0.5) / 2.0**24
    return ops.cast(ops.reshape(u, (-1, *[int(d) for d in shape])), dtype)


def normal(seed, keys, counter, shape, dtype="float32"):
    """Standard normal draws (Box–Muller) of per-sample `shape` → (B, *shape)."""
    wide = backend.ops().WIDE
    u1 = uniform(seed, keys, 2 * counter, shape, wide)
    u2 = uniform(seed, keys, 2 * counter + 1, shape, wide)
    z = ops.sqrt(-2.0 * ops.log(u1)) * ops.cos(2.0 * math.pi * u2)
    return ops.cast(z, dtype)


def signs(seed, keys, counter, shape, dtype="float32"):
    """Random ±1 of per-sample `shape` → (B, *shape)."""
    u = uniform(seed, keys, counter, shape, dtype)
    return ops.where(u < 0.5, -ops.ones_like(u), ops.ones_like(u))
