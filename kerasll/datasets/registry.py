"""What kerasll knows about each data set: shapes, classes, evaluation presets."""

from dataclasses import asdict, dataclass, field

from kerasll.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one data set; budgets are in [0,1] pixel units."""

    name: str
    input_shape: tuple  # (H, W, channels) of one image
    num_classes: int
    class_names: tuple
    # The paper's PGD L∞ evaluation preset (§3.5), random start.
    eval_eps: float
    eval_steps: int
    eval_step_size: float
    # Training augmentation: "crop_flip" (4-pixel pad + random crop + h-flip) or None.
    augment: str | None = None
    # L2 evaluation budget (RobustBench's 0.5 for CIFAR-10; kerasll's choice for Fashion-MNIST).
    eval_eps_l2: float = 1.0
    # L1 evaluation budget; None: no preset. Fashion-MNIST 10, the MNIST convention for 28×28 grey images
    # (Tramèr & Boneh 2019, Maini et al. 2020); CIFAR-10 12 (Croce & Hein 2021). docs/evaluation.md#l1.
    eval_eps_l1: float | None = None
    # Landscape/flatness radius default: the evaluation ε, so the plotted square
    # spans the region the attack searches.
    landscape_radius: float = field(default=0.0)
    # Per-channel (mean, std) of the training images in [0,1] pixel units, applied inside the models.
    normalization: tuple = ((0.5,), (0.5,))
    # Defense parameters used when a training run leaves them out: {defense: {field: value}},
    # the paper's Table 1/2 strengths (and the AT radius for the FGSM-based defenses).
    defense_defaults: dict = field(default_factory=dict)
    # The paper's Table 1/2 rows for this data set: {(arch, defense): (strength label, Φ, clean %, PGD %)}.
    paper_results: dict = field(default_factory=dict)

    def to_dict(self):
        return asdict(self)

    def preset_eps(self, norm):
        """The evaluation budget for `norm` ("linf", "l2", "l1"); None where the data set has none."""
        return {"linf": self.eval_eps, "l2": self.eval_eps_l2, "l1": self.eval_eps_l1}[norm]


DATASETS = Registry("dataset", sort=True)
for _info in (
    DatasetInfo(
        "fashion_mnist", (28, 28, 1), 10,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
         "Sneaker", "Bag", "Ankle boot"),
        eval_eps=25 / 255, eval_steps=10, eval_step_size=6.25 / 255,
        augment=None, eval_eps_l2=1.5, eval_eps_l1=10.0, landscape_radius=25 / 255, normalization=((0.2860,), (0.3530,)),
        defense_defaults={"at": {"eps": 10 / 255}, "jacreg": {"strength": 0.01}, "amsreg": {"strength": 0.5},
                          "fastat": {"eps": 10 / 255}, "adflat": {"eps": 10 / 255},
                          "ibp": {"eps": 0.1}, "crown-ibp": {"eps": 0.1},  # the published certified-training radius
                          # chosen on a validation split by scripts/select_strength.py (docs/results.md)
                          "adflat:gradient": {"strength": 16.0}, "adflat:difference": {"strength": 256.0},
                          "adflat:at-difference": {"strength": 256.0}},
        paper_results={  # Table 2
            ("lenet", "none"): ("—", -9435.9, 91.53, 0.0),
            ("lenet", "at"): ("ε=10/255", -1504.0, 89.35, 62.64),
            ("lenet", "jacreg"): ("λ=0.01", -1694.6, 88.76, 34.71),
            ("lenet", "amsreg"): ("λ=0.5", -378.1, 89.51, 34.04),
            ("resnet18", "none"): ("—", -12952.8, 93.75, 0.1),
            ("resnet18", "at"): ("ε=10/255", -1257.8, 91.64, 65.24),
            ("resnet18", "jacreg"): ("λ=0.01", -821.7, 91.04, 45.37),
            ("resnet18", "amsreg"): ("λ=0.5", -482.9, 91.29, 46.06),
        },
    ),
    DatasetInfo(
        "cifar10", (32, 32, 3), 10,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
         "ship", "truck"),
        eval_eps=8 / 255, eval_steps=5, eval_step_size=2 / 255,
        augment="crop_flip", eval_eps_l2=0.5, eval_eps_l1=12.0, landscape_radius=8 / 255,
        normalization=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
        defense_defaults={"at": {"eps": 3 / 255}, "jacreg": {"strength": 0.05}, "amsreg": {"strength": 1.0},
                          "fastat": {"eps": 3 / 255}, "adflat": {"eps": 3 / 255},  # adflat: no strength chosen
                          # CIFAR-10's usual certified-training radii: 2/255, 8/255
                          "ibp": {"eps": 2 / 255}, "crown-ibp": {"eps": 2 / 255}},
        paper_results={  # Table 1
            ("ddnet", "none"): ("—", -13035.5, 91.45, 1.7),
            ("ddnet", "at"): ("ε=3/255", -2066.4, 85.90, 45.71),
            ("ddnet", "jacreg"): ("λ=0.05", -1692.6, 86.06, 18.31),
            ("ddnet", "amsreg"): ("λ=1.0", -768.7, 85.45, 20.78),
            ("resnet18", "none"): ("—", -13974.3, 94.69, 0.1),
            ("resnet18", "at"): ("ε=3/255", -1055.0, 85.32, 57.48),
            ("resnet18", "jacreg"): ("λ=0.05", -1945.1, 82.28, 14.73),
            ("resnet18", "amsreg"): ("λ=1.0", -659.5, 86.94, 11.07),
        },
    ),
):
    DATASETS.add(_info.name, _info)


def register_dataset(info, overwrite=False):
    """Add a `DatasetInfo` (its presets: shapes, normalisation, evaluation budgets, defaults);
    an existing name is refused unless `overwrite`. Loading its files is up to the caller."""
    return DATASETS.add(info.name, info, overwrite)


def list_datasets():
    """Names of the supported data sets."""
    return DATASETS.names()


def dataset_info(name):
    """The `DatasetInfo` of `name`; an unknown name lists the valid ones."""
    return DATASETS.get(name)
