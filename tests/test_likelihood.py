import keras
import numpy as np
import tensorflow as tf
from helpers import linear_model, small_cnn
from scipy_free import logsumexp

import kerasll as kl


def test_log_px_matches_logsumexp_and_is_stable_at_1e4():
    logits = np.array([[1e4, 1e4 - 1.0, -1e4], [1.0, 2.0, 3.0]], np.float32)
    out = kl.log_px(logits).numpy()
    assert out.shape == (2,)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, logsumexp(logits.astype(np.float64)), rtol=1e-6)


def test_delta_log_px_is_difference_of_logsumexps():
    a = np.array([[0.5, 2.0, -1.0]])
    b = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(kl.delta_log_px(a, b).numpy(), logsumexp(a) - logsumexp(b))


def test_grad_log_px_closed_form_linear_model():
    model, w, b = linear_model()
    x = np.random.default_rng(1).uniform(size=(7, 12)).astype(np.float32)
    logits = x @ w + b
    p = np.exp(logits - logsumexp(logits)[:, None])
    expected = p @ w.T  # Wᵀ softmax(Wx + b), per sample
    np.testing.assert_allclose(kl.grad_log_px(model, x).numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(kl.ams_score(model, x).numpy(), -np.linalg.norm(expected, axis=1), rtol=1e-4)


def test_grad_log_px_matches_central_differences_in_float64():
    model = small_cnn(dtype="float64")
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(2, 6, 6, 1))
    grad = kl.grad_log_px(model, x).numpy()
    assert grad.dtype == np.float64
    h = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape[1:]):
        for i in range(len(x)):
            e = np.zeros_like(x)
            e[(i,) + idx] = h
            plus = kl.log_px(model(x + e)).numpy()[i]
            minus = kl.log_px(model(x - e)).numpy()[i]
            numeric[(i,) + idx] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_batching_does_not_change_results():
    model = small_cnn()
    x = np.random.default_rng(3).uniform(size=(9, 6, 6, 1)).astype(np.float32)
    np.testing.assert_allclose(
        kl.grad_log_px(model, x, batch_size=4).numpy(), kl.grad_log_px(model, x).numpy(), rtol=1e-5, atol=1e-7
    )


def test_likelihood_is_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = kl.build_model("lenet", (28, 28, 1), 10)
        x = np.random.default_rng(4).uniform(size=(2, 28, 28, 1)).astype(np.float32)
        assert kl.grad_log_px(model, x).dtype == tf.float32
        assert kl.ams_score(model, x).dtype == tf.float32
        assert kl.log_px(tf.constant([[1e4, 0.0]], tf.float16)).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
