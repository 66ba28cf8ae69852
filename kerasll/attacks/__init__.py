"""Attacks on the [0,1] pixel box: FGSM, PGD, APGD, FAB, Square and AutoAttack."""

from kerasll.attacks.common import (
    NORMS, check_budget, cross_entropy, dlr_loss, labels_of, loss_and_grad, margin, random_start, targeted_dlr_loss,
)
from kerasll.attacks.apgd import apgd
from kerasll.attacks.autoattack import AutoAttackResult, autoattack, eps_sweep
from kerasll.attacks.checks import Flag
from kerasll.attacks.fab import fab
from kerasll.attacks.pgd import fgsm, pgd, pgd_steps
from kerasll.attacks.registry import AttackSpec, get_attack, list_attacks, register_attack, run_attack
from kerasll.attacks.square import square_attack

__all__ = [
    "AttackSpec", "AutoAttackResult", "Flag", "autoattack", "eps_sweep", "get_attack", "list_attacks",
    "register_attack", "run_attack", "square_attack",
    "NORMS", "apgd", "check_budget", "cross_entropy", "dlr_loss", "fab", "fgsm", "labels_of", "loss_and_grad", "margin", "pgd",
    "pgd_steps", "random_start", "targeted_dlr_loss",
]
