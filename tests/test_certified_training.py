"""Certified training by IBP (`kl.IBPTrainingModel`, `--defense ibp`): its bounds are the verifier's, its ramps,
and what it trains for: images IBP can verify."""

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll.errors import KerasllError
from kerasll.verification.backward import crown_ibp_margins
from kerasll.verification.bounds import crown_ibp_margins as crown_ibp_float64
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


def residual_net(seed):
    """Branches whose merges IBP maps exactly as the verifier's explicit chain does: every merged tensor comes out
    of a ReLU or is the merge's own affine map (a residual Add, a Concatenate, a Subtract)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(keras.layers.Rescaling(2.0, -1.0)(inputs))
    c = keras.layers.Conv2D(3, 3, padding="same")(keras.layers.Conv2D(3, 3, padding="same", activation="relu")(h))
    f = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(keras.layers.Add()([h, c]))))
    g = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()(
        [keras.layers.Dense(4)(f), keras.layers.Dense(6, activation="relu")(f)]))
    merged = keras.layers.Subtract()([g, keras.layers.Dense(8, activation="relu")(g)])
    return keras.Model(inputs, keras.layers.Dense(3)(merged))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_trained_bounds_of_a_branched_network_are_the_verifiers_ibp(seed):
    """IBP through a graph with branches (`--defense ibp` on a residual network): each merge maps its inputs'
    intervals (Add, Concatenate, Subtract), equal to the verifier's float64 IBP on its explicit chain; on a
    network whose branch has no ReLU of its own before a merge the chain's merged maps are tighter, so the
    trained bound is sound (below every sampled margin) and never above the verifier's."""
    model = residual_net(seed)
    x = np.random.default_rng(seed).uniform(0, 1, (6, 6, 6, 1)).astype(np.float32)
    y = np.arange(6) % 3
    ours = keras.ops.convert_to_numpy(interval_margins(model, keras.ops.convert_to_tensor(x),
                                                       keras.ops.convert_to_tensor(y), 0.05, 3))
    np.testing.assert_allclose(ours, ibp_margins(chain(model)[0], x, y, 0.05), rtol=1e-5, atol=1e-5)
    from test_verification import net, sampled_margins

    other = net("residual", seed)
    ours = keras.ops.convert_to_numpy(interval_margins(other, keras.ops.convert_to_tensor(x),
                                                       keras.ops.convert_to_tensor(y), 0.05, 3))
    assert np.all(ours <= ibp_margins(chain(other)[0], x, y, 0.05) + 1e-5)
    assert np.all(ours <= sampled_margins(other, x, y, 0.05) + 1e-5)


@pytest.mark.parametrize("defense", ["ibp", "crown-ibp"])
def test_certified_training_takes_a_residual_network_through_fit(defense):
    """`kl.IBPTrainingModel` and `kl.CROWNIBPTrainingModel` on a residual network: compiled, fit for a few steps
    with ε ramping, finite losses and a verified accuracy in the history."""
    kind = kl.IBPTrainingModel if defense == "ibp" else kl.CROWNIBPTrainingModel
    model = kind(residual_net(0), 0.05, warmup_steps=1, ramp_steps=2)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(0, 1, (32, 6, 6, 1)).astype(np.float32)
    history = model.fit(x, np.arange(32) % 3, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1]) and 0 <= history["verified_accuracy"][-1] <= 1


def strided_net():
    """Strides 2 ('valid' with an input row no output reads, then 'same'), Normalization, a pool on an odd size."""
    keras.utils.set_random_seed(5)
    return keras.Sequential([keras.Input((10, 10, 2)), keras.layers.Normalization(mean=0.3, variance=0.04),
                             keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                             keras.layers.Conv2D(3, 2, strides=2, padding="same"), keras.layers.ReLU(),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(5)])


@pytest.mark.parametrize("which", ["mlp", "cnn", "strided", "residual"])
def test_the_crown_ibp_bound_in_keras_ops_is_the_float64_one(which):
    """CROWN-IBP through the layers' transposes in keras.ops (what `--defense crown-ibp` differentiates) equals
    CROWN's float64 backward pass on the explicit chain from IBP's intervals: transposed convolutions with
    strides and output padding, pools (one dropping a row), Normalization/BatchNormalization scales, and the
    merges of a residual network (Add, Concatenate, Subtract)."""
    net = {"mlp": lambda: nets(1)[0], "cnn": lambda: nets(1)[1], "strided": strided_net,
           "residual": lambda: residual_net(1)}[which]()
    classes = net.outputs[0].shape[-1]
    x = np.random.default_rng(2).uniform(0, 1, (4, *net.inputs[0].shape[1:])).astype(np.float32)
    y = np.arange(4) % classes
    for eps in (0.01, 0.1):
        bounds = crown_ibp_margins(net, keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y), eps, classes,
                                   with_ibp=True)
        ours, ibp = (keras.ops.convert_to_numpy(v) for v in bounds)
        steps = chain(net)[0]
        theirs = crown_ibp_float64(steps, x, y, eps)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ibp, ibp_margins(steps, x, y, eps), rtol=1e-5, atol=1e-5)
    assert not np.allclose(theirs, ibp)


