"""Evaluations: accuracy under attack with self-checks, ε-curves and Φ, resumable in chunks."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["CHUNK_SIZE", "CurveResult", "EvalResult", "accuracy", "as_labels", "certify_records",
                     "check_labels", "eps_curve", "evaluate", "flatness_records", "predictions", "robust_accuracy"],
                    "kerasll.evaluation.core"),
    **dict.fromkeys(["EvalSettings", "attack_names", "attack_settings", "fmt_budget"], "kerasll.evaluation.settings"),
})
