"""AutoAttack (Croce & Hein, ICML 2020) in TensorFlow, with checks that flag a broken evaluation.

"standard": APGD-CE, APGD-T, FAB-T and Square, each run only on the images that
are still classified correctly; an image is robust only if it survives all of
them. "fast": APGD-CE and APGD-T. "plus" (the reference's AA+): APGD-CE and
APGD-DLR with 5 restarts each, untargeted FAB with 5 restarts, Square, APGD-T
and FAB-T. The reported robust accuracy is recomputed as the model's accuracy
on the returned adversarial images.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from kerasll._tensors import as_float_tensor
from kerasll.attacks import checks
from kerasll.attacks.common import check_budget, labels_of, predict_classes
from kerasll.attacks.registry import run_attack
from kerasll.errors import check_choice

# Each version is a sequence of (registered attack, settings that differ from its defaults),
# with the reference implementation's settings (fra31/auto-attack, `set_version`).
VERSIONS = {
    "standard": (("apgd-ce", {}), ("apgd-t", {}), ("fab-t", {}), ("square", {})),
    "fast": (("apgd-ce", {}), ("apgd-t", {})),
    "plus": (("apgd-ce", {"restarts": 5}), ("apgd-dlr", {"restarts": 5}), ("fab", {"restarts": 5}),
             ("square", {}), ("apgd-t", {}), ("fab-t", {})),
}


@dataclass
class AutoAttackResult:
    """What `autoattack` found.

    Attributes:
        x_adv: adversarial images (numpy, shaped like x); clean images where no attack succeeded.
        robust: per image, True if still classified correctly on `x_adv`.
        clean_accuracy: accuracy on the clean images.
        robust_accuracy: accuracy on `x_adv` (exactly `robust.mean()`).
        by_attack: robust accuracy after each attack, in the order they ran (cumulative).
        flags: `checks.Flag`s raised by the evaluation's self-checks.
        seconds: wall-clock per attack and for the checks, plus "total".
        settings: eps, norm, version, seed and number of images.
    """

    x_adv: np.ndarray
    robust: np.ndarray
    clean_accuracy: float
    robust_accuracy: float
    by_attack: dict
    flags: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def to_dict(self):
        """A JSON-ready summary (no images), with RobustBench's field names."""
        return {
            "clean_acc": self.clean_accuracy, "autoattack_acc": self.robust_accuracy,
            "eps": self.settings.get("eps"), "threat_model": {"linf": "Linf", "l2": "L2"}[self.settings["norm"]],
            "n_examples": len(self.robust), "version": self.settings.get("version"),
            "by_attack": self.by_attack, "flags": [f.to_dict() for f in self.flags],
            "seconds": self.seconds, **self.extra,
        }


