"""kerasll's backend operations on TensorFlow (`kerasll.backend`)."""

import tensorflow as tf


WORD = "int64"  # the keyed draws' hash words (`kerasll.attacks.noise`)
WIDE = "float64"  # their widest float


def value_and_input_grad(fn, has_aux=False):
    def run(x, *args):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x, *args)
        values = out[0] if has_aux else out
        # The gradient of the sum: each image's own; zero where the value does not depend on the input.
        return out, tape.gradient(values, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return run


def input_jacobian(fn):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
        return out, tape.batch_jacobian(out, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return run


def compiled(fn):
    return tf.function(fn, reduce_retracing=True, autograph=False)


def model_function(model_ref, fn, signature=None):
    def run(*args):
        return fn(lambda x: model_ref()(x, training=False), *args)
    if signature is None:
        return tf.function(run, reduce_retracing=True, autograph=False)
    return tf.function(run, input_signature=signature, autograph=False)


def block_normal(seed, stream, block, shape, dtype):
    pair = tf.random.experimental.stateless_fold_in(tf.stack([seed, stream]), block)
    return tf.random.stateless_normal(shape, pair, dtype=dtype)


def has_gpu():
    return bool(tf.config.list_logical_devices("GPU"))


def spec(shape, dtype):
    return tf.TensorSpec(shape, dtype)


def signature_key(signature):
    return None if signature is None else tuple((tuple(s.shape.as_list()), s.dtype.name)
                                                for s in tf.nest.flatten(signature))


def cross_entropy(labels, logits):
    if len(labels.shape) == 2:
        return tf.nn.softmax_cross_entropy_with_logits(labels, logits)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def vjp(fn, x):
    tape = tf.GradientTape(persistent=True)  # one pull per projection; under an outer tape, differentiable
    with tape:
        tape.watch(x)
        out = fn(x)

    def pull(cotangent):
        return tape.gradient(out, x, output_gradients=cotangent, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return out, pull


def jvp(fn, x, tangent):
    with tf.autodiff.ForwardAccumulator(x, tangent) as acc:
        out = fn(x)
    ju = acc.jvp(out)
    if ju is None:
        from kerasll.errors import KerasllError

        raise KerasllError("this model has an operation without a forward-mode (jvp) rule in TensorFlow; "
                           "use projection='vjp'")
    return out, ju


def train_step(model, data):
    """A defense's training step (`DefenseModel`), Keras's TensorFlow pattern: the examples drawn before the
    weights' tape, the loss under it. Under `tf.distribute`, Keras's compiled loss is already divided by the
    replicas in sync; the penalty is divided the same way and each replica draws its own numbers."""
    import keras

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    x = tf.convert_to_tensor(x)
    strategy = tf.distribute.get_strategy()
    share = 1.0 / strategy.num_replicas_in_sync
    seed = model.draw_seed(model.optimizer.iterations, replica_id())
    batch = tf.nest.map_structure(tf.stop_gradient, model.examples(model.classifier, x, y, seed,
                                                                   model.optimizer.iterations))
    with tf.GradientTape() as tape:
        objective = model.objective(lambda z: model(z, training=True), batch, y, seed)
        supervised = model.compute_loss(x=objective.x, y=y, y_pred=objective.y_pred, sample_weight=sample_weight)
        loss = model.total_loss(supervised, objective.penalty, share)
        scaled = model.optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, model.trainable_weights)
    model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
    model.track(loss / share, objective, tf.shape(objective.x)[0])
    return model.compute_metrics(objective.x, y, objective.y_pred, sample_weight=sample_weight)


def replica_id():
    context = tf.distribute.get_replica_context()
    return context.replica_id_in_sync_group if context is not None else 0


def top_k_within(x, k, most):
    return tf.math.top_k(x, k=tf.cast(k, tf.int32))
