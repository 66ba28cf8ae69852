"""Threat models and budgets: the norms an attack can use, and the one check of a budget's values.

Plain Python (no TensorFlow), so that the evaluation settings and the command line can check a
budget before anything heavy is imported.
"""

import math

from kerasll.errors import KerasllError, check_choice

NORMS = ("linf", "l2", "l1")


def check_budget(eps, step_size, steps, norm, restarts):
    """Refuse a budget that cannot be meant: one line naming the value and the valid range."""
    check_eps(eps, check_choice("norm", norm, NORMS))
    if not _positive_number(step_size):
        raise KerasllError(f"step_size must be > 0, got {step_size}")
    if int(steps) < 1 or int(restarts) < 1:
        raise KerasllError(f"steps and restarts must be ≥ 1, got steps={steps}, restarts={restarts}")


def check_eps(eps, norm="linf"):
    """`eps` as a float if it is a radius that can be meant, else one line: in (0, 1] pixel units for L∞ (1 is
    the whole [0, 1] box already), > 0 for the other norms."""
    if not _positive_number(eps) or (norm == "linf" and float(eps) > 1):
        bound = "in (0, 1] pixel units for linf" if norm == "linf" else f"> 0 for {norm}"
        raise KerasllError(f"eps must be {bound}, got {eps}")
    return float(eps)


def unbounded_eps(norm, image_shape):
    """The radius whose `norm` ball holds the whole [0,1] box around any image of `image_shape`."""
    size = math.prod(image_shape)
    return {"linf": 1.0, "l2": math.sqrt(size), "l1": float(size)}[check_choice("norm", norm, NORMS)]


def _positive_number(v):
    try:
        return float(v) > 0 and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
