"""Adversarial defenses as Keras models: wrap a classifier, `compile`, `fit`.

`list_defenses()` names them for the CLI, the zoo's configurations and the recipes
(`kerasll.defenses.registry`, no TensorFlow); the model classes are imported on first use.
"""

from kerasll._lazy import attach
from kerasll.defenses.registry import (  # noqa: F401
    DefenseSpec, defenses_help, get_defense, list_defenses, register_defense,
)

__getattr__, __dir__, _lazy_names = attach(__name__, {
    "AdversarialTrainingModel": "kerasll.defenses.adversarial",
    **dict.fromkeys(["AMSRegModel", "JacobianRegModel"], "kerasll.defenses.regularizers"),
    **dict.fromkeys(["CatastrophicOverfittingGuard", "FastAdversarialTrainingModel"], "kerasll.defenses.fast"),
    "AttackFlatteningModel": "kerasll.defenses.flattening",
    "GaussianNoiseModel": "kerasll.defenses.gaussian",
    **dict.fromkeys(["CROWNIBPTrainingModel", "IBPTrainingModel"], "kerasll.defenses.certified"),
    "DefenseModel": "kerasll.defenses.base",
})
__all__ = sorted([*_lazy_names, "DefenseSpec", "defenses_help", "get_defense", "list_defenses", "register_defense"])
