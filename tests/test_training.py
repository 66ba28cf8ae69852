"""The design card's training commands train: real architectures, the default settings, a real epoch.

`-m training` (CI runs it): ResNet18 with AMSReg, the command the project exists for, on the bundled
subset for one epoch. `-m slow`: every registered defense on every architecture, on Fashion-MNIST and
on CIFAR-shaped data, for a few steps each.
"""

import json
import math

import pytest
from typer.testing import CliRunner

from kerasll.architectures import list_models
from kerasll.cli.main import app
from kerasll.defenses import list_defenses


def kerasll(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def finite_history(meta):
    return all(v is not None and math.isfinite(v) for values in meta["history"].values() for v in values)


@pytest.mark.training
def test_resnet18_amsreg_trains_with_the_default_settings(tmp_path):
    """It diverged (loss 8 → 1e7 in 8 steps) before the warm-up and PyTorch's BatchNorm momentum."""
    result = kerasll("train", "--defense", "amsreg", "--arch", "resnet18", "--source", "embedded", "--epochs", "1",
                     "--name", "r", "--no-tensorboard", "--zoo", tmp_path)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "r" / "metadata.json").read_text())
    assert meta["status"] == "complete" and finite_history(meta), meta["history"]
    assert meta["training"]["warmup_epochs"] == 5.0 and meta["training"]["lr"] == 0.1
    assert meta["history"]["accuracy"][0] > 0.2 and meta["history"]["val_accuracy"][0] > 0.2, meta["history"]


@pytest.fixture(scope="module")
def cifar_dir(cifar_release):
    return cifar_release(512, 64)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10"])
@pytest.mark.parametrize("arch", list_models())
@pytest.mark.parametrize("defense", list_defenses())
def test_every_defense_on_every_architecture_keeps_a_finite_loss(defense, arch, dataset, cifar_dir, tmp_path):
    data = ["--source", "embedded"] if dataset == "fashion_mnist" else ["--data-dir", cifar_dir]
    result = kerasll("train", "--defense", defense, "--arch", arch, "--dataset", dataset, *data, "--epochs", "1",
                     "--train-limit", "512", "--batch-size", "64", "--name", "m", "--no-tensorboard",
                     "--zoo", tmp_path)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["status"] == "complete" and finite_history(meta), meta["history"]
