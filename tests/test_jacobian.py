"""Random-projection estimators against exact Jacobians (tape.batch_jacobian)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import small_cnn

from kerasll.jacobian import projected_sq_norm, unit_vectors


def exact_jacobian(model, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
    jac = tape.batch_jacobian(logits, x)  # (B, C, H, W, ch)
    return logits, tf.reshape(jac, (x.shape[0], logits.shape[-1], -1)).numpy()


def estimate(model, x, target, seed):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
    return projected_sq_norm(tape, logits, x, target, seed=seed).numpy()


@pytest.fixture(scope="module")
def setup():
    model = small_cnn(num_classes=4)
    x = tf.constant(np.random.default_rng(0).uniform(size=(3, 6, 6, 1)), tf.float32)
    logits, jac = exact_jacobian(model, x)
    p = tf.nn.softmax(logits).numpy()
    return model, x, jac, p


def test_unit_vectors_have_unit_norm_and_isotropic_second_moment():
    v = unit_vectors((20000, 4), (1, 2)).numpy()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(v.T @ v / len(v), np.eye(4) / 4, atol=0.01)  # E[vvᵀ] = I/C


@pytest.mark.parametrize("target", ["jacobian", "weighted"])
def test_projection_estimators_are_unbiased(setup, target):
    model, x, jac, p = setup
    exact = {"jacobian": (jac ** 2).sum((1, 2)), "weighted": ((p[:, :, None] * jac) ** 2).sum((1, 2))}[target]
    draws = np.stack([estimate(model, x, target, (7, i)) for i in range(600)])
    mean, sem = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
    assert np.all(draws.std(0) > 0)  # they are random, not the exact value


def test_exact_target_is_squared_grad_log_px_and_bound_holds(setup):
    model, x, jac, p = setup
    grad = np.einsum("bc,bcd->bd", p, jac)  # Jᵀp
    exact = estimate(model, x, "exact", (0, 0))
    np.testing.assert_allclose(exact, (grad ** 2).sum(1), rtol=1e-4)
    bound = jac.shape[1] * ((p[:, :, None] * jac) ** 2).sum((1, 2))  # C‖diag(p)J‖²_F
    assert np.all(exact <= bound * (1 + 1e-6))


def test_more_projections_average_them(setup):
    model, x, jac, _ = setup
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        logits = model(x)
    two = projected_sq_norm(tape, logits, x, "jacobian", projections=2, seed=(3, 0)).numpy()
    # Projection i draws v_i with stateless_fold_in(seed, i); each is C·‖v_iᵀJ‖².
    singles = []
    for i in range(2):
        v = unit_vectors(jac.shape[:2], tf.random.experimental.stateless_fold_in(tf.constant([3, 0], tf.int64), i))
        singles.append(jac.shape[1] * (np.einsum("bc,bcd->bd", v.numpy(), jac) ** 2).sum(1))
    np.testing.assert_allclose(two, np.mean(singles, 0), rtol=1e-5)
