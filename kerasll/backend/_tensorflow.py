"""kerasll's backend operations on TensorFlow (`kerasll.backend`)."""

import tensorflow as tf


WORD = "int64"  # the keyed draws' hash words (`kerasll.attacks.noise`)
WIDE = "float64"  # their widest float


def value_and_input_grad(fn):
    def run(x, *args):
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = fn(x, *args)
        return values, tape.gradient(values, x)  # the gradient of the sum: each image's own
    return run


def compiled(fn):
    return tf.function(fn, reduce_retracing=True, autograph=False)


def model_function(model_ref, fn):
    return tf.function(lambda *args: fn(lambda x: model_ref()(x, training=False), *args), reduce_retracing=True,
                       autograph=False)
