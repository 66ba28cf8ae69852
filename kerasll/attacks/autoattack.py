"""AutoAttack (Croce & Hein, ICML 2020) in TensorFlow, with checks that flag a broken evaluation.

"standard": APGD-CE, APGD-T, FAB-T and Square, each run only on the images that
are still classified correctly; an image is robust only if it survives all of
them. "fast": APGD-CE and APGD-T. "plus" (the reference's AA+): APGD-CE and
APGD-DLR with 5 restarts each, untargeted FAB with 5 restarts, Square, APGD-T
and FAB-T. "rand", for randomised defenses: APGD-CE and APGD-DLR, each step
following the mean of 20 gradients (expectation over transformation). The reported robust accuracy is recomputed as the model's accuracy
on the returned adversarial images.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from kerasll._tensors import as_float_tensor
from kerasll.attacks import checks, noise
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.common import labels_of, predict_classes
from kerasll.attacks.registry import VERSIONS, get_attack, run_attack
from kerasll.errors import check_choice

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
        """A JSON-ready summary (no images)."""
        return {
            "clean_accuracy": self.clean_accuracy, "robust_accuracy": self.robust_accuracy,
            "samples": len(self.robust), "settings": dict(self.settings), "by_attack": self.by_attack,
            "flags": [f.to_dict() for f in self.flags], "seconds_by_attack": self.seconds, **self.extra,
        }

    def robustbench(self):
        """The result under RobustBench's field names (clean_acc, autoattack_acc, …), for leaderboards."""
        return robustbench_fields(self.clean_accuracy, self.robust_accuracy, self.settings["eps"],
                                  self.settings["norm"], len(self.robust))


def robustbench_fields(clean, robust, eps, norm, samples):
    """RobustBench's names for an AutoAttack result: the one place they are spelled."""
    return {"clean_acc": clean, "autoattack_acc": robust, "eps": eps,
            "threat_model": {"linf": "Linf", "l2": "L2"}[norm], "n_examples": samples}


def autoattack(model, x, y, eps, norm="linf", version="standard", seed=0, attacks=None, run_checks=True,
               progress=None, log=None, batch_size=1000, keys=None):
    """Robust accuracy under AutoAttack, with self-checks.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (N, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (Fashion-MNIST 25/255; CIFAR-10 8/255 L∞, 0.5 L2).
        norm: "linf" or "l2".
        version: one of `VERSIONS` (see `VERSION_HELP`): "standard", "fast", "plus" or "rand".
        seed: seed of every attack's random draws.
        attacks: run these registered attacks instead of the version's list.
        run_checks: also run the self-checks (FGSM and PGD-10 for the ordering
            check, random noise, gradients, output range); they cost about one
            PGD-10 run.
        progress: `progress(name, done, total, robust_accuracy)` during each attack.
        log: `log(line)` after each attack.
        batch_size: images per compiled attack batch (lower it for large models).
        keys: the images' random-draw keys (default: `noise.image_keys(x)`, from their
            content): every random draw depends on (seed, key), so the same image gives
            the same result in any chunk, order, subset or file format.

    Returns:
        An `AutoAttackResult`.

    Example:
        >>> result = kerasll.autoattack(model, x_test, y_test, eps=8/255)
        >>> result.robust_accuracy, [str(f) for f in result.flags]
    """
    x_adv, records, seconds = autoattack_images(model, x, y, eps, norm, version, seed, keys=keys, attacks=attacks,
                                                progress=progress, log=log, batch_size=batch_size)
    plan = plan_of(version, attacks)
    if run_checks:
        t0 = time.perf_counter()
        records |= checks.image_checks(model, np.asarray(x, np.float32), labels_of(np.asarray(y)).numpy(), eps, norm,
                                       seed, keys, order=True, batch_size=batch_size)
        seconds["checks"] = round(time.perf_counter() - t0, 2)
    seconds["total"] = round(sum(seconds.values()), 2)
    summary = summarize(records, plan, run_checks, version if not attacks else "custom")
    return AutoAttackResult(
        x_adv=x_adv, robust=records["robust"], clean_accuracy=summary["clean_accuracy"],
        robust_accuracy=summary["robust_accuracy"], by_attack=summary["by_attack"], flags=summary["flags"],
        seconds=seconds, settings={"eps": float(eps), "norm": norm, "version": version if not attacks else "custom",
                                   "seed": seed, "attacks": [name for name, _ in plan], "n": len(x)},
        extra={k: summary[k] for k in ("noise_accuracy", "weaker_attacks_accuracy") if k in summary},
    )


def plan_of(version, attacks=None):
    """The (attack, settings) sequence AutoAttack runs: `version`'s, or `attacks` with their defaults."""
    if attacks:
        return tuple((name, {}) for name in attacks)
    return VERSIONS[check_choice("version", version, list(VERSIONS))]


