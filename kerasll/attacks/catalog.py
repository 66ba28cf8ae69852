"""kerasll's attacks as typed values: each option declared once, here (see `kerasll.attacks.attack`).

Plain Python; each attack's TensorFlow code lives in the module its `implementation` names.
"""

from dataclasses import dataclass
from typing import ClassVar

from kerasll.attacks.attack import Attack
from kerasll.options import option
from kerasll.attacks.budgets import NORMS

APGD_LOSSES = ("ce", "dlr")
SQUARE_VARIANTS = ("reference", "strong")
AUTOATTACK_TARGETS = 9  # the targeted attacks' classes when not given: AutoAttack's, at most the model's C − 1
TARGETS_HELP = (f"how many of the highest-scoring wrong classes are targeted in turn (at most classes − 1); None: "
                f"AutoAttack's {AUTOATTACK_TARGETS}, capped at classes − 1")


@dataclass(frozen=True)
class FGSM(Attack):
    """Fast gradient sign method (Goodfellow et al. 2015): clip(x + ε·sign(∇x CE)), L∞."""

    norms = ("linf",)
    implementation = "kerasll.attacks.pgd:run_fgsm"


@dataclass(frozen=True)
class PGD(Attack):
    """Projected gradient descent with random start (Madry et al. 2018), L∞ and L2."""

    steps: int = option(10, "ascent steps per restart", low=1)
    step_size: float | None = option(None, "step length in pixel units (L∞ per pixel, L2 Euclidean); None: ε/4",
                                     low=0, open_low=True)
    restarts: int = option(1, "independent runs; the strongest example per image is kept", low=1)
    random_start: bool = option(True, "start from a uniform point of the ε-ball (else from the image)",
                                choices=(True, False))

    step_factor: ClassVar[float] = 0.25  # the step without a `step_size`: ε × this
    implementation = "kerasll.attacks.pgd:run_pgd"


@dataclass(frozen=True)
class _APGDOptions(Attack):
    steps: int = option(100, "iterations per run (AutoAttack: 100)", low=1)
    restarts: int = option(1, "random restarts per run (AutoAttack: 1)", low=1)
    rho: float = option(0.75, "the checkpoint threshold ρ", low=0, high=1, open_low=True, open_high=True)
    eot_iter: int = option(1, "gradients averaged per step (expectation over transformation; AutoAttack's "
                              "'rand' version uses 20)", low=1)
    large_reps: bool | None = option(None, "L1: spend 30%, 30%, 40% of the steps at 3ε, 2ε, ε (None: at L1)",
                                     choices=(None, True, False))

    norms = NORMS
    implementation = "kerasll.attacks.apgd:run_apgd"


@dataclass(frozen=True)
class APGD(_APGDOptions):
    """Auto-PGD (Croce & Hein 2020) on the cross-entropy or the DLR loss."""

    loss: str = option("ce", "the loss ascended: cross-entropy or DLR", choices=APGD_LOSSES)


@dataclass(frozen=True)
class APGDT(_APGDOptions):
    """APGD-T: the targeted DLR loss towards each of the highest-scoring wrong classes in turn."""

    target_classes: int | None = option(None, TARGETS_HELP, low=1)


@dataclass(frozen=True)
class _FABOptions(Attack):
    steps: int = option(100, "iterations per run (AutoAttack: 100)", low=1)
    restarts: int = option(1, "runs per target; runs after the first start at random", low=1)
    alpha_max: float = option(0.1, "the step's largest bias towards the original image", low=0, high=1)
    eta: float = option(1.05, "the step's overshoot", low=1, high=10)
    beta: float = option(0.9, "the pull-back towards the original after a success", low=0, high=1)

    norms = NORMS
    implementation = "kerasll.attacks.fab:run_fab"


@dataclass(frozen=True)
class FAB(_FABOptions):
    """FAB (Croce & Hein 2020), untargeted: towards the nearest linearised boundary (a Jacobian per step)."""


@dataclass(frozen=True)
class FABT(_FABOptions):
    """FAB-T: towards each of the highest-scoring wrong classes in turn (one gradient per step)."""

    target_classes: int | None = option(None, TARGETS_HELP, low=1)


@dataclass(frozen=True)
class Square(Attack):
    """Square Attack (Andriushchenko et al. 2020): score-based random search, no gradients."""

    queries: int = option(5000, "model queries per image (AutoAttack: 5,000)", low=1)
    p_init: float = option(0.8, "the first window's share of the image", low=0, high=1, open_low=True)
    variant: str = option("reference", "where windows go: 'reference' (shared by the batch, as fra31/auto-attack) "
                                       "or 'strong' (drawn per image)", choices=SQUARE_VARIANTS)
    rescale_schedule: bool | None = option(None, "stretch the window schedule over the queries (None: the "
                                                 "variant's: reference no, strong yes)", choices=(None, True, False))

    norms = NORMS
    gradient_free = True
    implementation = "kerasll.attacks.square:run_square"
