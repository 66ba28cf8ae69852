"""Models known to mask gradients, built around any classifier: the positive cases of the self-checks.

Each wraps a classifier so that its predictions stay meaningful while gradient-based
attacks are misled, the ways Athalye, Carlini & Wagner (2018) catalogue:

- `stop_gradient`: the input gradient is exactly zero (shattered gradients, in the extreme);
- `quantised`: the input is rounded to a few grey levels, a step with no gradient;
- `binarised`: the input is thresholded, a non-differentiable preprocessing step;
- `saturated`: the model outputs softmax(T·z) with a high temperature T in place of logits, so
  the probabilities saturate in float32 and the gradients of any loss on them vanish;
- `noisy_gradient`: the forward pass is unchanged, but each input gradient is drowned in Gaussian noise
  (stochastic gradients): attacks still make progress, slowly, so a fixed budget has not converged.

The Square, budget and transfer flags are calibrated on these against the shipped defenses
(`scripts/calibrate_square_flag.py`, `scripts/calibrate_adaptive_flags.py`, docs/evaluation.md); the
tests use them as known answers.
"""

from pathlib import Path

import keras
from keras import ops

QUANTISE_LEVELS = 8
BINARY_THRESHOLD = 0.5
SATURATION_TEMPERATURE = 50.0


def _wrap(classifier, before=None, after=None, name="masked"):
    inputs = keras.Input(classifier.input_shape[1:])
    x = inputs if before is None else keras.layers.Lambda(before)(inputs)
    z = classifier(x)
    return keras.Model(inputs, z if after is None else keras.layers.Lambda(after)(z), name=name)


def stop_gradient(classifier):
    """`classifier` behind `stop_gradient`: the same predictions, a zero input gradient."""
    return _wrap(classifier, before=ops.stop_gradient, name="stop_gradient")


def quantised(classifier, levels=QUANTISE_LEVELS):
    """`classifier` on inputs rounded to `levels` grey levels (no gradient through the rounding)."""
    return _wrap(classifier, before=lambda x: ops.round(x * (levels - 1)) / (levels - 1), name="quantised")


def binarised(classifier, threshold=BINARY_THRESHOLD):
    """`classifier` on inputs thresholded at `threshold` (a non-differentiable preprocessing step)."""
    return _wrap(classifier, before=lambda x: ops.cast(ops.greater(x, threshold), x.dtype), name="binarised")


def saturated(classifier, temperature=SATURATION_TEMPERATURE):
    """`classifier` whose outputs are softmax(temperature · logits): saturated probabilities as logits."""
    return _wrap(classifier, after=lambda z: ops.softmax(z * temperature), name="saturated")


GRADIENT_NOISE = 3.0  # the noise's standard deviation, in multiples of the gradient's own (per image)


def noisy_gradient(classifier, scale=GRADIENT_NOISE):
    """`classifier` whose input gradient is the true one plus Gaussian noise `scale` times its size."""
    import tensorflow as tf

    @tf.custom_gradient
    def noisy(x):
        def backward(g):
            size = tf.math.reduce_std(g, axis=list(range(1, g.shape.rank)), keepdims=True)
            return g + scale * size * tf.random.normal(tf.shape(g), dtype=g.dtype)
        return tf.identity(x), backward

    return _wrap(classifier, before=noisy, name="noisy_gradient")


MASKED = {"stop-gradient": stop_gradient, "quantised": quantised, "binarised": binarised, "saturated": saturated,
          "noisy-gradient": noisy_gradient}


MASKED_BASES = ("fmnist-lenet-at", "fmnist-lenet-none")  # the shipped LeNets the flags' calibrations mask


def calibration_models(zoo, bases=MASKED_BASES):
    """The flags' calibration set: {name: (kind, build, base)} for every complete entry of `zoo` ("clean",
    its own classifier) and each of `MASKED` around each of `bases` ("masked", base: the unmasked network).
    `build()` makes the model when it is needed; also returns the entries' classifiers by name."""
    nets = {e.name: getattr(m, "classifier", m) for e in zoo.complete_entries() for m in [e.load_model()]}
    models = {name: ("clean", lambda c=c: c, None) for name, c in nets.items()}
    models |= {f"{kind}({base})": ("masked", lambda b=base, w=wrap: w(nets[b]), base)
               for base in bases for kind, wrap in MASKED.items()}
    return models, nets


def calibration_parser(doc, images, batch_size, json_path):
    """The calibration scripts' shared options: images, seed, batch size, the JSON of rows, --docs."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=images)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--json", type=Path, default=json_path)
    parser.add_argument("--docs", action="store_true", help="write the table into docs/evaluation.md")
    return parser


def is_current(row):
    """Whether a stored calibration row was computed by today's attack code (an older revision's is redone)."""
    from kerasll.attacks.registry import ATTACKS_REVISION

    return row is not None and row.get("attacks_revision") == ATTACKS_REVISION
