"""`kl.verify`: verified robust accuracy in L∞, a sound lower bound on what any attack can leave standing."""

import hashlib
import weakref
from dataclasses import dataclass

import numpy as np

from kerasll.attacks.budgets import check_eps
from kerasll.errors import KerasllError, check_choice, check_positive
from kerasll.verification.bounds import crown_margins, ibp_margins
from kerasll.verification.milp import ATTACKABLE, TIMEOUT, VERIFIED, check_size, milp_verify
from kerasll.verification.network import chain


def _attacked(model, x, y, eps):
    """PGD's points (5 restarts of 50 steps, the CE loss) in the ε-ball ∩ [0, 1]: the MILP's cheap first look,
    sparing it the images an attack breaks (a point the model misclassifies is a counterexample, whoever
    found it)."""
    from kerasll.attacks.pgd import pgd

    return np.asarray(pgd(model, x, y, eps, eps / 4, 50, restarts=5, seed=0)).reshape(len(x), -1)


METHODS = {"ibp": ibp_margins, "crown": crown_margins, "milp": None}  # milp: `milp.milp_verify`, per image
# Images per pass: CROWN's intermediate specs are (B, n, n) matrices; the MILP's pass is its attack's batch (the
# programs are per image).
BATCH = {"ibp": 1000, "crown": 4, "milp": 64}


@dataclass
class VerifyResult:
    """Per image: whether every margin z_y − z_j is provably positive over the L∞ ball of radius `eps`
    (intersected with [0, 1]), and the lower bound on the smallest margin.

    `verified_accuracy` ≤ the true robust accuracy ≤ any attack's robust accuracy (AutoAttack's). With the
    exact method ("milp") every image is decided unless its time ran out: `status` "verified", "attackable"
    (with its `counterexamples` row, an image in the ball the model misclassifies) or "timeout" (counted
    apart, never as verified); then `exact_accuracy` is the true robust accuracy when nothing timed out.
    """

    method: str
    eps: float
    verified: np.ndarray  # (N,) bool
    margin_lower: np.ndarray  # (N,) float64: min over j ≠ y of the lower bound on z_y − z_j
    correct: np.ndarray  # (N,) bool: clean prediction is the label
    status: np.ndarray = None  # (N,) str: "verified", "attackable", "timeout" (milp); "verified", "unknown"
    counterexamples: np.ndarray = None  # (N, *image shape) float32, NaN where none (milp)

    def __post_init__(self):
        if self.status is None:
            self.status = np.where(self.verified, VERIFIED, "unknown").astype(object)

    @property
    def timed_out(self):
        return int(np.sum(self.status == TIMEOUT))

    @property
    def attackable(self):
        return int(np.sum(self.status == ATTACKABLE))

    @property
    def exact_accuracy(self):
        """The true robust accuracy (milp, when no image timed out), else None."""
        if self.method != "milp" or self.timed_out:
            return None
        return self.verified_accuracy

    @property
    def verified_accuracy(self):
        return float(np.mean(self.verified)) if len(self.verified) else 0.0

    @property
    def clean_accuracy(self):
        return float(np.mean(self.correct)) if len(self.correct) else 0.0

    def summary(self):
        out = {"method": self.method, "eps": self.eps, "images": int(len(self.verified)),
               "clean_accuracy": self.clean_accuracy, "verified_accuracy": self.verified_accuracy}
        if self.method == "milp":
            out.update(attackable=self.attackable, timed_out=self.timed_out, exact_accuracy=self.exact_accuracy)
        return out


_NETWORKS = weakref.WeakKeyDictionary()  # model → (digest of its weights, chain(model)): read once per weights


def network_of(model):
    """`network.chain(model)`, read again only when the model's weights changed (LeNet: 0.4 s a read; a run in
    chunks verifies the same model dozens of times)."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    found = _NETWORKS.get(model)
    if found is None or found[0] != digest.digest():
        found = _NETWORKS[model] = (digest.digest(), chain(model))
    return found[1]


def verify(model, x, y, eps, method="crown", batch_size=None, progress=None, time_limit=60.0):
    """Verified robust accuracy of `model` at L∞ radius `eps` by bound propagation.

    Args:
        model: a Keras classifier on [0, 1] images: a chain of Dense, Conv2D, ReLU, max/average pooling,
            Flatten, Reshape, Normalization, Rescaling, BatchNormalization (inference), Dropout; any other
            layer is refused by name before any work.
        x, y: images in [0, 1] and integer labels.
        eps: the L∞ radius, > 0, in pixel units.
        method: "ibp" (one pass of intervals), "crown" (linear bounds backwards, never looser than IBP's;
            slower) or "milp" (exact, per image: Tjeng et al.'s mixed-integer program with CROWN's bounds,
            solved by SciPy's HiGHS; networks of up to `milp.MAX_RELUS` ReLUs).
        batch_size: images per pass (default 1000 for IBP, 4 for CROWN).
        progress: called with the number of images done after each pass.
        time_limit: seconds per image for "milp"; an image whose time runs out is counted as "timeout".

    Returns:
        a `VerifyResult`. An image is verified only if it is classified correctly and every margin's lower
        bound is positive; a sound method never verifies an image an attack breaks.

    Example:
        >>> r = kl.verify(model, x_test[:100], y_test[:100], eps=0.1, method="crown")
        >>> r.verified_accuracy   # ≤ kl.autoattack(...).robust_accuracy
    """
    check_choice("verification method", method, tuple(METHODS))
    check_eps(eps)
    steps, in_shape = network_of(model)
    x = np.asarray(x, np.float32)
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if x.shape[1:] != in_shape:
        raise KerasllError(f"images of shape {x.shape[1:]} do not fit the model's input {in_shape}")
    if method == "milp":
        check_size(steps)
        check_positive("time_limit", time_limit, 60, unit="seconds per image")
    batch = int(batch_size or BATCH[method])
    predict = lambda points: np.asarray(model.predict(points.reshape(-1, *in_shape), verbose=0))  # noqa: E731
    margins, status, found = [], [], []
    for start in range(0, len(x), batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        if method == "milp":
            candidates = _attacked(model, xb, yb, float(eps))
            decided, lowest, points = milp_verify(steps, xb, yb, float(eps), float(time_limit), predict, candidates)
            margins.append(lowest)
            status.append(decided)
            found.append(points.reshape(len(xb), *in_shape))
        else:
            bounds = METHODS[method](steps, xb, yb, float(eps))
            bounds[np.arange(len(bounds)), yb] = np.inf  # z_y − z_y = 0 is no constraint
            margins.append(bounds.min(-1))
        if progress is not None:
            progress(min(start + batch, len(x)))
    margin_lower = np.concatenate(margins) if margins else np.zeros(0)
    logits = np.asarray(model.predict(x, verbose=0, batch_size=1000)) if len(x) else np.zeros((0, 1))
    correct = logits.argmax(-1) == y
    if method != "milp":
        return VerifyResult(method, float(eps), (margin_lower > 0) & correct, margin_lower, correct)
    status = np.concatenate(status) if status else np.zeros(0, object)
    found = np.concatenate(found) if found else np.zeros((0, *in_shape), np.float32)
    return VerifyResult(method, float(eps), (status == VERIFIED) & correct, margin_lower, correct, status, found)
