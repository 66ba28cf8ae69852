"""LeNet (LeCun et al. 1998), as in docs/method.md#architectures."""

from kerasll.architectures.registry import max_pooling, normalizer, register_model


@register_model("lenet")
def lenet(input_shape, num_classes, normalization):
    """conv 6@5×5 → pool → conv 16@5×5 → pool → dense 120 → 84 → C, ReLU.

    The first convolution is 'same' on 28×28 inputs and 'valid' otherwise, so both
    28×28 and 32×32 inputs reach a 5×5×16 feature map.
    """
    import keras

    first_padding = "same" if input_shape[0] == 28 else "valid"
    inputs = keras.Input(input_shape, name="image")
    x = normalizer(normalization)(inputs)
    x = keras.layers.Conv2D(6, 5, padding=first_padding, activation="relu", name="conv1")(x)
    x = max_pooling("pool1")(x)
    x = keras.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = max_pooling("pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(120, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(84, activation="relu", name="fc2")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="lenet")
