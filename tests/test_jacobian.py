"""Random-projection estimators against exact Jacobians (tape.batch_jacobian), on TensorFlow (the other
backends give the same numbers: tests/test_backends.py)."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import small_cnn

from kerasll import backend
from kerasll.attacks import noise
from kerasll.jacobian import projected_sq_norm, unit_vectors


def exact_jacobian(model, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
    jac = tape.batch_jacobian(logits, x)  # (B, C, H, W, ch)
    return logits, tf.reshape(jac, (x.shape[0], logits.shape[-1], -1)).numpy()


def estimate(model, x, target, seed):
    logits, pull = backend.vjp(model, x)
    return projected_sq_norm(pull, logits, target, seed=seed).numpy()


@pytest.fixture(scope="module")
def setup():
    model = small_cnn(num_classes=4)
    x = tf.constant(np.random.default_rng(0).uniform(size=(3, 6, 6, 1)), tf.float32)
    logits, jac = exact_jacobian(model, x)
    p = tf.nn.softmax(logits).numpy()
    return model, x, jac, p


def test_unit_vectors_have_unit_norm_and_isotropic_second_moment():
    v = unit_vectors(1, noise.row_keys(20000), 2, 4).numpy()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(v.T @ v / len(v), np.eye(4) / 4, atol=0.01)  # E[vvᵀ] = I/C


@pytest.mark.pipeline
@pytest.mark.parametrize("target", ["jacobian", "weighted"])
def test_projection_estimators_are_unbiased(setup, target):
    model, x, jac, p = setup
    exact = {"jacobian": (jac ** 2).sum((1, 2)), "weighted": ((p[:, :, None] * jac) ** 2).sum((1, 2))}[target]
    draws = np.stack([estimate(model, x, target, 1000 + i) for i in range(250)])
    mean, sem = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
    assert np.all(draws.std(0) > 0)  # they are random, not the exact value


def test_exact_target_is_squared_grad_log_px_and_bound_holds(setup):
    model, x, jac, p = setup
    grad = np.einsum("bc,bcd->bd", p, jac)  # Jᵀp
    exact = estimate(model, x, "exact", 0)
    np.testing.assert_allclose(exact, (grad ** 2).sum(1), rtol=1e-4)
    bound = jac.shape[1] * ((p[:, :, None] * jac) ** 2).sum((1, 2))  # C‖diag(p)J‖²_F
    assert np.all(exact <= bound * (1 + 1e-6))


def test_more_projections_average_them(setup):
    model, x, jac, _ = setup
    logits, pull = backend.vjp(model, x)
    two = projected_sq_norm(pull, logits, "jacobian", projections=2, seed=3).numpy()
    # Projection i draws v_i with counter i, row b keyed by b; each is C·‖v_iᵀJ‖².
    singles = []
    for i in range(2):
        v = unit_vectors(3, noise.row_keys(jac.shape[0]), i, jac.shape[1])
        singles.append(jac.shape[1] * (np.einsum("bc,bcd->bd", v.numpy(), jac) ** 2).sum(1))
    np.testing.assert_allclose(two, np.mean(singles, 0), rtol=1e-5)


# --- forward mode (jvp) and the public estimator ---------------------------------------------------

def tiny_model_float64(inputs=4, classes=3, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    x_in = keras.Input((inputs,), dtype="float64")
    h = keras.layers.Dense(5, activation="tanh", dtype="float64")(x_in)
    return keras.Model(x_in, keras.layers.Dense(classes, dtype="float64")(h))


def exact_targets(model, x):
    logits, jac = exact_jacobian(model, x)
    p = tf.nn.softmax(logits).numpy()
    return {"jacobian": (jac ** 2).sum((1, 2)), "weighted": ((p[:, :, None] * jac) ** 2).sum((1, 2)),
            "exact": (np.einsum("bc,bcd->bd", p, jac) ** 2).sum(1)}


@pytest.mark.parametrize("target", ["jacobian", "weighted", "exact"])
def test_jvp_estimate_averaged_over_every_sign_vector_is_exact_in_float64(target, monkeypatch):
    """E over all 2^D Rademacher tangents of ‖M u‖² is ‖M‖²_F exactly: enumerate them (D = 4)."""
    import itertools

    from kerasll import jacobian

    model = tiny_model_float64()
    x = tf.constant(np.random.default_rng(1).uniform(size=(2, 4)))
    signs = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    # The batch is repeated once per projection: copy i of both images gets sign vector i.
    monkeypatch.setattr(jacobian, "rademacher",
                        lambda seed, keys, counter, shape, dtype: tf.constant(np.repeat(signs, 2, axis=0), dtype))
    est, _ = jacobian.jvp_sq_norm(lambda z: model(z), x, target, projections=len(signs))
    np.testing.assert_allclose(est.numpy(), exact_targets(model, x)[target], rtol=1e-10)


@pytest.mark.pipeline
@pytest.mark.long
@pytest.mark.parametrize("projection", ["vjp", "jvp"])
@pytest.mark.parametrize("target", ["jacobian", "weighted"])
def test_both_projections_are_unbiased_against_batch_jacobian(projection, target):
    import kerasll as kl

    model = tiny_model_float64(inputs=6, classes=4, seed=2)
    x = tf.constant(np.random.default_rng(3).uniform(size=(2, 6)))
    n = 1500
    est = kl.jacobian_sq_norm(model, x, target, projections=n, projection=projection, seed=5).numpy()
    exact = exact_targets(model, x)[target]
    # n draws: the mean is within a few standard errors (relative spread of one draw is O(1)).
    np.testing.assert_allclose(est, exact, rtol=0.08)


def test_vjp_exact_target_is_exact_and_jvp_is_unbiased_for_it():
    import kerasll as kl

    model = tiny_model_float64(seed=4)
    x = tf.constant(np.random.default_rng(5).uniform(size=(3, 4)))
    exact = exact_targets(model, x)["exact"]
    np.testing.assert_allclose(kl.jacobian_sq_norm(model, x, "exact").numpy(), exact, rtol=1e-10)
    est = kl.jacobian_sq_norm(model, x, "exact", projections=4000, projection="jvp", seed=1).numpy()
    np.testing.assert_allclose(est, exact, rtol=0.1)


def test_jvp_estimate_is_differentiable_in_the_weights():
    """Reverse over forward: the tape's weight gradient equals finite differences (float64, fixed tangents)."""
    import kerasll as kl

    model = tiny_model_float64(seed=6)
    x = tf.constant(np.random.default_rng(7).uniform(size=(2, 4)))
    kernel = model.layers[1].kernel

    def value():
        return tf.reduce_mean(kl.jacobian_sq_norm(model, x, "weighted", projections=3, projection="jvp", seed=9))

    with tf.GradientTape() as tape:
        v = value()
    analytic = tape.gradient(v, kernel).numpy()
    base, h, numeric = kernel.numpy(), 1e-6, np.zeros_like(kernel.numpy())
    for idx in np.ndindex(base.shape):
        for sign in (1, -1):
            shifted = base.copy()
            shifted[idx] += sign * h
            kernel.assign(shifted)
            numeric[idx] += sign * value().numpy() / (2 * h)
    kernel.assign(base)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("arch", ["lenet", "ddnet", pytest.param("resnet18", marks=[pytest.mark.pipeline, pytest.mark.long])])
def test_every_architecture_trains_with_jvp_projections(arch):
    """Forward mode through max-pooling and batch norm: each architecture takes a finite step."""
    import keras

    import kerasll as kl

    kwargs = {"widths": (4, 4, 4, 4)} if arch == "resnet18" else {}
    shape = (28, 28, 1) if arch == "lenet" else (32, 32, 3)
    net = kl.build_model(arch, shape, 10, **kwargs)
    model = kl.AMSRegModel(net, 0.5, projection="jvp", seed=0)
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(size=(8, *shape)).astype(np.float32)
    logs = model.fit(x, np.arange(8) % 10, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["penalty"][0]) and logs["penalty"][0] > 0


def test_bad_projection_is_refused():
    import kerasll as kl

    with pytest.raises(kl.KerasllError, match="valid choices: vjp, jvp"):
        kl.JacobianRegModel(small_cnn(), 0.1, projection="fd")
