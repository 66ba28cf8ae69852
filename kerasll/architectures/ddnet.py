"""DDNet, the network of Papernot et al.'s defensive-distillation paper (2016)."""

from kerasll.architectures.registry import max_pooling, normalizer, register_model

WIDTHS = {1: (32, 32, 64, 64, 200, 200), 3: (64, 64, 128, 128, 256, 256)}


@register_model("ddnet")
def ddnet(input_shape, num_classes, normalization, dropout=0.5):
    """conv 3×3 ×2 → pool → conv 3×3 ×2 → pool → dense → dropout → dense → C.

    Widths 32,32,64,64,200,200 for grey 28×28 inputs and 64,64,128,128,256,256
    for colour 32×32 inputs; ReLU throughout, 'valid' convolutions.
    """
    import keras

    c1, c2, c3, c4, d1, d2 = WIDTHS[3 if input_shape[-1] == 3 else 1]
    inputs = keras.Input(input_shape, name="image")
    x = normalizer(normalization)(inputs)
    conv = lambda width, name: keras.layers.Conv2D(width, 3, activation="relu", name=name)  # noqa: E731
    x = conv(c1, "conv1")(x)
    x = conv(c2, "conv2")(x)
    x = max_pooling("pool1")(x)
    x = conv(c3, "conv3")(x)
    x = conv(c4, "conv4")(x)
    x = max_pooling("pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(d1, activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(d2, activation="relu", name="fc2")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="ddnet")