def autoattack(model, x, y, eps, norm="linf", version="standard", seed=0, attacks=None, run_checks=True,
               progress=None, log=None, batch_size=1000):
    """Robust accuracy under AutoAttack, with self-checks.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (N, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (Fashion-MNIST 25/255; CIFAR-10 8/255 L∞, 0.5 L2).
        norm: "linf" or "l2".
        version: "standard" (APGD-CE, APGD-T, FAB-T, Square), "fast" (APGD-CE, APGD-T) or
            "plus" (APGD-CE and APGD-DLR ×5 restarts, FAB ×5, Square, APGD-T, FAB-T; slower,
            a second opinion when a flag fires).
        seed: seed of every attack's random draws.
        attacks: run these registered attacks instead of the version's list.
        run_checks: also run the self-checks (FGSM and PGD-10 for the ordering
            check, random noise, gradients, output range); they cost about one
            PGD-10 run.
        progress: `progress(name, done, total, robust_accuracy)` during each attack.
        log: `log(line)` after each attack.
        batch_size: images per compiled attack batch (lower it for large models).

    Returns:
        An `AutoAttackResult`.

    Example:
        >>> result = kerasll.autoattack(model, x_test, y_test, eps=8/255)
        >>> result.robust_accuracy, [str(f) for f in result.flags]
    """
    check_choice("version", version, list(VERSIONS))
    check_budget(eps, eps, 1, norm, 1)
    x = as_float_tensor(x).numpy()
    y = labels_of(np.asarray(y)).numpy()
    plan = tuple((name, {}) for name in attacks) if attacks else VERSIONS[version]
    names = tuple(name for name, _ in plan)
    start = time.perf_counter()
    seconds = {}
    correct = predict_classes(model, x) == y
    clean = float(correct.mean())
    robust = correct.copy()
    x_adv = x.copy()
    by_attack = {}
    square_broke = None  # images Square broke that every attack before it left robust
    for name, settings in plan:
        t0 = time.perf_counter()
        before = robust.copy()
        ids = np.flatnonzero(robust)
        if len(ids):
            def report(done, total, fooled=0, _name=name, _ids=ids):
                if progress is not None:  # robust accuracy so far, this attack's finds included
                    progress(_name, done, total, (len(_ids) - fooled) / len(x))
            adv = np.asarray(run_attack(name, model, x[ids], y[ids], eps, norm, seed=seed, index=ids,
                                        progress=report, batch_size=batch_size, **settings))
            fooled = predict_classes(model, adv) != y[ids]
            x_adv[ids[fooled]] = adv[fooled]
            robust[ids[fooled]] = False
        if name == "square":
            square_broke = int(np.sum(before & ~robust))
        by_attack[name] = float(robust.mean())
        seconds[name] = round(time.perf_counter() - t0, 2)
        if log is not None:
            log(f"{name}: robust accuracy {100 * by_attack[name]:.2f}% ({seconds[name]:.1f} s)")
    final = predict_classes(model, x_adv) == y  # the number anyone can check
    flags, extra = [], {}
    if square_broke is not None:
        flags.append(checks.check_square(square_broke, len(x), version if not attacks else "custom"))
    if run_checks:
        t0 = time.perf_counter()
        flags += checks.check_outputs(model, x[:500])
        flags.append(checks.check_gradients(model, x[correct], y[correct]))
        extra["noise_acc"] = checks.noise_accuracy(model, x, y, eps, norm, seed=seed)
        flags.append(checks.check_noise(extra["noise_acc"], float(final.mean())))
        order = {}
        if norm == "linf":
            order["fgsm"] = float(np.mean(predict_classes(model, np.asarray(run_attack(
                "fgsm", model, x, y, eps, batch_size=batch_size))) == y))
        order["pgd"] = float(np.mean(predict_classes(model, np.asarray(run_attack(
            "pgd", model, x, y, eps, norm, seed=seed, batch_size=batch_size, steps=10, step_size=eps / 4,
            restarts=1))) == y))
        if names and names[0] == "apgd-ce":
            order["apgd-ce"] = by_attack["apgd-ce"]
        order["autoattack"] = float(final.mean())
        extra["weaker_attacks_acc"] = {k: v for k, v in order.items() if k in ("fgsm", "pgd")}
        flags.append(checks.check_order(order))
        seconds["checks"] = round(time.perf_counter() - t0, 2)
    seconds["total"] = round(time.perf_counter() - start, 2)
    return AutoAttackResult(
        x_adv=x_adv, robust=final, clean_accuracy=clean, robust_accuracy=float(final.mean()), by_attack=by_attack,
        flags=[f for f in flags if f is not None], seconds=seconds,
        settings={"eps": float(eps), "norm": norm, "version": version if not attacks else "custom", "seed": seed,
                  "attacks": list(names), "n": len(x)},
        extra=extra,
    )


def eps_sweep(model, x, y, eps, norm="linf", factors=(1, 2, 4, 8), version="fast", seed=0, progress=None,
              batch_size=1000):
    """Robust accuracy at ε × `factors` and at an unbounded ε (the whole box), with the sweep's flag.

    Returns ({ε: accuracy}, flag or None). Accuracy must fall towards 0: an
    attack that cannot reach 0% with an unbounded budget is failing.
    """
    dim = int(np.prod(np.shape(x)[1:]))
    unbounded = 1.0 if norm == "linf" else float(np.sqrt(dim))
    budgets = sorted({min(eps * f, unbounded) for f in factors} | {unbounded})
    accuracies = {}
    for e in budgets:
        result = autoattack(model, x, y, e, norm, version=version, seed=seed, run_checks=False,
                            progress=progress, batch_size=batch_size)
        accuracies[e] = result.robust_accuracy
    return accuracies, checks.check_sweep(accuracies)
