"""ResNet18, CIFAR variant (He et al. 2016): 3×3 stem, no max-pool."""

from kerasll.architectures.registry import normalizer, register_model

# PyTorch's BatchNorm defaults, which the papers' ResNets were trained with: running statistics that follow
# the last ~10 batches (Keras's default 0.99 follows ~100, so early evaluations use stale statistics).
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def _conv_bn(x, filters, kernel, stride, name, relu=True):
    import keras

    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def basic_block(x, filters, stride, name):
    """Two 3×3 conv-BN layers plus a shortcut (1×1 conv + BN when the shape changes)."""
    import keras

    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_shortcut", relu=False)
    x = _conv_bn(x, filters, 3, stride, f"{name}_a")
    x = _conv_bn(x, filters, 3, 1, f"{name}_b", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(x)


@register_model("resnet18")
def resnet18(input_shape, num_classes, normalization, widths=(64, 128, 256, 512)):
    """BasicBlocks [2,2,2,2] at `widths` with strides 1/2/2/2, global pool, dense C."""
    import keras

    inputs = keras.Input(input_shape, name="image")
    x = normalizer(normalization)(inputs)
    x = _conv_bn(x, widths[0], 3, 1, "stem")
    for stage, (filters, stride) in enumerate(zip(widths, (1, 2, 2, 2)), start=1):
        x = basic_block(x, filters, stride, f"stage{stage}_block1")
        x = basic_block(x, filters, 1, f"stage{stage}_block2")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name="resnet18")
