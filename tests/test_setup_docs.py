"""What a new user reads before the first command: the README's set-up, and a clone that stays clean."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_setup_names_the_python_it_needs_and_a_virtual_environment():
    setup = (ROOT / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert f"Python {requires} or newer" in setup
    assert "python3 -m venv .venv && . .venv/bin/activate" in setup


def test_the_virtual_environment_the_readme_makes_is_ignored_by_git():
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()
