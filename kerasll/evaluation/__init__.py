"""Evaluations: accuracy under attack with self-checks, ε-curves and Φ, resumable in chunks (one template,
`measure`; certification's and verification's measures live in `kerasll.certification` and
`kerasll.verification`)."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["EvalOptions", "EvalResult", "accuracy", "as_labels", "autoattack", "autoattack_images", "check_labels",
                     "evaluate", "predictions", "robust_accuracy", "summarize"], "kerasll.evaluation.core"),
    "flatness_records": "kerasll.evaluation.flatness",
    "certify_records": "kerasll.certification.measure",
    "verify_records": "kerasll.verification.measure",
    **dict.fromkeys(["Images", "Measure", "run"], "kerasll.evaluation.measure"),
    **dict.fromkeys(["CHUNK_SIZE", "Context"], "kerasll.evaluation.chunks"),
    **dict.fromkeys(["CurveResult", "eps_curve", "eps_sweep", "sweep_budgets"], "kerasll.evaluation.curves"),
    **dict.fromkeys(["CertifySettings", "CurveSettings", "FlatnessSettings", "SWEEP_FACTORS", "SweepSettings",
                     "VerifySettings"],
                    "kerasll.evaluation.kinds"),
    **dict.fromkeys(["EvalSettings", "attack_names", "attack_settings", "fmt_budget"], "kerasll.evaluation.settings"),
})
