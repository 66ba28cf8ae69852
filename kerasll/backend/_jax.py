"""kerasll's backend operations on JAX (`kerasll.backend`)."""

import jax
import jax.numpy as jnp


# The keyed draws' hash words and widest float (`kerasll.attacks.noise`): 64-bit only where JAX has it on.
WORD = "int64" if jax.config.jax_enable_x64 else "uint32"
WIDE = "float64" if jax.config.jax_enable_x64 else "float32"


def value_and_input_grad(fn, has_aux=False):
    def summed(x, *args):
        out = fn(x, *args)
        return jnp.sum(out[0] if has_aux else out), out

    grad = jax.value_and_grad(summed, has_aux=True)

    def run(x, *args):
        (_, out), g = grad(x, *args)
        return out, g
    return run


def input_jacobian(fn):
    def run(x):
        out, pullback = jax.vjp(fn, x)
        classes = out.shape[-1]
        cotangents = jnp.broadcast_to(jnp.eye(classes, dtype=out.dtype)[:, None, :], (classes, *out.shape))
        (jac,) = jax.vmap(pullback)(cotangents)  # (C, B, ...)
        return out, jnp.moveaxis(jac, 0, 1)
    return run


def compiled(fn):
    return jax.jit(fn)


def model_function(model_ref, fn, signature=None):
    def pure(trainable, non_trainable, *args):
        def call(x):
            out, _ = model_ref().stateless_call(trainable, non_trainable, x, training=False)
            return out
        return fn(call, *args)

    jitted = jax.jit(pure)

    def run(*args):
        model = model_ref()
        return jitted([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                      *args)
    return run


def block_normal(seed, stream, block, shape, dtype):
    key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), stream), block)
    return jax.random.normal(key, tuple(shape), dtype)


def has_gpu():
    return any(d.platform == "gpu" for d in jax.devices())


def spec(shape, dtype):
    return None  # compiled functions take any shape here


def signature_key(signature):
    return None


def cross_entropy(labels, logits):
    log_p = jax.nn.log_softmax(logits, axis=-1)
    if labels.ndim == 2:
        return -jnp.sum(labels * log_p, axis=-1)
    return -jnp.take_along_axis(log_p, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]
