"""Attacks on the [0,1] pixel box: FGSM, PGD, APGD, FAB, Square and AutoAttack."""

from kerasll.attacks.common import (
    NORMS, check_budget, cross_entropy, dlr_loss, labels_of, loss_and_grad, margin, random_start, targeted_dlr_loss,
)
from kerasll.attacks.apgd import apgd
from kerasll.attacks.fab import fab
from kerasll.attacks.pgd import fgsm, pgd, pgd_steps

__all__ = [
    "NORMS", "apgd", "check_budget", "cross_entropy", "dlr_loss", "fab", "fgsm", "labels_of", "loss_and_grad", "margin", "pgd",
    "pgd_steps", "random_start", "targeted_dlr_loss",
]
