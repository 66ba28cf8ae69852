"""Evaluations: accuracy under attack with self-checks, ε-curves and Φ, resumable in chunks."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["EvalResult", "accuracy", "as_labels", "autoattack", "certify_records", "check_labels",
                     "evaluate", "flatness_records", "predictions", "robust_accuracy"], "kerasll.evaluation.core"),
    **dict.fromkeys(["CHUNK_SIZE", "Context"], "kerasll.evaluation.context"),
    **dict.fromkeys(["CurveResult", "SWEEP_FACTORS", "eps_curve", "eps_sweep", "sweep_budgets"],
                    "kerasll.evaluation.curves"),
    **dict.fromkeys(["EvalSettings", "attack_names", "attack_settings", "fmt_budget"], "kerasll.evaluation.settings"),
})
