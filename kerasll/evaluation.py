"""Accuracy under attack: the numbers of the paper's Tables 1 and 2."""

import numpy as np

from kerasll.attacks import fgsm, pgd
from kerasll.datasets.registry import dataset_info
from kerasll.errors import check_choice

ATTACKS = ("pgd", "fgsm")


def attack_settings(dataset, attack="pgd", eps=None, steps=None, step_size=None, restarts=1, norm="linf"):
    """The attack's settings: the dataset's paper preset, overridden where given."""
    check_choice("attack", attack, ATTACKS)
    info = dataset_info(dataset)
    settings = {"attack": attack, "norm": norm, "eps": info.eval_eps if eps is None else float(eps)}
    if attack == "pgd":
        settings.update(
            steps=info.eval_steps if steps is None else int(steps),
            step_size=info.eval_step_size if step_size is None else float(step_size),
            restarts=int(restarts), random_start=True,
        )
    return settings


def accuracy(model, x, y, batch_size=512):
    """Top-1 accuracy of `model` on (x, y)."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == np.asarray(y).reshape(-1)))


def robust_accuracy(model, x, y, settings, seed=0, batch_size=512, progress=None):
    """Accuracy on adversarial examples made with `settings` (see `attack_settings`).

    `progress(done, total)` is called after each batch when given.
    """
    correct, total = 0, len(x)
    for start in range(0, total, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        if settings["attack"] == "fgsm":
            x_adv = fgsm(model, xb, yb, settings["eps"])
        else:
            x_adv = pgd(model, xb, yb, settings["eps"], settings["step_size"], settings["steps"],
                        random_start=settings.get("random_start", True), restarts=settings["restarts"],
                        norm=settings["norm"], seed=seed + start)
        correct += int(np.sum(np.argmax(model.predict(x_adv, batch_size=batch_size, verbose=0), -1) == yb))
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return correct / total
