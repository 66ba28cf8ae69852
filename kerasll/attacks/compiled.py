"""One compiled graph per (model, attack variant, input shape), built on first use.

Attacks call `compiled(model, key, fn, specs)` instead of decorating `fn` with
`tf.function` (`specs`: per argument one `TensorSpec`, or a typed bundle of them such
as `driver.Batch`): the graph closes over the model through a weak reference (no
model is kept alive by the cache), and the input signature leaves the batch
axis open, so a smaller last batch or a subset of still-robust images never
retraces.
"""

import functools
import weakref

import tensorflow as tf

_CACHE = {}


def compiled(model, key, fn, specs):
    """`fn(model, *args)` as a `tf.function` with input signature `specs`, cached per model and key."""
    entry = _CACHE.get(id(model))
    if entry is None or entry[0]() is not model:
        entry = (weakref.ref(model), {})
        _CACHE[id(model)] = entry
        weakref.finalize(model, _CACHE.pop, id(model), None)
    functions = entry[1]
    key = (key, tuple((tuple(s.shape.as_list()), s.dtype.name) for s in tf.nest.flatten(specs)))
    if key not in functions:
        # A partial, not a lambda: TensorFlow counts retracing per code object, and
        # graphs for new variants are expected, not a retracing problem.
        functions[key] = tf.function(functools.partial(_call, entry[0], fn), input_signature=specs)
    return functions[key]


def _call(model_ref, fn, *args):
    return fn(model_ref(), *args)


def batch_spec(x):
    """TensorSpec of a batch like `x` with an open batch axis."""
    return tf.TensorSpec([None, *x.shape[1:]], x.dtype)


def spec(dtype, shape=()):
    return tf.TensorSpec(shape, dtype)
