"""Certified training by IBP (`kl.IBPTrainingModel`, `--defense ibp`): its bounds are the verifier's, its ramps,
and what it trains for: images IBP can verify."""

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll.errors import KerasllError
from kerasll.verification.bounds import ibp_margins
from kerasll.verification.intervals import interval_margins
from kerasll.verification.network import chain


def nets(seed):
    keras.utils.set_random_seed(seed)
    mlp = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(12, activation="relu"),
                            keras.layers.Dense(8), keras.layers.ReLU(), keras.layers.Dense(5)])
    cnn = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Rescaling(2.0, -1.0),
                            keras.layers.Conv2D(3, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                            keras.layers.BatchNormalization(), keras.layers.Flatten(),
                            keras.layers.Dense(7, activation="relu"), keras.layers.Dense(4)])
    cnn.layers[3].set_weights([np.full(3, 1.5, np.float32), np.full(3, 0.2, np.float32),
                               np.linspace(-0.5, 0.5, 3).astype(np.float32), np.full(3, 2.0, np.float32)])
    return mlp, cnn


@pytest.mark.parametrize("seed", [0, 1])
def test_the_trained_bounds_are_the_verifiers_ibp(seed):
    """The layer-by-layer bounds in keras.ops (what the training step differentiates) equal the float64 IBP of
    the explicit chain `kl.verify` uses, Rescaling, max-pooling and BatchNormalization included."""
    for net in nets(seed):
        x = np.random.default_rng(seed).uniform(0, 1, (6, *net.inputs[0].shape[1:])).astype(np.float32)
        y = np.arange(6) % net.outputs[0].shape[-1]
        ours = np.asarray(interval_margins(net, keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y), 0.07,
                                           net.outputs[0].shape[-1]))
        theirs = ibp_margins(chain(net)[0], x, y, 0.07)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_ramps_start_clean_and_reach_eps_and_kappa_end():
    model = kl.IBPTrainingModel(nets(0)[0], 0.2, warmup_steps=10, ramp_steps=20, kappa_end=0.5)
    at = {step: {k: float(v) for k, v in model.schedule(step).items()} for step in (0, 10, 20, 30, 100)}
    assert at[0] == at[10] == {"eps": 0.0, "kappa": 1.0}
    assert at[20]["eps"] == pytest.approx(0.1) and at[20]["kappa"] == pytest.approx(0.75)
    assert at[30] == at[100] == {"eps": pytest.approx(0.2), "kappa": pytest.approx(0.5)}


def test_ibp_training_makes_images_verifiable_that_plain_training_does_not(fmnist):
    """A small MLP, 2,000 embedded training images, 8 epochs: plain training leaves IBP nothing to verify at
    ε = 0.05; IBP training makes a share verifiable (31% here) (and CROWN at least as many), at a clean cost."""
    x, y, xt, yt = fmnist
    x, y, xt, yt = x[:2000], y[:2000], xt[:300], yt[:300]
    verified = {}
    for name in ("plain", "ibp"):
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10)])
        model = net if name == "plain" else kl.IBPTrainingModel(net, 0.05, warmup_steps=16, ramp_steps=64)
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=128, epochs=8, verbose=0)
        verified[name] = kl.verify(model, xt, yt, 0.05, method="ibp")
    assert verified["plain"].verified_accuracy < 0.05
    assert verified["ibp"].verified_accuracy > 0.2, verified["ibp"].verified_accuracy  # 0.31 here
    assert verified["ibp"].clean_accuracy > 0.6
    crown = kl.verify(model, xt[:40], yt[:40], 0.05, method="crown")
    assert crown.verified_accuracy >= kl.verify(model, xt[:40], yt[:40], 0.05, method="ibp").verified_accuracy


def test_bad_arguments_are_one_line():
    tanh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(KerasllError, match="activation 'tanh'"):
        kl.IBPTrainingModel(tanh, 0.1)
    with pytest.raises(KerasllError, match="eps must be a number > 0"):
        kl.IBPTrainingModel(nets(0)[0], 0)
    with pytest.raises(KerasllError, match="kappa_end must be in"):
        kl.IBPTrainingModel(nets(0)[0], 0.1, kappa_end=2)
