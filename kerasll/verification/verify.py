"""`kl.verify`: verified robust accuracy in L∞, a sound lower bound on what any attack can leave standing."""

from dataclasses import dataclass

import numpy as np

from kerasll.errors import KerasllError, check_choice, check_positive
from kerasll.verification.bounds import crown_margins, ibp_margins
from kerasll.verification.network import chain

def _crown_or_ibp(steps, x, y, eps):
    """CROWN's bounds, raised to IBP's where IBP's are higher: both are sound, and CROWN's relaxations can lose
    to IBP's intervals on some margins (seen with max-pooling), so "crown" is never looser than "ibp"."""
    return np.maximum(crown_margins(steps, x, y, eps), ibp_margins(steps, x, y, eps))


METHODS = {"ibp": ibp_margins, "crown": _crown_or_ibp}
BATCH = {"ibp": 1000, "crown": 4}  # images per pass: CROWN's intermediate specs are (B, n, n) matrices


@dataclass
class VerifyResult:
    """Per image: whether every margin z_y − z_j is provably positive over the L∞ ball of radius `eps`
    (intersected with [0, 1]), and the lower bound on the smallest margin.

    `verified_accuracy` ≤ the true robust accuracy ≤ any attack's robust accuracy (AutoAttack's).
    """

    method: str
    eps: float
    verified: np.ndarray  # (N,) bool
    margin_lower: np.ndarray  # (N,) float64: min over j ≠ y of the lower bound on z_y − z_j
    correct: np.ndarray  # (N,) bool: clean prediction is the label

    @property
    def verified_accuracy(self):
        return float(np.mean(self.verified)) if len(self.verified) else 0.0

    @property
    def clean_accuracy(self):
        return float(np.mean(self.correct)) if len(self.correct) else 0.0

    def summary(self):
        return {"method": self.method, "eps": self.eps, "images": int(len(self.verified)),
                "clean_accuracy": self.clean_accuracy, "verified_accuracy": self.verified_accuracy}


def verify(model, x, y, eps, method="crown", batch_size=None, progress=None):
    """Verified robust accuracy of `model` at L∞ radius `eps` by bound propagation.

    Args:
        model: a Keras classifier on [0, 1] images: a chain of Dense, Conv2D, ReLU, max/average pooling,
            Flatten, Reshape, Normalization, Rescaling, BatchNormalization (inference), Dropout; any other
            layer is refused by name before any work.
        x, y: images in [0, 1] and integer labels.
        eps: the L∞ radius, > 0, in pixel units.
        method: "ibp" (one pass of intervals) or "crown" (linear bounds backwards, never looser than IBP's;
            slower).
        batch_size: images per pass (default 1000 for IBP, 4 for CROWN).
        progress: called with the number of images done after each pass.

    Returns:
        a `VerifyResult`. An image is verified only if it is classified correctly and every margin's lower
        bound is positive; a sound method never verifies an image an attack breaks.

    Example:
        >>> r = kl.verify(model, x_test[:100], y_test[:100], eps=0.1, method="crown")
        >>> r.verified_accuracy   # ≤ kl.autoattack(...).robust_accuracy
    """
    check_choice("verification method", method, tuple(METHODS))
    check_positive("eps", eps, 0.1)
    steps, in_shape = chain(model)
    x = np.asarray(x, np.float32)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if x.shape[1:] != in_shape:
        raise KerasllError(f"images of shape {x.shape[1:]} do not fit the model's input {in_shape}")
    batch = int(batch_size or BATCH[method])
    margins = []
    for start in range(0, len(x), batch):
        bounds = METHODS[method](steps, x[start:start + batch], y[start:start + batch], float(eps))
        rows = np.arange(len(bounds))
        bounds[rows, y[start:start + batch]] = np.inf  # z_y − z_y = 0 is no constraint
        margins.append(bounds.min(-1))
        if progress is not None:
            progress(min(start + batch, len(x)))
    margin_lower = np.concatenate(margins) if margins else np.zeros(0)
    logits = np.asarray(model.predict(x, verbose=0, batch_size=1000)) if len(x) else np.zeros((0, 1))
    correct = logits.argmax(-1) == y
    return VerifyResult(method, float(eps), (margin_lower > 0) & correct, margin_lower, correct)
