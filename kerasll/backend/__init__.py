"""What Keras 3's backend-neutral ops lack, once per backend: an input gradient, a compiled function.

kerasll's numerics are written in `keras.ops`; these few operations are not in it, so each backend module
provides them with its own machinery (TensorFlow: `GradientTape`, `tf.function`; JAX: `jax.value_and_grad`,
`jax.jit`; PyTorch: `torch.autograd.grad`, eager). This package is the only place that imports a backend
library for numerics; the module for the running backend (`keras.backend.backend()`) is imported on first use.

    >>> values, grads = kerasll.backend.value_and_input_grad(lambda x: log_px(model(x)))(x)
"""

import functools
import importlib
import weakref

MODULES = {"tensorflow": "kerasll.backend._tensorflow", "jax": "kerasll.backend._jax",
           "torch": "kerasll.backend._torch"}


def name():
    """The running Keras backend: "tensorflow", "jax" or "torch"."""
    import keras

    return keras.backend.backend()


def _unsupported(backend):
    from kerasll.errors import KerasllError

    return KerasllError(f"kerasll runs on the Keras backends {', '.join(MODULES)}, not {backend!r}: "
                        f"set KERAS_BACKEND to one of them")


@functools.cache  # the backend is fixed once Keras is imported; the draws ask for it at every op
def ops():
    """The running backend's module (see `MODULES`); a backend kerasll does not support is one line."""
    backend = name()
    if backend not in MODULES:
        raise _unsupported(backend)
    return importlib.import_module(MODULES[backend])


