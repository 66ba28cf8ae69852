"""A training run's full configuration: defaults from the paper's protocol, validation, naming."""

from dataclasses import asdict, dataclass, fields, replace

from kerasll.architectures import list_models
from kerasll.datasets import dataset_info, list_datasets
from kerasll.defenses.registry import get_defense, list_defenses
from kerasll.errors import KerasllError, check_choice
from kerasll.evaluation.settings import parse_number

WEIGHT_DECAY_MODES = ("coupled", "decoupled")

# Fields added after entries were first recorded, with the behaviour of the code before them: an
# entry recorded without the field was trained that way (e.g. Keras's decoupled weight decay).
LEGACY_VALUES = {"projection": "vjp", "variant": None, "weight_decay_mode": "decoupled", "warmup_epochs": 0.0,
                 "sigma": None}
BASE_LR = {"lenet": 0.01, "ddnet": 0.01, "resnet18": 0.1, "mlp": 0.01}
# Linear LR warm-up (Goyal et al. 2017): ResNet18 at LR 0.1 from a fresh start diverges under the input-gradient
# penalties without it (docs/method.md#training-protocol); the small nets train at 0.01 without one.
WARMUP_EPOCHS = {"lenet": 0.0, "ddnet": 0.0, "resnet18": 5.0, "mlp": 0.0}


@dataclass
class TrainConfig:
    """Everything that defines a zoo entry's training run (all budgets in pixel units)."""

    arch: str = "lenet"
    dataset: str = "fashion_mnist"
    defense: str = "none"
    strength: float | None = None  # λ (jacreg, amsreg) or μ (adflat)
    eps: float | None = None  # AT, fastat and adflat radius
    step_size: float | None = None  # AT PGD step (default 2.5·eps/steps); FGSM step of fastat/adflat (1.25·eps)
    attack_steps: int = 10  # AT PGD steps
    projections: int = 1  # random projections (jacreg, amsreg bound)
    projection: str = "vjp"  # jacreg, amsreg: "vjp" (random output vectors) or "jvp" (random input tangents)
    estimator: str = "bound"  # amsreg: "bound" (paper) or "exact"
    variant: str | None = None  # adflat: "gradient", "difference" or "at-difference"
    sigma: float | None = None  # gaussian: the training noise's standard deviation (pixel units)
    epochs: int = 200
    batch_size: int = 128
    lr: float | None = None  # default: 0.01 LeNet/DDNet, 0.1 ResNet18
    warmup_epochs: float | None = None  # linear LR warm-up; default: 5 ResNet18, 0 LeNet/DDNet
    momentum: float = 0.9
    weight_decay: float = 5e-4
    weight_decay_mode: str = "coupled"  # "coupled": L2 added to the gradient (the papers'); "decoupled": Keras's
    seed: int = 0
    train_limit: int | None = None  # use only the first N training images (quick runs)

    def to_dict(self):
        return asdict(self)

    def differences(self, recorded):
        """['field: recorded ≠ ours', …] against a recorded configuration (missing fields: `LEGACY_VALUES`)."""
        missing = object()
        out = []
        for key, value in self.to_dict().items():
            old = recorded.get(key, missing)
            if old is missing:
                old = LEGACY_VALUES.get(key, None)
            if old != value:
                out.append(f"{key}: {old!r} ≠ {value!r}")
        return out

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KerasllError(f"unknown training fields {unknown}; valid fields: {', '.join(sorted(known))}")
        return cls(**data)

    def check_names(self):
        """Refuse an unknown architecture, data set or defense; needs no TensorFlow, so the CLI asks first."""
        check_choice("architecture", self.arch, list_models())
        check_choice("dataset", self.dataset, list_datasets())
        check_choice("defense", self.defense, list_defenses())
        return self

    def resolved(self):
        """Validate and fill the defense's defaults; raises `KerasllError` on bad values."""
        from kerasll.defenses import AMSRegModel, AttackFlatteningModel
        from kerasll.jacobian import PROJECTIONS

        self.check_names()
        check_choice("estimator", self.estimator, AMSRegModel.ESTIMATORS)
        check_choice("weight decay mode", self.weight_decay_mode, WEIGHT_DECAY_MODES)
        check_choice("projection", self.projection, PROJECTIONS)
        if self.variant is not None:
            check_choice("adflat variant", self.variant, AttackFlatteningModel.VARIANTS)
        cfg = replace(self, eps=parse_number(self.eps, "eps"), step_size=parse_number(self.step_size, "step size"),
                      strength=parse_number(self.strength, "strength"), lr=parse_number(self.lr, "lr"),
                      sigma=parse_number(self.sigma, "sigma"))
        _check_ranges(cfg)  # before defaults are derived from the values
        spec = get_defense(cfg.defense)
        defaults = dataset_info(cfg.dataset).defense_defaults
        variant = cfg.variant or ("gradient" if cfg.defense == "adflat" else None)
        # A variant's own defaults ("adflat:difference") first, then the defense's.
        for key in (f"{cfg.defense}:{variant}", cfg.defense):
            for name, value in defaults.get(key, {}).items():
                if getattr(cfg, name) is None:
                    setattr(cfg, name, value)
        params = cfg.defense_params()  # validates the defense's own arguments
        if "step_size" in spec.fields:
            cfg.step_size = params["step_size"]
        if "variant" in spec.fields:
            cfg.variant = params["variant"]
        if "sigma" in spec.fields:
            cfg.sigma = params["sigma"]
        if cfg.lr is None:
            cfg.lr = BASE_LR[cfg.arch]
        if cfg.warmup_epochs is None:
            cfg.warmup_epochs = WARMUP_EPOCHS[cfg.arch]
        _check_ranges(cfg)
        return cfg

    def defense_params(self):
        """The defense's keyword arguments (the entry's `defense_params`), checked by building nothing."""
        spec = get_defense(self.defense)
        params = spec.params({name: getattr(self, name) for name in spec.fields})
        if spec.model_class is not None:
            spec.model_class.check_params(**params)
        return params

    def default_name(self):
        """A readable, deterministic entry name, so re-running a command finds its entry."""
        part = get_defense(self.defense).entry_part(self.defense_params())
        short = {"fashion_mnist": "fmnist", "cifar10": "cifar10"}.get(self.dataset, self.dataset)
        return f"{short}-{self.arch}-{part}-e{self.epochs}-s{self.seed}"


