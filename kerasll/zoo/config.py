"""A training run's full configuration: defaults from the paper's protocol, validation, naming."""

from dataclasses import asdict, dataclass, fields, replace

from kerasll.architectures import list_models
from kerasll.datasets import list_datasets
from kerasll.errors import KerasllError, check_choice

DEFENSES = ("none", "at", "jacreg", "amsreg")
ESTIMATORS = ("bound", "exact")

# The paper's Table 1/2 strengths, used when a defense's parameter is not given.
DEFENSE_DEFAULTS = {
    "fashion_mnist": {"at_eps": 10 / 255, "jacreg": 0.01, "amsreg": 0.5},
    "cifar10": {"at_eps": 3 / 255, "jacreg": 0.05, "amsreg": 1.0},
}
BASE_LR = {"lenet": 0.01, "ddnet": 0.01, "resnet18": 0.1}


def parse_number(value, what="value"):
    """A float from a number or a fraction string such as "8/255"."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        if "/" in str(value):
            num, den = str(value).split("/")
            return float(num) / float(den)
        return float(value)
    except (ValueError, ZeroDivisionError):
        raise KerasllError(f"{what} must be a number or a fraction like 8/255, got {value!r}") from None


@dataclass
class TrainConfig:
    """Everything that defines a zoo entry's training run (all budgets in pixel units)."""

    arch: str = "lenet"
    dataset: str = "fashion_mnist"
    defense: str = "none"
    strength: float | None = None  # λ (jacreg) or μ (amsreg)
    eps: float | None = None  # AT radius
    step_size: float | None = None  # AT PGD step (default 2.5·eps/steps)
    attack_steps: int = 10  # AT PGD steps
    projections: int = 1  # random projections (jacreg, amsreg bound)
    estimator: str = "bound"  # amsreg: "bound" (paper) or "exact"
    epochs: int = 200
    batch_size: int = 128
    lr: float | None = None  # default: 0.01 LeNet/DDNet, 0.1 ResNet18
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    train_limit: int | None = None  # use only the first N training images (quick runs)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KerasllError(f"unknown training fields {unknown}; valid fields: {', '.join(sorted(known))}")
        return cls(**data)

    def resolved(self):
        """Validate and fill the defense's defaults; raises `KerasllError` on bad values."""
        check_choice("architecture", self.arch, list_models())
        check_choice("dataset", self.dataset, list_datasets())
        check_choice("defense", self.defense, DEFENSES)
        check_choice("estimator", self.estimator, ESTIMATORS)
        cfg = replace(self, eps=parse_number(self.eps, "eps"), step_size=parse_number(self.step_size, "step size"),
                      strength=parse_number(self.strength, "strength"), lr=parse_number(self.lr, "lr"))
        _check_ranges(cfg)  # before defaults are derived from the values
        defaults = DEFENSE_DEFAULTS[cfg.dataset]
        if cfg.defense in ("jacreg", "amsreg") and cfg.strength is None:
            cfg.strength = defaults[cfg.defense]
        if cfg.defense == "at":
            cfg.eps = defaults["at_eps"] if cfg.eps is None else cfg.eps
            cfg.step_size = 2.5 * cfg.eps / cfg.attack_steps if cfg.step_size is None else cfg.step_size
        if cfg.lr is None:
            cfg.lr = BASE_LR[cfg.arch]
        _check_ranges(cfg)
        return cfg

    def default_name(self):
        """A readable, deterministic entry name, so re-running a command finds its entry."""
        if self.defense == "at":
            part = f"at-eps{self.eps * 255:g}"
        elif self.defense in ("jacreg", "amsreg"):
            part = f"{self.defense}-{self.strength:g}" + ("-exact" if self.estimator == "exact" and self.defense == "amsreg" else "")
        else:
            part = "none"
        short = {"fashion_mnist": "fmnist", "cifar10": "cifar10"}[self.dataset]
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
    if cfg.lr is not None and not cfg.lr > 0:
        raise KerasllError(f"lr must be > 0, got {cfg.lr}")
    if cfg.train_limit is not None and cfg.train_limit < 1:
        raise KerasllError(f"train limit must be ≥ 1, got {cfg.train_limit}")
