"""One compiled function per (model, attack variant, input shape), built on first use.

Attacks call `compiled(model, key, fn, specs)` instead of decorating `fn` with a backend's compiler
(`specs`: per argument one `spec`, or a typed bundle of them such as `driver.Batch`): the backend layer's
`model_function` (TensorFlow: a `tf.function` with that input signature, whose open batch axis spares
retracing for a smaller last batch or a subset of still-robust images; JAX: `jax.jit` with the weights as
arguments; PyTorch: eager). The cache holds the model weakly.
"""

from kerasll import backend


def compiled(model, key, fn, specs):
    """`fn(model, *args)` compiled with input signature `specs`, cached per model, key and signature."""
    return backend.model_function(model, key, lambda call, *args: fn(_Forward(call), *args), specs)


class _Forward:
    """A model's inference call, where attack code calls `model(x, training=False)`."""

    def __init__(self, call):
        self.call = call

    def __call__(self, x, training=False):
        return self.call(x)


def batch_spec(x):
    """The `spec` of a batch like `x` with an open batch axis."""
    return backend.spec([None, *x.shape[1:]], x.dtype)


def spec(dtype, shape=()):
    """The `spec` of one argument of `dtype` and `shape`."""
    return backend.spec(shape, dtype)
