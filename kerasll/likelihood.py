"""The energy-based view of a classifier (docs/method.md#the-energy-based-view).

A classifier's logits f(x) define log p̃(x) = logsumexp_y f_y(x) (= log p(x) + log Z).
Its input gradient is ∇x log p(x) = Σ_y p(y|x) ∇x f_y(x) = Jᵀ softmax(f(x)): one
vector-Jacobian product. Images are in [0,1] pixel units, so gradients are per pixel.

Written in `keras.ops` (the input gradient through `kerasll.backend`): the same code on TensorFlow, JAX and
PyTorch.
"""

from keras import ops

from kerasll import backend
from kerasll._tensors import as_float, batches


def log_px(logits):
    """Unnormalised log-likelihood `log p̃(x) = logsumexp_y f_y(x)`, shape (B,).

    The one place kerasll computes it. Stable for logits of any magnitude (the
    maximum is subtracted first); computed in float32, even from half-precision
    (mixed precision) logits, and in float64 from float64 logits, so
    finite-difference checks can run in double precision.
    """
    return ops.logsumexp(as_float(logits), axis=-1)


def delta_log_px(logits, reference_logits):
    """Relative likelihood `Δlog p(x') = logsumexp f(x') − logsumexp f(x)`.

    The paper's Eq. 3 with its logs restored (docs/method.md#the-energy-based-view).
    """
    return log_px(logits) - log_px(reference_logits)


def _grad_log_px(call, x):
    dtype = ops.dtype(x)
    # Samples are independent in inference mode, so the gradient of the batch sum is the per-sample gradient.
    return backend.value_and_input_grad(lambda xb: log_px(ops.cast(call(xb), dtype)))(x)[1]


def grad_log_px(model, x, batch_size=512):
    """`∇x log p(x) = Jᵀ softmax(f(x))` for a batch of [0,1] images, shape of `x`.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: images (numpy or tensor), shape (B, H, W, C).
        batch_size: images per forward/backward pass.

    Returns:
        A tensor of the same shape and float dtype as `x`.
    """
    x = as_float(x)
    fn = backend.model_function(model, "grad_log_px", _grad_log_px)
    return ops.concatenate([fn(x[s]) for s in batches(int(x.shape[0]), batch_size)], axis=0)


def ams_score(model, x, batch_size=512):
    """Approximate Mass Score `s(x) = −‖∇x log p(x)‖₂` per sample, shape (B,).

    Closer to 0 means a flatter likelihood around `x`.

    Example:
        >>> s = kerasll.ams_score(model, x_test[:8])   # shape (8,), all ≤ 0
    """
    g = grad_log_px(model, x, batch_size=batch_size)
    return -ops.norm(ops.reshape(g, (ops.shape(g)[0], -1)), axis=-1)