def _check_ranges(cfg):
    if cfg.strength is not None and not cfg.strength >= 0:
        raise KerasllError(f"strength must be ≥ 0, got {cfg.strength}")
    if cfg.eps is not None and not 0 < cfg.eps <= 1:
        raise KerasllError(f"eps must be in (0, 1] pixel units (e.g. 8/255), got {cfg.eps}")
    if cfg.step_size is not None and not cfg.step_size > 0:
        raise KerasllError(f"step size must be > 0, got {cfg.step_size}")
    for name in ("attack_steps", "projections", "epochs", "batch_size"):
        if int(getattr(cfg, name)) < 1:
            raise KerasllError(f"{name.replace('_', ' ')} must be ≥ 1, got {getattr(cfg, name)}")
    if not cfg.weight_decay >= 0:
        raise KerasllError(f"weight decay must be ≥ 0, got {cfg.weight_decay}")
    if cfg.lr is not None and not cfg.lr > 0:
        raise KerasllError(f"lr must be > 0, got {cfg.lr}")
    if cfg.warmup_epochs is not None and not cfg.warmup_epochs >= 0:
        raise KerasllError(f"warmup_epochs must be ≥ 0, got {cfg.warmup_epochs}")
    if cfg.train_limit is not None and cfg.train_limit < 1:
        raise KerasllError(f"train limit must be ≥ 1, got {cfg.train_limit}")


def config_from(recipe_fields, overrides):
    """A `TrainConfig` from a recipe's fields with command-line overrides on top."""
    merged = dict(recipe_fields)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(merged)
