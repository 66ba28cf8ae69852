"""kerasll: likelihood landscapes for Keras classifiers.

A classifier's logits define an energy-based model, log p̃(x) = logsumexp f(x).
kerasll measures how that likelihood changes around inputs, summarises it as the
flatness score Φ, and trains the defenses that flatten it.

`import kerasll` is cheap: each name below is imported from its module on first
use (`kerasll._lazy`), so the command line answers `--help` without TensorFlow.
"""

from kerasll._lazy import attach

__version__ = "0.1.0"


def _first_use():
    """Before the first name that runs numerics is handed out, import the defenses' model classes and the
    optimizer so that `keras.saving.load_model` knows them (as an eager `import kerasll` did)."""
    from kerasll.saving import import_keras_classes

    import_keras_classes()


_EXPORTS = {
    **dict.fromkeys(["build_model", "list_models", "register_model"], "kerasll.architectures"),
    **dict.fromkeys(["apgd", "fab", "fgsm", "list_attacks", "pgd", "register_attack", "square_attack"],
                    "kerasll.attacks"),
    **dict.fromkeys(["Context", "EvalResult", "CurveResult", "attack_settings", "autoattack", "eps_curve", "eps_sweep", "evaluate"],
                    "kerasll.evaluation"),
    **dict.fromkeys(["DataNotFoundError", "dataset_info", "list_datasets", "load_data", "load_dataset",
                     "make_pipeline"], "kerasll.datasets"),
    **dict.fromkeys(["AdversarialTrainingModel", "AMSRegModel", "AttackFlatteningModel", "CatastrophicOverfittingGuard",
                     "CROWNIBPTrainingModel",
                     "FastAdversarialTrainingModel", "GaussianNoiseModel", "IBPTrainingModel", "JacobianRegModel",
                     "list_defenses",
                     "register_defense"], "kerasll.defenses"),
    "load_model": "kerasll.saving",
    "KerasllError": "kerasll.errors",
    "CoupledWeightDecaySGD": "kerasll.optimizers",
    **dict.fromkeys(["FlatnessResult", "flatness"], "kerasll.landscapes.flatness"),
    **dict.fromkeys(["LikelihoodHistogram", "LikelihoodSurface", "likelihood_histogram", "likelihood_slice",
                     "likelihood_surface"], "kerasll.landscapes.landscape"),
    "jacobian_sq_norm": "kerasll.jacobian",
    **dict.fromkeys(["ams_score", "delta_log_px", "grad_log_px", "log_px"], "kerasll.likelihood"),
    "as_logits": "kerasll.logits",
    **dict.fromkeys(["CertifyResult", "certify"], "kerasll.certification.smoothing"),
    **dict.fromkeys(["VerifyResult", "verify"], "kerasll.verification"),
}
_SUBMODULES = ("architectures", "attacks", "backend", "cli", "datasets", "defenses", "evaluation", "zoo", "figures", "landscapes",
               "likelihood", "smoothing", "stats", "distribute", "errors")

_LIGHT = ("list_models", "register_model", "list_attacks", "register_attack", "dataset_info", "list_datasets",
          "list_defenses", "register_defense", "KerasllError")  # plain Python: no TensorFlow on first use

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS, _SUBMODULES, before=_first_use, light=_LIGHT)


def _register_with_keras():
    from kerasll.saving import register_with_keras

    register_with_keras()


_register_with_keras()  # kerasll's Keras classes known to keras.saving once Keras is imported (kerasll.saving)
