"""Evaluations: accuracy under attack with self-checks, ε-curves and Φ, resumable in chunks."""

from kerasll.evaluation.core import (
    CHUNK_SIZE, CurveResult, EvalResult, accuracy, as_labels, certify_records, check_labels, eps_curve, evaluate,
    flatness_records,
    predictions, robust_accuracy,
)
from kerasll.evaluation.settings import EvalSettings, attack_names, attack_settings, fmt_budget

__all__ = [
    "CHUNK_SIZE", "CurveResult", "EvalResult", "EvalSettings", "accuracy", "as_labels", "attack_names",
    "attack_settings", "certify_records", "check_labels", "eps_curve", "evaluate", "flatness_records", "fmt_budget", "predictions",
    "robust_accuracy",
]
