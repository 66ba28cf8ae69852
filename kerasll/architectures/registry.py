"""A timm-style registry of classifier factories: `@register_model`, `list_models`."""

import fnmatch

from kerasll.errors import KerasllError

_FACTORIES = {}

# Per-channel mean and std of the training sets, in [0,1] pixel units.
NORMALIZATION = {
    1: ((0.2860,), (0.3530,)),  # Fashion-MNIST
    3: ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),  # CIFAR-10
}


def register_model(name):
    """Decorator: register `fn(input_shape, num_classes, **kwargs) -> keras.Model`."""

    def decorate(fn):
        _FACTORIES[name] = fn
        return fn

    return decorate


def list_models(pattern="*"):
    """Registered architecture names matching a shell-style wildcard, sorted."""
    return sorted(n for n in _FACTORIES if fnmatch.fnmatch(n, pattern))


def build_model(name, input_shape=(28, 28, 1), num_classes=10, normalization=None, **kwargs):
    """Build a registered classifier: [0,1] images → `num_classes` float32 logits.

    Args:
        name: "lenet", "ddnet" or "resnet18" (see `list_models()`).
        input_shape: (H, W, channels); 28×28×1 and 32×32×3 are the paper's.
        num_classes: number of logits.
        normalization: (mean, std) per channel in pixel units, applied inside the
            model. Default: Fashion-MNIST's for 1 channel, CIFAR-10's for 3.

    Example:
        >>> model = build_model("resnet18", (32, 32, 3), 10)
    """
    if name not in _FACTORIES:
        raise KerasllError(f"unknown architecture {name!r}; valid choices: {', '.join(list_models())}")
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise KerasllError(f"input_shape must be (height, width, channels), got {input_shape}")
    if normalization is None:
        normalization = NORMALIZATION.get(input_shape[-1], ((0.5,) * input_shape[-1], (0.5,) * input_shape[-1]))
    return _FACTORIES[name](input_shape, int(num_classes), normalization=normalization, **kwargs)


def normalizer(normalization):
    """A Keras layer mapping [0,1] pixels to (x − mean) / std."""
    import keras

    mean, std = normalization
    return keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")