def requested():
    """(the backend Keras will start on, where that was set), read as Keras reads it without importing it:
    KERAS_BACKEND, else the "backend" of keras.json in KERAS_HOME (default ~/.keras), else tensorflow."""
    import json
    import os

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    home = os.path.expanduser("~")
    config = os.path.join(os.environ.get("KERAS_HOME") or
                          os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras"), "keras.json")
    try:
        with open(config) as f:
            return str(json.load(f).get("backend", "tensorflow")), config
    except (OSError, ValueError, AttributeError):  # no file, or not a JSON object: Keras's default
        return "tensorflow", "Keras's default"


def check_requested():
    """Before Keras is imported: a one-line `KerasllError` if the backend it would start on (`requested`) is not
    one kerasll runs on, or its library is not installed (instead of Keras's traceback). Imports nothing."""
    from kerasll.errors import KerasllError

    backend, source = requested()
    if backend not in MODULES:
        raise _unsupported(backend)
    if not _installed(backend):
        installed = [b for b in MODULES if _installed(b)]
        instead = f"set KERAS_BACKEND to one that is ({', '.join(installed)})" if installed else "install one"
        raise KerasllError(f"Keras is set to the {backend} backend ({source}), but {backend} is not installed "
                           f"here: pip install {backend}, or {instead}")


def value_and_input_grad(fn, has_aux=False):
    """`g(x, *args)` → (`fn(x, *args)`, ∂ Σ fn(x, *args) / ∂x): per-image values (B,) and, as the images are
    independent in inference mode, each image's gradient of its own value (zero where it does not depend on
    `x`). With `has_aux`, `fn` returns (values, aux) and `g` gives ((values, aux), gradient)."""
    return ops().value_and_input_grad(fn, has_aux)


def input_jacobian(fn):
    """`g(x)` → (`fn(x)` (B, C), its Jacobian per image (B, C, *x.shape[1:])): the images are independent, so
    row b of the batch Jacobian is image b's (TensorFlow: `batch_jacobian`; JAX: C vector-Jacobian products
    under `vmap`; PyTorch: one backward pass per output)."""
    return ops().input_jacobian(fn)


def vjp(fn, x):
    """(`fn(x)`, `pull`) where `pull(c)` = Jᵀc, the vector-Jacobian product of `fn` at `x` with a cotangent
    shaped like `fn(x)`; callable more than once, and differentiable again (double backprop: inside a
    defense's training step, in the weights)."""
    return ops().vjp(fn, x)


def jvp(fn, x, tangent):
    """(`fn(x)`, J·`tangent`): the Jacobian-vector product of `fn` at `x` (TensorFlow: `ForwardAccumulator`;
    JAX: `jax.jvp`; PyTorch: the double-vjp trick), differentiable again like `vjp`."""
    return ops().jvp(fn, x, tangent)


def train_step(model, *args):
    """One training step of a `kerasll.defenses.DefenseModel` in the running backend's pattern (Keras's
    "customizing what happens in fit" for each backend; JAX's stateless): `args` are Keras's own, `(data,)`
    or, on JAX, `(state, data)`. The defense writes its examples and its loss once, in `keras.ops`."""
    return ops().train_step(model, *args)


def replica_id():
    """The replica in sync under a `tf.distribute` strategy (TensorFlow); 0 elsewhere."""
    return ops().replica_id()


def compiled(fn):
    """`fn` compiled by the backend (traced once per input shape and dtype; PyTorch: run eagerly)."""
    return ops().compiled(fn)


_FUNCTIONS = {}


def model_function(model, key, fn, signature=None):
    """`fn(call, *args)` compiled, where `call(x)` is `model(x, training=False)`; built once per model, `key` and
    `signature` (per argument a `spec`, or a bundle of them: TensorFlow's input signature, whose open batch axis
    spares retracing for a smaller last batch; ignored elsewhere).

    On JAX the model's weights are passed to the compiled function as arguments (`stateless_call`), so a model
    trained after the first call is measured with its new weights; the cache holds the model weakly.
    """
    key = (key, ops().signature_key(signature))
    entry = _FUNCTIONS.get(id(model))
    if entry is None or entry[0]() is not model:
        entry = (weakref.ref(model), {})
        _FUNCTIONS[id(model)] = entry
        weakref.finalize(model, _FUNCTIONS.pop, id(model), None)
    if key not in entry[1]:
        entry[1][key] = ops().model_function(entry[0], fn, signature)
    return entry[1][key]


def cross_entropy(labels, logits):
    """Per-row cross-entropy of float32 `logits` (taken as they are) against integer `labels` (B,), or against
    probability rows (B, C). Keras's own losses look through a softmax that made their input, which would
    measure a model that outputs probabilities on its pre-softmax scores instead."""
    return ops().cross_entropy(labels, logits)


def block_normal(seed, stream, block, shape, dtype):
    """Standard normal draws of `shape`, a function of the integers (seed, stream, block) only: the backend's
    own counter-based generator (TensorFlow: Philox through `stateless_normal`; JAX: `jax.random` with
    `fold_in`; PyTorch: a generator seeded from the three), so one backend always draws the same numbers, and
    different backends draw different ones (randomized smoothing's noise blocks; docs/backends.md)."""
    return ops().block_normal(seed, stream, block, shape, dtype)


def top_k_within(x, k, most):
    """The `k` largest values of each row of `x` (B, D) and their indices, where `k` is data dependent (a scalar
    tensor) and at most the Python int `most`: TensorFlow and PyTorch take exactly `k` columns; JAX, whose
    compiled shapes are static, takes `most`. Callers must be right with extra, smaller columns."""
    return ops().top_k_within(x, k, most)


def local_devices():
    """JAX: the devices of this process an evaluation spreads its chunks over (`jax.local_devices()`)."""
    return ops().local_devices()


def on_device(device):
    """JAX: a context in which new arrays and compiled functions go to `device` (`jax.default_device`)."""
    return ops().on_device(device)


def has_gpu():
    """Whether the running backend computes on a GPU."""
    return ops().has_gpu()


def spec(shape, dtype):
    """One argument's shape (None: any size) and dtype in a `model_function` signature (TensorFlow's
    `TensorSpec`; None elsewhere, where none is needed)."""
    return ops().spec(shape, dtype)


def to_numpy(t):
    """A backend tensor as a numpy array."""
    import keras

    return keras.ops.convert_to_numpy(t)


def _installed(package):
    """Whether the import system's path-based finder finds `package`, asked directly: the other hooks on
    `sys.meta_path` (the command line's quiet TensorFlow import) are not run by a mere question."""
    import sys
    from importlib.machinery import PathFinder

    finders = [f for f in sys.meta_path if isinstance(f, type) and issubclass(f, PathFinder)] or [PathFinder]
    return any(f.find_spec(package) is not None for f in finders)
