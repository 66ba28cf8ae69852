"""Signs of a broken evaluation (Croce & Hein 2020; the reference code's flags), as data.

Each check returns a `Flag` or None. A flag says what was seen, in numbers, and
what to try next; the CLI prints one line per flag and eval.json stores them.
"""

from dataclasses import asdict, dataclass

import numpy as np
from keras import ops

from kerasll import backend
from kerasll._tensors import batches
from kerasll.attacks import noise
from kerasll.attacks.attack import Runtime
from kerasll.attacks.driver import logits_of, predict_classes
from kerasll.attacks.geometry import sphere_start
from kerasll.attacks.losses import cross_entropy
from kerasll.stats import binomial_tail

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


def image_checks(model, x, y, eps, norm, seed=0, order=False, runtime=None):
    """Per image, what the self-checks look at, as boolean arrays (N,).

    - ``probabilities``: the output row is a probability vector (in [0,1], sums to 1);
    - ``unstable``: two identical calls gave different outputs (a randomised model);
    - ``grad_zero`` / ``grad_bad``: the input gradient of the CE loss is all zero / not finite;
    - ``noise``: still classified correctly under random noise of size exactly ε;
    - with `order`: ``fgsm`` and ``pgd``, correct under FGSM (L∞ only) and PGD-10 (step ε/4),
      the weaker attacks a strong one must beat (L1: neither; its sparse steps are APGD-L1's own).

    `runtime` (`kerasll.attacks.Runtime`): the images' keys and the batch size; its progress and stages
    are not used. Every value depends on the image and its key (its content) only, so checks over
    chunks of a set add up to the checks over the whole. `flags_of` turns
    them into flags.
    """
    from kerasll.attacks.registry import get_attack, run_attack

    runtime = runtime or Runtime()
    keys, batch_size = noise.keys_of(x, runtime.keys), runtime.batch_size
    a, b = logits_of(model, x, batch_size), logits_of(model, x, batch_size)
    out = {"probabilities": (a.min(-1) > -1e-5) & (a.max(-1) < 1 + 1e-5) & (np.abs(a.sum(-1) - 1) <= 1e-4),
           "unstable": ~np.all(np.isclose(a, b, rtol=1e-5, atol=1e-6), -1)}
    out["grad_zero"], out["grad_bad"] = _gradient_problems(model, x, y, batch_size // 2 or 1)
    out["noise"] = _noise_correct(model, x, y, eps, norm, seed, keys, batch_size)
    if order:
        if norm == "linf":
            out["fgsm"] = predict_classes(model, np.asarray(run_attack(
                "fgsm", model, x, y, eps, batch_size=batch_size))) == y
    if order and norm in get_attack("pgd").norms:  # L1 has no PGD-10 check: its steepest step moves one pixel
        out["pgd"] = predict_classes(model, np.asarray(run_attack(
            "pgd", model, x, y, eps, norm, seed=seed, keys=keys, batch_size=batch_size, steps=10,
            step_size=eps / 4, restarts=1))) == y
    return out


def _ce_gradient(call, x, y):
    return backend.value_and_input_grad(lambda xb: cross_entropy(y, call(xb)))(x)[1]


def _gradient_problems(model, x, y, batch_size):
    zero, bad = [], []
    gradient = backend.model_function(model, "check-gradient", _ce_gradient)
    for s in batches(len(x), batch_size):
        g = backend.to_numpy(gradient(ops.convert_to_tensor(x[s]), ops.convert_to_tensor(y[s])))
        g = g.reshape(len(g), -1)
        finite = np.isfinite(g).all(1)
        bad.append(~finite)
        zero.append(finite & (np.abs(g).sum(1) == 0))
    return np.concatenate(zero), np.concatenate(bad)


def _noise_correct(model, x, y, eps, norm, seed, keys, batch_size):
    """Correct under noise of size exactly ε: ±ε per pixel (L∞) or a random direction of norm ε (L2)."""
    out = []
    for s in batches(len(x), batch_size):
        noisy = sphere_start(ops.convert_to_tensor(x[s]), eps, norm, seed, ops.convert_to_tensor(noise.key_words(keys[s])),
                             counter=7, corners=True)
        out.append(predict_classes(model, noisy) == y[s])
    return np.concatenate(out)


def flags_of(checks, correct, robust, stages=None, eot=False):
    """The flags an evaluation raises, from per-image `checks` (`image_checks`, concatenated).

    Args:
        checks: {name: (N,) bool} from `image_checks`.
        correct: (N,) clean images classified correctly.
        robust: (N,) still correct after the attack.
        stages: for an ordered check, {attack: accuracy} of the strong attack's stages
            (e.g. {"apgd-ce": .., "autoattack": ..}), appended after FGSM and PGD-10.
        eot: the attack already averaged gradients over the model's randomness (AutoAttack
            "rand"), so a randomised model is reported, not flagged.
    """
    flags = []
    if checks["probabilities"].all():
        flags.append(Flag("probabilities", "the model's outputs are probability vectors (each row sums to 1)",
                          "pass the model without its final softmax: attacks and losses expect logits"))
    if checks["unstable"].any() and not eot:
        flags.append(Flag("randomized", f"two identical calls gave different outputs on "
                                         f"{int(checks['unstable'].sum())} of {len(correct)} images",
                          "evaluate randomised defenses with expectation over transformation: "
                          "--attack autoattack --version rand (APGD-CE and APGD-DLR averaging 20 gradients)"))
    flags.append(check_gradients(int(np.sum(checks["grad_zero"] & correct)),
                                 int(np.sum(checks["grad_bad"] & correct)), int(np.sum(correct))))
    flags.append(check_noise(float(checks["noise"].mean()), float(np.mean(robust))))
    if stages is not None:
        order = {k: float(checks[k].mean()) for k in ("fgsm", "pgd") if k in checks}
        flags.append(check_order(order | stages))
    return [f for f in flags if f is not None]


def check_gradients(zero, bad, n, share=0.01):
    """A flag when ≥ `share` of the `n` correctly classified images have an all-zero (`zero`) or
    non-finite (`bad`) input gradient of the CE loss."""
    if zero + bad >= share * n and zero + bad > 0:
        return Flag("gradients", f"{zero} images have an all-zero and {bad} a non-finite input gradient "
                                 f"(of {n})",
                    "gradient masking is likely (saturated softmax, quantisation, non-differentiable ops): "
                    "trust the black-box Square result and try the DLR loss or a BPDA adaptive attack")
    return None


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


# Square on the images the white-box attacks left robust: on the shipped AT, fast AT, adflat and no-defense
# LeNets it breaks at most a few percent of them, on models that mask gradients 40% or more
# (docs/evaluation.md, `scripts/calibrate_square_flag.py`). The flag fires when a one-sided binomial test
# says Square's share is above SQUARE_SHARE, at significance SQUARE_ALPHA.
SQUARE_SHARE = 0.05
SQUARE_ALPHA = 0.01


def check_square(broken, robust_before, version="standard"):
    """A flag when Square breaks significantly more than `SQUARE_SHARE` of the `robust_before` images that
    the white-box attacks run before it left robust (one-sided binomial test at `SQUARE_ALPHA`)."""
    if robust_before <= 0 or binomial_tail(broken, robust_before, SQUARE_SHARE) >= SQUARE_ALPHA:
        return None
    plus = "" if version == "plus" else "AutoAttack's plus version (more restarts, the DLR loss), "
    return Flag("square", f"the black-box Square attack broke {broken} of the {robust_before} images "
                          f"({100 * broken / robust_before:.1f}%) that the gradient-based attacks before it left "
                          f"robust; a sound evaluation leaves it at most {100 * SQUARE_SHARE:g}% of them "
                          f"(binomial p = {binomial_tail(broken, robust_before, SQUARE_SHARE):.1e})",
                "gradients are misleading on this model (gradient masking): treat white-box numbers as "
                f"upper bounds and run {plus}Square with more queries and restarts, or an adaptive attack")


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


# The adaptive checks (`kerasll.attacks.adaptive`), tested as the square flag is: they fire when a one-sided
# binomial test (at ADAPTIVE_ALPHA) says the share of the white-box survivors they break is above their
# share. Calibrated on the shipped LeNets (quiet) and the masked ones (firing): docs/evaluation.md,
# `scripts/calibrate_adaptive_flags.py`.
BUDGET_SHARE = 0.02
TRANSFER_SHARE = 0.02
ADAPTIVE_ALPHA = 0.01


def _adaptive_flag(code, what, broken, robust_before, share, hint):
    """`code`'s flag when `what` broke significantly more than `share` of the `robust_before` images (one-sided
    binomial test at `ADAPTIVE_ALPHA`), else None."""
    p = binomial_tail(broken, robust_before, share) if robust_before > 0 else 1.0
    if p >= ADAPTIVE_ALPHA:
        return None
    return Flag(code, f"{what} broke {broken} of the {robust_before} images the attacks left robust "
                      f"({100 * broken / robust_before:.1f}%, above {100 * share:g}%: binomial p = {p:.1e})", hint)


def check_budget_flag(broken, robust_before):
    """A flag when twice the budget breaks significantly more than `BUDGET_SHARE` of the images the plan left
    robust: the attack had not converged."""
    return _adaptive_flag("budget", "twice the iterations and restarts", broken, robust_before, BUDGET_SHARE,
                          "the attack has not converged, so its number overestimates robustness: raise the "
                          "iterations and restarts until doubling them changes nothing")


def check_transfer(broken, robust_before):
    """A flag when examples made on the surrogate break significantly more than `TRANSFER_SHARE` of the images
    the white-box attacks left robust: the defended model's own gradients are misleading."""
    return _adaptive_flag("transfer", "examples made on the surrogate", broken, robust_before, TRANSFER_SHARE,
                          "the model's gradients mislead white-box attacks (gradient masking): treat its numbers "
                          "as upper bounds; attack it adaptively (BPDA, EOT, a differentiable stand-in for its "
                          "masking part)")


def check_unbounded(curve, chance):
    """A flag when an ε-curve ({ε: accuracy}) ends above `chance` (1/classes, or a stated bound): it never showed
    the attack able to bring the model down to guessing, so it cannot tell a robust model from a failing attack."""
    largest = max(curve)
    if curve[largest] <= chance + TOLERANCE:
        return None
    return Flag("eps-unbounded", f"at the curve's largest ε = {largest:g} the accuracy is still "
                                 f"{100 * curve[largest]:.2f}%, above chance ({100 * chance:.1f}%)",
                "extend the curve to budgets where the attack must win (--eps-sweep goes to an unbounded ε): an "
                "attack that cannot reach chance there is failing, and its numbers at the nominal ε are too high")
