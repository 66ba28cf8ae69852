"""A timm-style registry of classifier factories: `@register_model`, `list_models`."""

from kerasll.errors import KerasllError
from kerasll.registry import Registry

_FACTORIES = Registry("architecture", sort=True)


def register_model(name, overwrite=False):
    """Decorator: register `fn(input_shape, num_classes, **kwargs) -> keras.Model`.

    An existing name is refused unless `overwrite=True`.
    """

    def decorate(fn):
        return _FACTORIES.add(name, fn, overwrite)

    return decorate


def list_models(pattern="*"):
    """Registered architecture names matching a shell-style wildcard, sorted."""
    return _FACTORIES.names(pattern)


def build_model(name, input_shape=None, num_classes=None, normalization=None, dataset=None, **kwargs):
    """Build a registered classifier: [0,1] images → `num_classes` float32 logits.

    Args:
        name: "lenet", "ddnet" or "resnet18" (see `list_models()`).
        input_shape: (H, W, channels); default: `dataset`'s.
        num_classes: number of logits; default: `dataset`'s.
        normalization: (mean, std) per channel in pixel units, applied inside the
            model. Default: `dataset`'s statistics; without a data set, 0.5 and 0.5
            per channel (no data set's statistics are guessed from the shape).
        dataset: a registered data set (`list_datasets()`) whose presets to use.

    Example:
        >>> model = build_model("resnet18", dataset="cifar10")
        >>> model = build_model("lenet", (28, 28, 1), 10, normalization=((0.286,), (0.353,)))
    """
    from kerasll.datasets import dataset_info

    factory = _FACTORIES.get(name)
    info = dataset_info(dataset) if dataset is not None else None
    if input_shape is None or num_classes is None:
        if info is None:
            raise KerasllError("build_model needs input_shape and num_classes, or dataset= to take them from")
        input_shape = info.input_shape if input_shape is None else input_shape
        num_classes = info.num_classes if num_classes is None else num_classes
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise KerasllError(f"input_shape must be (height, width, channels), got {input_shape}")
    if normalization is None:
        channels = input_shape[-1]
        normalization = info.normalization if info is not None else ((0.5,) * channels, (0.5,) * channels)
    if len(normalization[0]) != input_shape[-1] or len(normalization[1]) != input_shape[-1]:
        raise KerasllError(f"normalization has {len(normalization[0])} channels, the images {input_shape[-1]}")
    return factory(input_shape, int(num_classes), normalization=normalization, **kwargs)


def normalizer(normalization):
    """A Keras layer mapping [0,1] pixels to (x − mean) / std."""
    import keras

    mean, std = normalization
    return keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")


def max_pooling(name):
    """A 2×2 max-pooling layer that computes in float32 under mixed precision.

    XLA has no float16/bfloat16 kernel for the second-order max-pool gradient
    (MaxPoolGradGrad) that double backprop needs, so AMSReg/JacReg under mixed
    precision with `jit_compile=True` would fail; pooling in float32 costs two casts.
    """
    import keras

    mixed = keras.mixed_precision.global_policy().name.startswith("mixed")
    return keras.layers.MaxPooling2D(2, name=name, dtype="float32" if mixed else None)
