"""Logits, not probabilities: find a classifier's pre-softmax outputs before anything is measured.

Everything kerasll computes starts from logits: log p̃(x) = logsumexp f(x) is
meaningless on probabilities (it is 0 for log-probabilities and log 1 + … for
probabilities), and gradient attacks on saturated probabilities see no slope.
Many Keras models end in a softmax (`keras.applications` does by default), so
`as_logits` looks at the layer that makes the output:

- a `Softmax` layer, an `Activation("softmax")`, or a layer built with
  `activation="softmax"` (`Dense`, `Conv2D`, …): the model is rebuilt to return
  the tensor before the softmax, with the same weights (log-softmax likewise);
- anything else whose outputs on a few images are probability (or
  log-probability) vectors: refused, with what to do;
- otherwise the model is returned as it is.
"""

import numpy as np

from kerasll.errors import KerasllError

_SOFTMAXES = ("softmax", "log_softmax")
PROBE_IMAGES = 32


def activation_name(layer):
    """The name of a layer's activation ("relu", "softmax", …; None without one)."""
    activation = getattr(layer, "activation", None)
    return None if activation is None else getattr(activation, "__name__", str(activation))


def _output_layer(model):
    history = getattr(model.outputs[0], "_keras_history", None) if getattr(model, "outputs", None) else None
    return history.operation if history is not None else model.layers[-1]


def _pre_softmax(layer):
    """The symbolic tensor `layer`'s softmax is applied to, or None if `layer` applies none."""
    import keras

    if isinstance(layer, keras.layers.Softmax) or (
            isinstance(layer, keras.layers.Activation) and activation_name(layer) in _SOFTMAXES):
        return layer.input
    if activation_name(layer) in _SOFTMAXES:  # Dense(…, activation="softmax") and the like: the linear part
        linear = layer.__class__.from_config({**layer.get_config(), "activation": "linear",
                                              "name": f"{layer.name}_logits"})
        out = linear(layer.input)
        linear.set_weights(layer.get_weights())
        return out
    if isinstance(layer, keras.Model):  # a nested classifier that ends in a softmax
        inner = _strip(layer)
        return None if inner is None else inner(layer.input)
    return None


def _strip(model):
    """`model` rebuilt to return its pre-softmax tensor, or None when its output layer applies no softmax."""
    import keras

    layer = _output_layer(model)
    try:
        pre = _pre_softmax(layer)
    except (AttributeError, ValueError):  # a subclassed model or a layer with no symbolic input
        return None
    if pre is None:
        return None
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, pre, name=f"{model.name}_logits")


def looks_like_probabilities(outputs, tolerance=1e-4):
    """Whether every row of `outputs` (N, C) is a probability vector, or a log-probability one."""
    from keras import ops

    z = np.asarray(ops.convert_to_numpy(outputs), np.float64)
    probabilities = (z.min() > -1e-5) and (z.max() < 1 + 1e-5) and np.all(np.abs(z.sum(-1) - 1) <= tolerance)
    log_probabilities = (z.max() <= 1e-5) and np.all(np.abs(np.exp(z).sum(-1) - 1) <= tolerance)
    return bool(probabilities or log_probabilities)


def as_logits(model, x=None, name="the model"):
    """`model` returning logits, and a one-line note when it had to be changed (else None).

    A model whose output layer applies a softmax (or log-softmax) is rebuilt to
    return the layer's input. Any other model whose outputs on the first images of
    `x` are probability vectors is refused with `KerasllError`.

    Example:
        >>> model, note = kerasll.as_logits(keras.applications.MobileNetV2(weights=None), x)
        >>> note  # 'the model ends in a softmax: evaluating its pre-softmax logits (…)'
    """
    stripped = _strip(model)
    if stripped is not None:
        return stripped, (f"{name} ends in a softmax: evaluating its pre-softmax logits "
                          "(log p̃(x) = logsumexp f(x) is defined on logits)")
    if x is not None and len(x):
        probe = np.asarray(x[:PROBE_IMAGES], np.float32)
        if looks_like_probabilities(model(probe, training=False)):
            raise KerasllError(f"{name} returns probabilities (each output row sums to 1), and kerasll cannot "
                               "find the softmax to remove: pass a model that returns logits (rebuild it without "
                               "its final softmax, e.g. keras.Model(model.input, model.layers[-2].output))")
    return model, None
