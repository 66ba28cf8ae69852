"""Input conversion shared by the numerical functions (float32 unless given float64). TensorFlow is imported by
the functions that need it, so `batches` serves every backend."""

import numpy as np


def as_float(x):
    """`x` (numpy or a tensor of the running Keras backend) as a backend float tensor: float64 stays float64,
    anything else becomes float32 (likelihood maths runs in float32 even under mixed precision)."""
    from keras import ops

    if not isinstance(x, np.ndarray) and ops.is_tensor(x):
        return x if ops.dtype(x) in ("float32", "float64") else ops.cast(x, "float32")
    x = np.asarray(x)
    return ops.convert_to_tensor(x if x.dtype == np.float64 else x.astype(np.float32))


def as_float_tensor(x):
    """`x` (numpy or tensor) as a float tensor: float64 stays float64, else float32.

    Likelihood maths runs in float32 even under a mixed-precision policy; float64
    is kept so finite-difference checks can run in double precision.
    """
    import tensorflow as tf

    if isinstance(x, tf.Tensor) or isinstance(x, tf.Variable):
        return x if x.dtype in (tf.float32, tf.float64) else tf.cast(x, tf.float32)
    x = np.asarray(x)
    return tf.convert_to_tensor(x if x.dtype == np.float64 else x.astype(np.float32))


def batches(n, batch_size):
    """Slices covering range(n) in chunks of `batch_size` (all of it if None); none when n is 0, so that
    nothing is ever called on an empty batch (a convolution in a compiled graph rejects one)."""
    if n == 0:
        return []
    if batch_size is None or batch_size >= n:
        return [slice(0, n)]
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def map_batches(fn, x, batch_size, *others):
    """Apply `fn` batch-wise over the first axis and concatenate the results."""
    import tensorflow as tf

    outs = [fn(x[s], *(o[s] for o in others)) for s in batches(int(x.shape[0]), batch_size)]
    return tf.concat(outs, 0)
