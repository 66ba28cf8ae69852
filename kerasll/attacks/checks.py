"""Signs of a broken evaluation (Croce & Hein 2020; the reference code's flags), as data.

Each check returns a `Flag` or None. A flag says what was seen, in numbers, and
what to try next; the CLI prints one line per flag and eval.json stores them.
"""

from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from kerasll._tensors import batches
from kerasll.attacks import noise
from kerasll.attacks.common import cross_entropy, logits_of, normalize

TOLERANCE = 0.002  # accuracy differences below 0.2 points are noise (the reference's threshold)


@dataclass(frozen=True)
class Flag:
    """One warning about an evaluation: `code` (stable), `message` (what was seen), `hint` (what to try)."""

    code: str
    message: str
    hint: str

    def to_dict(self):
        return asdict(self)

    def __str__(self):
        return f"{self.code}: {self.message} — try: {self.hint}"


def check_outputs(model, x, batch_size=1000):
    """Flags for a model that returns probabilities, or answers two identical calls differently."""
    flags = []
    a = logits_of(model, x, batch_size)
    if a.min() > -1e-5 and a.max() < 1 + 1e-5 and np.allclose(a.sum(-1), 1, atol=1e-4):
        flags.append(Flag("probabilities", "the model's outputs are probability vectors (each row sums to 1)",
                          "pass the model without its final softmax: attacks and losses expect logits"))
    b = logits_of(model, x, batch_size)
    if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
        flags.append(Flag("randomized", "two identical calls gave different outputs",
                          "evaluate randomised defenses with expectation over transformation (AutoAttack's "
                          "'rand' version), not with a deterministic attack"))
    return flags


def check_gradients(model, x, y, batch_size=500, share=0.01):
    """A flag when ≥ `share` of the images have an all-zero or non-finite input gradient of the CE loss."""
    zero = bad = 0
    for s in batches(len(x), batch_size):
        xb = tf.convert_to_tensor(x[s])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = cross_entropy(tf.convert_to_tensor(y[s]), model(xb, training=False))
        g = tape.gradient(loss, xb, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        g = np.zeros(xb.shape, np.float32) if g is None else g.numpy().reshape(len(g), -1)
        finite = np.isfinite(g).all(1)
        bad += int(np.sum(~finite))
        zero += int(np.sum(finite & (np.abs(g).sum(1) == 0)))
    if zero + bad >= share * len(x) and zero + bad > 0:
        return Flag("gradients", f"{zero} images have an all-zero and {bad} a non-finite input gradient "
                                 f"(of {len(x)})",
                    "gradient masking is likely (saturated softmax, quantisation, non-differentiable ops): "
                    "trust the black-box Square result and try the DLR loss or a BPDA adaptive attack")
    return None


def noise_accuracy(model, x, y, eps, norm, seed=0, batch_size=1000):
    """Accuracy under random noise of size exactly ε: ±ε per pixel (L∞) or a random direction of norm ε (L2)."""
    correct = 0
    for s in batches(len(x), batch_size):
        xb = tf.convert_to_tensor(x[s])
        index = tf.range(s.start, s.stop)
        if norm == "linf":
            delta = eps * noise.signs(seed, index, 7, xb.shape[1:].as_list(), xb.dtype)
        else:
            delta = eps * normalize(noise.normal(seed, index, 7, xb.shape[1:].as_list(), xb.dtype), "l2")
        pred = np.argmax(logits_of(model, tf.clip_by_value(xb + delta, 0.0, 1.0)), -1)
        correct += int(np.sum(pred == y[s]))
    return correct / len(x)


def check_noise(noise_acc, robust_acc):
    if noise_acc < robust_acc - TOLERANCE:
        return Flag("noise", f"random noise of size ε leaves {100 * noise_acc:.2f}% accuracy, below the attack's "
                             f"{100 * robust_acc:.2f}%",
                    "the attack is not working on this model: check the labels, the input range ([0,1] "
                    "pixels) and that the model returns logits")
    return None


def check_order(accuracies):
    """A flag when an attack scores below one that should be stronger, e.g. {'fgsm': .., 'pgd': .., 'apgd-ce': ..}.

    `accuracies` is ordered from the weakest attack to the strongest.
    """
    names = list(accuracies)
    beaten = [(weak, strong) for i, weak in enumerate(names) for strong in names[i + 1:]
              if accuracies[weak] < accuracies[strong] - TOLERANCE]
    if not beaten:
        return None
    weak, strong = beaten[0]
    return Flag("order", f"the weaker {weak.upper()} ({100 * accuracies[weak]:.2f}%) beats the stronger "
                         f"{strong.upper()} ({100 * accuracies[strong]:.2f}%)",
                "the stronger attack is being misled (gradient masking or a poor step size): run more "
                "restarts, the DLR loss, or Square with more queries")


def check_square(broken, n, version="standard"):
    """A flag when Square breaks images that the white-box attacks run before it left robust."""
    plus = "" if version == "plus" else "AutoAttack's plus version (more restarts, the DLR loss), "
    if broken > TOLERANCE * n:
        return Flag("square", f"the black-box Square attack broke {broken} images ({100 * broken / n:.2f}%) "
                              "that the gradient-based attacks before it left robust",
                    "gradients are misleading on this model (gradient masking): treat white-box numbers as "
                    f"upper bounds and run {plus}Square with more queries and restarts, or an adaptive attack")
    return None


def check_sweep(accuracies, limit=0.01):
    """A flag when accuracy does not fall towards 0 as ε grows ({ε: accuracy}, the last ε unbounded)."""
    eps = sorted(accuracies)
    values = [accuracies[e] for e in eps]
    rising = [(a, b) for a, b in zip(eps, eps[1:]) if accuracies[b] > accuracies[a] + TOLERANCE]
    if values[-1] > limit or rising:
        what = (f"accuracy is still {100 * values[-1]:.2f}% at ε = {eps[-1]:g} (unbounded)" if values[-1] > limit
                else f"accuracy rises from ε = {rising[0][0]:g} to ε = {rising[0][1]:g}")
        return Flag("eps-sweep", what,
                    "an attack with an unbounded budget must reach 0%: the attack is failing (masking, "
                    "bad gradients); do not trust its numbers at the nominal ε")
    return None
