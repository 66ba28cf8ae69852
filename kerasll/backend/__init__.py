"""What Keras 3's backend-neutral ops lack, once per backend: an input gradient, a compiled function.

kerasll's numerics are written in `keras.ops`; these few operations are not in it, so each backend module
provides them with its own machinery (TensorFlow: `GradientTape`, `tf.function`; JAX: `jax.value_and_grad`,
`jax.jit`; PyTorch: `torch.autograd.grad`, eager). This package is the only place that imports a backend
library for numerics; the module for the running backend (`keras.backend.backend()`) is imported on first use.

    >>> values, grads = kerasll.backend.value_and_input_grad(lambda x: log_px(model(x)))(x)
"""

import importlib
import weakref

MODULES = {"tensorflow": "kerasll.backend._tensorflow", "jax": "kerasll.backend._jax",
           "torch": "kerasll.backend._torch"}


def name():
    """The running Keras backend: "tensorflow", "jax" or "torch"."""
    import keras

    return keras.backend.backend()


def ops():
    """The running backend's module (see `MODULES`); a backend kerasll does not support is one line."""
    from kerasll.errors import KerasllError

    backend = name()
    if backend not in MODULES:
        raise KerasllError(f"kerasll runs on the Keras backends {', '.join(MODULES)}, not {backend!r}: "
                           f"set KERAS_BACKEND to one of them")
    return importlib.import_module(MODULES[backend])


def value_and_input_grad(fn):
    """`g(x, *args)` → (`fn(x, *args)`, ∂ Σ fn(x, *args) / ∂x): per-image values (B,) and, as the images are
    independent in inference mode, each image's gradient of its own value."""
    return ops().value_and_input_grad(fn)


def compiled(fn):
    """`fn` compiled by the backend (traced once per input shape and dtype; PyTorch: run eagerly)."""
    return ops().compiled(fn)


_FUNCTIONS = {}


def model_function(model, key, fn):
    """`fn(call, *args)` compiled, where `call(x)` is `model(x, training=False)`; built once per model and `key`.

    On JAX the model's weights are passed to the compiled function as arguments (`stateless_call`), so a model
    trained after the first call is measured with its new weights; the cache holds the model weakly.
    """
    entry = _FUNCTIONS.get(id(model))
    if entry is None or entry[0]() is not model:
        entry = (weakref.ref(model), {})
        _FUNCTIONS[id(model)] = entry
        weakref.finalize(model, _FUNCTIONS.pop, id(model), None)
    if key not in entry[1]:
        entry[1][key] = ops().model_function(entry[0], fn)
    return entry[1][key]


def to_numpy(t):
    """A backend tensor as a numpy array."""
    import keras

    return keras.ops.convert_to_numpy(t)
