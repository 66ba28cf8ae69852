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


def local_devices():
    return jax.local_devices()


def on_device(device):
    return jax.default_device(device)


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


def vjp(fn, x):
    out, pullback = jax.vjp(fn, x)
    return out, lambda cotangent: pullback(cotangent.astype(out.dtype))[0]


def jvp(fn, x, tangent):
    return jax.jvp(fn, (x,), (tangent.astype(x.dtype),))


class _Inference:
    """The model at fixed weights in inference mode, callable as `model(x, training=False)` (the attacks')."""

    def __init__(self, model, trainable, non_trainable):
        self.model, self.trainable, self.non_trainable = model, trainable, non_trainable

    def __call__(self, x, training=False):
        return self.model.stateless_call(self.trainable, self.non_trainable, x, training=False)[0]


def train_step(model, state, data):
    """A defense's training step (`DefenseModel`), Keras's stateless JAX pattern: the examples drawn at the
    step's weights without gradient, the loss differentiated with `jax.value_and_grad` over `stateless_call`;
    the optimizer's and the metrics' variables updated statelessly. Data-parallel `keras.distribution` shards
    the global batch; the program (and each row's draws) is the one-device one."""
    import keras

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    optimizer = model.optimizer
    step = optimizer_vars[[v is optimizer.iterations for v in optimizer.variables].index(True)]
    seed = model.draw_seed(step, 0)
    fixed = [jax.lax.stop_gradient(v) for v in trainable]
    batch = jax.lax.stop_gradient(model.examples(_Inference(model, fixed, non_trainable), x, y, seed, step))

    def loss_fn(trainable, metrics_vars):
        updates = []

        def forward(z):
            out, new = model.stateless_call(trainable, non_trainable, z, training=True)
            updates.append(new)
            return out

        objective = model.objective(forward, batch, y, seed)
        supervised, (_, _, metrics_vars) = model.stateless_compute_loss(
            trainable, non_trainable, metrics_vars, x=objective.x, y=y, y_pred=objective.y_pred,
            sample_weight=sample_weight, training=True)
        loss = model.total_loss(supervised, objective.penalty)
        with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, optimizer_vars))):
            scaled = optimizer.scale_loss(loss)
        return scaled, (loss, objective, updates[0] if updates else non_trainable, metrics_vars)

    (_, (loss, objective, non_trainable, metrics_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        trainable, metrics_vars)
    trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
    mapping = list(zip(model.metrics_variables, metrics_vars))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        model.track(loss, objective, objective.x.shape[0])
        logs = model.compute_metrics(objective.x, y, objective.y_pred, sample_weight)
    new = [scope.get_current_value(ref) for ref, _ in mapping]
    metrics_vars = [value if value is not None else old for value, (_, old) in zip(new, mapping)]
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def replica_id():
    return 0  # keras.distribution runs one program over the global batch


def top_k_within(x, k, most):
    return jax.lax.top_k(x, most)
