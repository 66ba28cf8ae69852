"""CIFAR-10 end to end on a generated data set in the official release format."""

import json

import pytest
from typer.testing import CliRunner

from kerasll.cli.main import app


@pytest.fixture(scope="module")
def cifar_dir(cifar_release):
    return cifar_release(250, 64)


@pytest.mark.parametrize("arch,defense", [pytest.param("ddnet", "amsreg", marks=pytest.mark.pipeline),
                                          pytest.param("resnet18", "at", marks=pytest.mark.training)])
def test_cifar_train_eval_landscape(cifar_dir, tmp_path, arch, defense):
    run = lambda *a: CliRunner().invoke(app, [str(x) for x in a])  # noqa: E731
    args = ["--zoo", tmp_path, "--data-dir", cifar_dir]
    extra = ["--attack-steps", "2"] if defense == "at" else []
    train = run("train", "--arch", arch, "--dataset", "cifar10", "--defense", defense, "--epochs", "1",
                "--batch-size", "50", *extra, "--name", "c", *args)
    assert train.exit_code == 0, train.output
    meta = json.loads((tmp_path / "c" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["dataset"] == "cifar10" and meta["arch"] == arch
    if defense == "at":
        assert meta["defense_params"]["eps"] == pytest.approx(3 / 255)  # the paper's CIFAR-10 AT ε
    ev = run("eval", "c", "--limit", "32", "--flatness", *args)
    assert ev.exit_code == 0, ev.output
    assert "pgd-linf-eps8/255-steps5-step2/255-r1-n32" in ev.output  # the paper's CIFAR-10 preset
    land = run("landscape", "c", "--grid", "5", *args)
    assert land.exit_code == 0 and (tmp_path / "c" / "figures" / "landscape-random-sample0.png").exists()
