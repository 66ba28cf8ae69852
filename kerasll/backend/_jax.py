"""kerasll's backend operations on JAX (`kerasll.backend`)."""

import jax
import jax.numpy as jnp


# The keyed draws' hash words and widest float (`kerasll.attacks.noise`): 64-bit only where JAX has it on.
WORD = "int64" if jax.config.jax_enable_x64 else "uint32"
WIDE = "float64" if jax.config.jax_enable_x64 else "float32"


def value_and_input_grad(fn):
    def summed(x, *args):
        values = fn(x, *args)
        return jnp.sum(values), values

    grad = jax.value_and_grad(summed, has_aux=True)

    def run(x, *args):
        (_, values), g = grad(x, *args)
        return values, g
    return run


def compiled(fn):
    return jax.jit(fn)


def model_function(model_ref, fn):
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
