"""Accuracy under attack, with the evaluation's self-checks: the numbers of Tables 1 and 2 and AutoAttack.

`attack_settings` fills in a data set's presets; `evaluate` runs one attack (or
AutoAttack) and returns a JSON-ready result with RobustBench's field names and
the flags of `kerasll.attacks.checks`.
"""

import time

import numpy as np

from kerasll.attacks import autoattack, checks, list_attacks
from kerasll.attacks.autoattack import VERSIONS
from kerasll.attacks.common import NORMS, check_budget, num_classes, predict_classes
from kerasll.attacks.registry import get_attack, run_attack
from kerasll.datasets.registry import dataset_info
from kerasll.errors import KerasllError, check_choice


def attack_names():
    """Every attack an evaluation can name: the registered ones and "autoattack"."""
    return [*list_attacks(), "autoattack"]


def attack_settings(dataset, attack="pgd", eps=None, steps=None, step_size=None, restarts=1, norm="linf",
                    version="standard", queries=None):
    """The attack's settings: the data set's preset, overridden where given.

    PGD defaults to the paper's preset (Fashion-MNIST: 10 steps of 6.25/255 at
    ε = 25/255); the other attacks to AutoAttack's (100 iterations, 5,000 queries).
    """
    check_choice("attack", attack, attack_names())
    check_choice("norm", norm, NORMS)
    info = dataset_info(dataset)
    if eps is None:
        eps = info.eval_eps if norm == "linf" else info.eval_eps_l2
    settings = {"attack": attack, "norm": norm, "eps": float(eps)}
    if attack == "autoattack":
        settings["version"] = check_choice("version", version, list(VERSIONS))
    elif attack == "pgd":
        settings.update(
            steps=info.eval_steps if steps is None else int(steps),
            step_size=(info.eval_step_size * float(eps) / info.eval_eps) if step_size is None else float(step_size),
            restarts=int(restarts),
        )
    else:
        defaults = get_attack(attack).defaults
        if "steps" in defaults:
            settings.update(steps=defaults["steps"] if steps is None else int(steps), restarts=int(restarts))
        if "queries" in defaults:
            settings["queries"] = defaults["queries"] if queries is None else int(queries)
    check_budget(settings["eps"], settings.get("step_size", 1.0), settings.get("steps", settings.get("queries", 1)),
                 norm, settings.get("restarts", 1))
    if attack != "autoattack" and norm not in get_attack(attack).norms:
        raise KerasllError(f"attack {attack!r} supports norm {', '.join(get_attack(attack).norms)}, not {norm!r}")
    return settings


def predictions(model, x, batch_size=2000):
    """Predicted classes of `model` on `x`, (N,) int."""
    return predict_classes(model, x, batch_size)


def accuracy(model, x, y, batch_size=2000):
    """Top-1 accuracy of `model` on (x, y); labels (N,) or (N, 1)."""
    return float(np.mean(predictions(model, x, batch_size) == np.asarray(y).reshape(-1)))


def check_labels(y, num_classes):
    y = np.asarray(y).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise KerasllError(f"label {bad} is out of range: the model has {num_classes} classes (0–{num_classes - 1})")
    return y


def evaluate(model, x, y, settings, seed=0, progress=None, log=None, run_checks=True, batch_size=1000):
    """Clean and robust accuracy of `model` under `settings` (see `attack_settings`), with flags.

    `progress(name, done, total, robust_accuracy)` reports each attack's progress.
    Returns a JSON-ready dict: clean_acc, robust_acc, the RobustBench fields, flags, seconds.
    """
    y = check_labels(y, num_classes(model, x))
    start = time.perf_counter()
    if settings["attack"] == "autoattack":
        result = autoattack(model, x, y, settings["eps"], settings["norm"], settings["version"], seed=seed,
                            run_checks=run_checks, progress=progress, log=log, batch_size=batch_size)
        out = result.to_dict()
        out["robust_acc"] = out["autoattack_acc"]
    else:
        options = {k: v for k, v in settings.items() if k not in ("attack", "norm", "eps")}
        report = (lambda done, total, fooled=0: progress(settings["attack"], done, total, 1 - fooled / len(x))) \
            if progress else None
        x_adv = np.asarray(run_attack(settings["attack"], model, x, y, settings["eps"], settings["norm"], seed=seed,
                                      progress=report, batch_size=batch_size, **options))
        clean = accuracy(model, x, y)
        robust = accuracy(model, x_adv, y)
        flags = []
        if run_checks:
            correct = predictions(model, x) == y
            flags = checks.check_outputs(model, x[:500]) + [checks.check_gradients(model, x[correct], y[correct])]
            flags.append(checks.check_noise(checks.noise_accuracy(model, x, y, settings["eps"], settings["norm"],
                                                                  seed=seed), robust))
        out = {"clean_acc": clean, "robust_acc": robust, "eps": settings["eps"],
               "threat_model": {"linf": "Linf", "l2": "L2"}[settings["norm"]], "n_examples": len(x),
               "flags": [f.to_dict() for f in flags if f is not None]}
    out["seconds_total"] = round(time.perf_counter() - start, 1)
    return out


def robust_accuracy(model, x, y, settings, seed=0, progress=None):
    """Accuracy on adversarial examples made with `settings` (no self-checks)."""
    return evaluate(model, x, y, settings, seed=seed, run_checks=False,
                    progress=(lambda name, done, total, acc: progress(done, total)) if progress else None)["robust_acc"]