def timed(name, fn, report=True):
    """Run a stage: `fn()`'s arrays and its seconds (the default of `autoattack_images`' `stage`)."""
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def autoattack_images(model, x, y, eps, norm="linf", version="standard", seed=0, keys=None, attacks=None,
                      progress=None, log=None, batch_size=1000, stage=timed):
    """Run AutoAttack's attacks in turn, each on the images still robust.

    Returns (x_adv, records, seconds): the adversarial images; per image (N,) bool
    arrays ``correct`` (clean), ``robust:<attack>`` (still robust after that attack and
    all before it) and ``robust`` (correct on `x_adv`, the number anyone can check);
    and the seconds per attack. `summarize` turns records into accuracies and flags.
    Each attack runs as `stage(name, fn)` (`fn()` → the images it fooled and their
    adversarial versions): an evaluation passes its `chunks.Stages`, which keeps each
    finished attack, so an interrupted run resumes at the first unfinished one.
    """
    plan = plan_of(version, attacks)
    check_budget(eps, eps, 1, norm, 1)
    x = as_float_tensor(x).numpy()
    y = labels_of(np.asarray(y)).numpy()
    keys = noise.keys_of(x, keys)
    seconds, records = {}, {}
    correct = predict_classes(model, x) == y
    robust, x_adv = correct.copy(), x.copy()
    for name, settings in plan:
        def attack(_name=name, _settings=settings, _ids=np.flatnonzero(robust)):
            if not len(_ids):
                return {"fooled": _ids, "adv": x[:0]}

            def report(done, total, fooled=0):
                if progress is not None:  # robust accuracy so far, this attack's finds included
                    progress(_name, done, total, (len(_ids) - fooled) / len(x))
            runs = lambda sub, fn: stage(f"{_name} {sub}", fn, report=False)  # noqa: E731  (APGD's runs)
            adv = np.asarray(run_attack(_name, model, x[_ids], y[_ids], eps, norm, seed=seed, keys=keys[_ids],
                                        progress=report, batch_size=batch_size, stage=runs, **_settings))
            fooled = predict_classes(model, adv) != y[_ids]
            return {"fooled": _ids[fooled], "adv": adv[fooled]}

        found, seconds[name] = stage(name, attack)
        x_adv[found["fooled"]] = found["adv"]
        robust[found["fooled"]] = False
        records[f"robust:{name}"] = robust.copy()
        if log is not None:
            log(f"{name}: robust accuracy {100 * robust.mean():.2f}% ({seconds[name]:.1f} s)")
    records["correct"] = correct
    records["robust"] = predict_classes(model, x_adv) == y
    return x_adv, records, seconds


def summarize(records, plan, run_checks=True, version=None):
    """Accuracies and flags from per-image `records` (`autoattack_images`, plus `checks.image_checks`
    when `run_checks`), concatenated over any chunks of the evaluated set."""
    names = [name for name, _ in plan]
    robust = records["robust"]
    by_attack = {name: float(records[f"robust:{name}"].mean()) for name in names}
    out = {"clean_accuracy": float(records["correct"].mean()), "robust_accuracy": float(robust.mean()),
           "by_attack": by_attack, "flags": []}
    black_box = [i for i, name in enumerate(names) if get_attack(name).gradient_free]
    if black_box and black_box[0] > 0:  # images Square broke that every (white-box) attack before it left robust
        i = black_box[0]
        before = records[f"robust:{names[i - 1]}"]
        flag = checks.check_square(int(np.sum(before & ~records[f"robust:{names[i]}"])), int(np.sum(before)),
                                   version or "custom")
        out["flags"] += [flag] if flag else []
    if run_checks:
        stages = {"apgd-ce": by_attack["apgd-ce"]} if names and names[0] == "apgd-ce" else {}
        out["flags"] += checks.flags_of(records, records["correct"], robust, stages | {"autoattack": float(robust.mean())},
                                        eot=version == "rand")
        out["noise_accuracy"] = float(records["noise"].mean())
        out["weaker_attacks_accuracy"] = {k: float(records[k].mean()) for k in ("fgsm", "pgd") if k in records}
    return out


SWEEP_FACTORS = (1, 2, 4, 8)


def sweep_budgets(eps, norm, image_shape, factors=SWEEP_FACTORS):
    """The sweep's budgets: ε × `factors`, capped at, and followed by, an unbounded ε (the whole box)."""
    unbounded = 1.0 if norm == "linf" else float(np.sqrt(np.prod(image_shape)))
    return sorted({min(eps * f, unbounded) for f in factors} | {unbounded})


def eps_sweep(model, x, y, eps, norm="linf", factors=SWEEP_FACTORS, version="fast", seed=0, progress=None,
              batch_size=1000):
    """Robust accuracy at ε × `factors` and at an unbounded ε (the whole box), with the sweep's flag.

    Returns ({ε: accuracy}, flag or None). Accuracy must fall towards 0: an
    attack that cannot reach 0% with an unbounded budget is failing.
    """
    accuracies = {}
    for e in sweep_budgets(eps, norm, np.shape(x)[1:], factors):
        result = autoattack(model, x, y, e, norm, version=version, seed=seed, run_checks=False,
                            progress=progress, batch_size=batch_size)
        accuracies[e] = result.robust_accuracy
    return accuracies, checks.check_sweep(accuracies)
