"""Adversarial defenses as Keras models: wrap a classifier, `compile`, `fit`.

Each defense module registers itself (`register_defense`); `list_defenses()`
names them for the CLI, the zoo's configurations and the recipes.
"""

# Imported in registration order: the paper's defenses first, then the ones beyond it.
from kerasll.defenses.registry import DefenseSpec, defenses_help, get_defense, list_defenses, register_defense  # isort: skip
from kerasll.defenses.adversarial import AdversarialTrainingModel  # isort: skip
from kerasll.defenses.regularizers import AMSRegModel, JacobianRegModel  # isort: skip
from kerasll.defenses.fast import CatastrophicOverfittingGuard, FastAdversarialTrainingModel  # isort: skip
from kerasll.defenses.flattening import AttackFlatteningModel  # isort: skip
from kerasll.defenses.gaussian import GaussianNoiseModel  # isort: skip
from kerasll.defenses.base import DefenseModel  # isort: skip

__all__ = [
    "AMSRegModel", "AdversarialTrainingModel", "AttackFlatteningModel", "CatastrophicOverfittingGuard",
    "DefenseModel", "DefenseSpec", "FastAdversarialTrainingModel", "GaussianNoiseModel", "JacobianRegModel",
    "defenses_help",
    "get_defense", "list_defenses", "register_defense",
]
