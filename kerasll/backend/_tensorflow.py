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