def test_crown_ibp_mixes_its_bound_into_ibps_as_beta_falls():
    model = kl.CROWNIBPTrainingModel(nets(0)[1], 0.1, warmup_steps=10, ramp_steps=20)
    at = {step: {k: float(v) for k, v in model.schedule(step).items()} for step in (0, 20, 30)}
    assert at[0] == {"eps": 0.0, "kappa": 1.0, "beta": 1.0}
    assert at[20]["beta"] == pytest.approx(0.5) and at[30] == {"eps": pytest.approx(0.1), "kappa": 0.0, "beta": 0.0}
    x = np.random.default_rng(0).uniform(0, 1, (3, 6, 6, 1)).astype(np.float32)
    inputs = {"x": keras.ops.convert_to_tensor(x), "y": keras.ops.convert_to_tensor(np.arange(3)),
              "eps": keras.ops.convert_to_tensor(0.1)}
    crown, ibp = (np.asarray(v) for v in crown_ibp_margins(model.classifier, inputs["x"], inputs["y"], 0.1, 4,
                                                            with_ibp=True))
    for beta in (0.0, 0.25, 1.0):
        mixed = np.asarray(model({**inputs, "beta": keras.ops.convert_to_tensor(beta)})["margins"])
        np.testing.assert_allclose(mixed, beta * crown + (1 - beta) * ibp, rtol=1e-5, atol=1e-6)
    # through `fit` (a traced step: the batch size unknown), both sides of β > 0, max-pooling included
    model = kl.CROWNIBPTrainingModel(nets(0)[1], 0.1, warmup_steps=0, ramp_steps=2)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(np.repeat(x, 4, 0), np.arange(12) % 4, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_the_ramps_start_clean_and_reach_eps_and_kappa_end():
    model = kl.IBPTrainingModel(nets(0)[0], 0.2, warmup_steps=10, ramp_steps=20, kappa_end=0.5)
    at = {step: {k: float(v) for k, v in model.schedule(step).items()} for step in (0, 10, 20, 30, 100)}
    assert at[0] == at[10] == {"eps": 0.0, "kappa": 1.0}
    assert at[20]["eps"] == pytest.approx(0.1) and at[20]["kappa"] == pytest.approx(0.75)
    assert at[30] == at[100] == {"eps": pytest.approx(0.2), "kappa": pytest.approx(0.5)}


@pytest.mark.pipeline
def test_ibp_training_makes_images_verifiable_that_plain_training_does_not(fmnist):
    """A small MLP, 2,000 embedded training images, 8 epochs: plain training leaves IBP nothing to verify at
    ε = 0.05; IBP and CROWN-IBP training make a share verifiable (31% here) (and CROWN at least as many), at a
    clean cost."""
    x, y, xt, yt = fmnist
    x, y, xt, yt = x[:2000], y[:2000], xt[:300], yt[:300]
    verified = {}
    for name in ("plain", "crown-ibp", "ibp"):
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10)])
        certified = {"ibp": kl.IBPTrainingModel, "crown-ibp": kl.CROWNIBPTrainingModel}.get(name)
        model = net if certified is None else certified(net, 0.05, warmup_steps=16, ramp_steps=64)
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=128, epochs=8, verbose=0)
        verified[name] = kl.verify(model, xt, yt, 0.05, method="ibp")
    assert verified["plain"].verified_accuracy < 0.05
    for name in ("ibp", "crown-ibp"):
        assert verified[name].verified_accuracy > 0.2, (name, verified[name].verified_accuracy)  # 0.31 and 0.31 here
        assert verified[name].clean_accuracy > 0.55, (name, verified[name].clean_accuracy)  # 0.72 and 0.62
    crown = kl.verify(model, xt[:40], yt[:40], 0.05, method="crown")
    assert crown.verified_accuracy >= kl.verify(model, xt[:40], yt[:40], 0.05, method="ibp").verified_accuracy


def test_bad_arguments_are_one_line():
    tanh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(KerasllError, match="activation 'tanh'"):
        kl.IBPTrainingModel(tanh, 0.1)
    for eps in (0, 1.5):
        with pytest.raises(KerasllError, match=r"eps must be in \(0, 1\] pixel units for linf"):
            kl.IBPTrainingModel(nets(0)[0], eps)
    with pytest.raises(KerasllError, match="kappa_end must be in"):
        kl.IBPTrainingModel(nets(0)[0], 0.1, kappa_end=2)
    pooled = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                               keras.layers.Dense(2)])
    kl.IBPTrainingModel(pooled, 0.1)  # IBP maps average pooling's ends; CROWN-IBP has no transpose for it
    with pytest.raises(KerasllError, match="crown-ibp cannot go back through layer .*AveragePooling2D"):
        kl.CROWNIBPTrainingModel(pooled, 0.1)
