"""The paper's Tables 1 and 2 (METHOD.md), for side-by-side reports.

Keyed by (dataset, arch, defense): (strength label, Φ, clean %, PGD %).
"""

PAPER_RESULTS = {
    ("cifar10", "ddnet", "none"): ("—", -13035.5, 91.45, 1.7),
    ("cifar10", "ddnet", "at"): ("ε=3/255", -2066.4, 85.90, 45.71),
    ("cifar10", "ddnet", "jacreg"): ("λ=0.05", -1692.6, 86.06, 18.31),
    ("cifar10", "ddnet", "amsreg"): ("λ=1.0", -768.7, 85.45, 20.78),
    ("cifar10", "resnet18", "none"): ("—", -13974.3, 94.69, 0.1),
    ("cifar10", "resnet18", "at"): ("ε=3/255", -1055.0, 85.32, 57.48),
    ("cifar10", "resnet18", "jacreg"): ("λ=0.05", -1945.1, 82.28, 14.73),
    ("cifar10", "resnet18", "amsreg"): ("λ=1.0", -659.5, 86.94, 11.07),
    ("fashion_mnist", "lenet", "none"): ("—", -9435.9, 91.53, 0.0),
    ("fashion_mnist", "lenet", "at"): ("ε=10/255", -1504.0, 89.35, 62.64),
    ("fashion_mnist", "lenet", "jacreg"): ("λ=0.01", -1694.6, 88.76, 34.71),
    ("fashion_mnist", "lenet", "amsreg"): ("λ=0.5", -378.1, 89.51, 34.04),
    ("fashion_mnist", "resnet18", "none"): ("—", -12952.8, 93.75, 0.1),
    ("fashion_mnist", "resnet18", "at"): ("ε=10/255", -1257.8, 91.64, 65.24),
    ("fashion_mnist", "resnet18", "jacreg"): ("λ=0.01", -821.7, 91.04, 45.37),
    ("fashion_mnist", "resnet18", "amsreg"): ("λ=0.5", -482.9, 91.29, 46.06),
}
