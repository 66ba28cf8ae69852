"""kerasll: likelihood landscapes for Keras classifiers.

A classifier's logits define an energy-based model, log p̃(x) = logsumexp f(x).
kerasll measures how that likelihood changes around inputs, summarises it as the
flatness score Φ, and trains the defenses that flatten it.
"""

import keras

if keras.backend.backend() != "tensorflow":  # kerasll's attacks and defenses are TensorFlow code
    raise ImportError(f"kerasll needs Keras on the TensorFlow backend, but KERAS_BACKEND is "
                      f"{keras.backend.backend()!r}: set KERAS_BACKEND=tensorflow before importing keras")

__version__ = "0.1.0"

from kerasll.architectures import build_model, list_models, register_model  # noqa: E402
from kerasll.attacks import (  # noqa: E402
    AutoAttackResult, apgd, autoattack, eps_sweep, fab, fgsm, list_attacks, pgd, register_attack, square_attack,
)
from kerasll.datasets import (  # noqa: E402
    DataNotFoundError, dataset_info, list_datasets, load_data, load_dataset, make_pipeline,
)
from kerasll.defenses import (  # noqa: E402
    AdversarialTrainingModel, AMSRegModel, AttackFlatteningModel, CatastrophicOverfittingGuard,
    FastAdversarialTrainingModel, GaussianNoiseModel, JacobianRegModel, list_defenses, register_defense,
)
from kerasll.errors import KerasllError  # noqa: E402
from kerasll.optimizers import CoupledWeightDecaySGD  # noqa: E402
from kerasll.flatness import FlatnessResult, flatness  # noqa: E402
from kerasll.landscape import (  # noqa: E402
    LikelihoodHistogram, LikelihoodSurface, likelihood_histogram, likelihood_slice, likelihood_surface,
)
from kerasll.jacobian import jacobian_sq_norm  # noqa: E402
from kerasll.likelihood import ams_score, delta_log_px, grad_log_px, log_px  # noqa: E402
from kerasll.logits import as_logits  # noqa: E402
from kerasll.smoothing import CertifyResult, certify  # noqa: E402

__all__ = [
    "AMSRegModel", "AdversarialTrainingModel", "AttackFlatteningModel", "CatastrophicOverfittingGuard",
    "CoupledWeightDecaySGD", "GaussianNoiseModel",
    "FastAdversarialTrainingModel", "list_defenses", "register_defense", "AutoAttackResult", "apgd", "autoattack", "eps_sweep", "fab",
    "list_attacks", "register_attack", "square_attack", "DataNotFoundError", "FlatnessResult",
    "JacobianRegModel", "KerasllError", "LikelihoodHistogram", "LikelihoodSurface",
    "flatness", "likelihood_histogram", "likelihood_slice", "likelihood_surface", "ams_score", "build_model", "dataset_info", "delta_log_px", "fgsm",
    "grad_log_px", "jacobian_sq_norm", "list_datasets", "list_models", "load_data", "load_dataset", "log_px",
    "make_pipeline", "pgd", "register_model", "as_logits", "CertifyResult", "certify",
]
