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


def test_readme_results_are_the_shipped_zoo_s_stored_numbers():
    """Never stale: the block is exactly what scripts/readme_results.py makes of zoo/*/eval.json."""
    from devtools.readme import results_block
    from kerasll.zoo.store import Zoo

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- results:start -->\n", 1)[1].split("\n<!-- results:end -->", 1)[0]
    assert block.splitlines() == results_block(Zoo(ROOT / "zoo", bundled=False))
    assert block.count("| `fmnist-") == len([p for p in (ROOT / "zoo").iterdir() if (p / "model.keras").is_file()])


def test_every_shipped_result_was_computed_by_the_attack_code_that_ships():
    """A stored result of an older attack revision is recomputed on use (`zoo.evaluation`), so a shipped one
    would make the README say one number and `kerasll eval` print another for the same images."""
    import json

    from kerasll.attacks.registry import ATTACKS_REVISION

    stale = [f"{path.parent.name}: {key} (revision {result.get('attacks_revision', 1)})"
             for path in sorted((ROOT / "zoo").glob("*/eval.json"))
             for key, result in json.loads(path.read_text())["results"].items()
             if result.get("attacks_revision", 1) != ATTACKS_REVISION]
    assert not stale, "recompute them (scripts/autoattack_results.py, kerasll eval NAME --zoo zoo):\n" + "\n".join(stale)


def test_readme_fits_a_screen_and_no_file_names_a_machine_s_absolute_path():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
    assert "![" in (ROOT / "README.md").read_text()
    import subprocess

    # This machine's paths, as found where the test runs: the clone's own folder, and the home folder.
    machine = {str(ROOT).rstrip("/") + "/", str(Path.home()).rstrip("/") + "/"} - {"/"}
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for name in files:
        path = ROOT / name
        if path.suffix in {".md", ".py", ".toml", ".json", ".txt", ".cfg"} and path.is_file():
            text = path.read_text(errors="ignore")
            for prefix in machine:
                assert prefix not in text, (name, prefix)
