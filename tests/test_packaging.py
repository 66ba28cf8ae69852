"""A built wheel installed into a fresh virtual environment carries the bundled zoo and the recipes."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True, **kwargs)


def test_wheel_installs_with_the_bundled_zoo_and_recipes(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", "-q")
    wheel = next((tmp_path / "dist").glob("kerasll-*.whl"))
    with zipfile.ZipFile(wheel) as archive:  # the repository's tooling stays out of the wheel
        tooling = [n for n in archive.namelist() if n.startswith(("devtools/", "kerasll/dev/", "scripts/", "tests/"))]
    assert not tooling, tooling[:5]
    # The dependencies (TensorFlow…) come from this interpreter's site-packages; kerasll from the wheel only.
    run(sys.executable, "-m", "venv", "--system-site-packages", tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = os.environ | {"KERASLL_ZOO": str(tmp_path / "my-zoo"), "COLUMNS": "200"}
    env.pop("KERASLL_RECIPES", None)
    where = run(bin_dir / "python", "-c", "import kerasll; print(kerasll.__file__)", cwd=elsewhere, env=env).stdout
    assert str(tmp_path / "venv") in where  # the wheel's copy, not the checkout
    listing = run(bin_dir / "kerasll", "zoo", "list", cwd=elsewhere, env=env).stdout
    for name in ("fmnist-lenet-none", "fmnist-lenet-at", "fmnist-lenet-jacreg", "fmnist-lenet-amsreg"):
        assert f"{name} (bundled)" in listing
    assert "site-packages/kerasll/bundled_zoo" in listing
    recipes = run(bin_dir / "kerasll", "zoo", "recipes", cwd=elsewhere, env=env).stdout
    assert "fmnist-lenet-amsreg" in recipes and "sweep-fmnist-lenet-at-eps2" in recipes


@pytest.mark.pipeline  # run by CI, on its machine: the README's main job prints what the README says
def test_readme_demo_numbers_are_what_the_demo_prints():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_demo.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
