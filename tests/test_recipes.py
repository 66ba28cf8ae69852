import pytest

from kerasll.zoo.config import TrainConfig
from kerasll.zoo.recipes import get_recipe, list_recipes

NAMES = [n for n, _ in list_recipes()]


def test_catalogue_covers_both_tables_and_the_sweeps():
    for dataset, arches in (("fmnist", ("lenet", "resnet18")), ("cifar10", ("ddnet", "resnet18"))):
        for arch in arches:
            for defense in ("none", "at", "jacreg", "amsreg"):
                assert f"{dataset}-{arch}-{defense}" in NAMES
    assert len([n for n in NAMES if n.startswith("sweep-cifar10-ddnet-at")]) >= 4
    assert len([n for n in NAMES if n.startswith("sweep-fmnist-lenet-jacreg")]) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_every_recipe_resolves(name):
    config = TrainConfig.from_dict(get_recipe(name)).resolved()
    assert config.epochs == 200 and config.batch_size == 128 and config.momentum == 0.9
    if config.defense == "at":
        assert 0 < config.eps <= 10 / 255 + 1e-9
