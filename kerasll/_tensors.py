"""Input conversion shared by the numerical functions (float32 unless given float64) and batching, on every
Keras backend."""

import numpy as np


def as_float(x):
    """`x` (numpy or a tensor of the running Keras backend) as a backend float tensor: float64 stays float64,
    anything else becomes float32 (likelihood maths runs in float32 even under mixed precision)."""
    from keras import ops

    if not isinstance(x, np.ndarray) and ops.is_tensor(x):
        return x if ops.dtype(x) in ("float32", "float64") else ops.cast(x, "float32")
    x = np.asarray(x)
    return ops.convert_to_tensor(x if x.dtype == np.float64 else x.astype(np.float32))


def batches(n, batch_size):
    """Slices covering range(n) in chunks of `batch_size` (all of it if None); none when n is 0, so that
    nothing is ever called on an empty batch (a convolution in a compiled graph rejects one)."""
    if n == 0:
        return []
    if batch_size is None or batch_size >= n:
        return [slice(0, n)]
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
