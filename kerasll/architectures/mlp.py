"""A small multilayer perceptron: the network an exact verifier (`kl.verify(method="milp")`) can decide."""

from kerasll.architectures.registry import normalizer, register_model


@register_model("mlp")
def mlp(input_shape, num_classes, normalization, widths=(100, 100)):
    """flatten → dense 100 → dense 100 → C, ReLU: 200 ReLUs, few enough for Tjeng et al.'s MILP per image."""
    import keras

    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(normalizer(normalization)(inputs))
    for i, width in enumerate(widths):
        x = keras.layers.Dense(width, activation="relu", name=f"fc{i + 1}")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="mlp")
