"""Adversarial defenses as Keras models: wrap a classifier, `compile`, `fit`."""

from kerasll.defenses.adversarial import AdversarialTrainingModel
from kerasll.defenses.base import DefenseModel
from kerasll.defenses.regularizers import AMSRegModel, JacobianRegModel

__all__ = ["AMSRegModel", "AdversarialTrainingModel", "DefenseModel", "JacobianRegModel"]
