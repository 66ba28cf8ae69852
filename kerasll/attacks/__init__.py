"""Attacks on the [0,1] pixel box: FGSM, PGD, APGD, FAB and Square (AutoAttack runs them: `kerasll.autoattack`)."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["NORMS", "check_budget"], "kerasll.attacks.budgets"),
    **dict.fromkeys(["cross_entropy", "dlr_loss", "fooled", "labels_of", "loss_and_grad", "margin",
                     "targeted_dlr_loss"], "kerasll.attacks.losses"),
    **dict.fromkeys(["normalize", "project", "random_start", "sphere_start"], "kerasll.attacks.geometry"),
    "apgd": "kerasll.attacks.apgd",
    "Flag": "kerasll.attacks.checks",
    "fab": "kerasll.attacks.fab",
    **dict.fromkeys(["fgsm", "pgd", "pgd_steps"], "kerasll.attacks.pgd"),
    **dict.fromkeys(["AttackSpec", "get_attack", "list_attacks", "register_attack", "run_attack"],
                    "kerasll.attacks.registry"),
    "square_attack": "kerasll.attacks.square",
    **dict.fromkeys(["Attack", "Runtime", "option"], "kerasll.attacks.attack"),
    **dict.fromkeys(["APGD", "APGDT", "FAB", "FABT", "FGSM", "PGD", "Square"], "kerasll.attacks.catalog"),
})
