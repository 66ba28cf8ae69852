"""Write README's results block from the shipped zoo's stored results (eval.json of each entry in zoo/).

    python scripts/readme_results.py

The numbers are those `kerasll zoo list` and `kerasll report` show for the same entries; a test fails
when the README's block differs from what this script would write.
"""

from pathlib import Path

from devtools.files import replace_block
from devtools.readme import results_block
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]


def main():
    replace_block(ROOT / "README.md", "results", "\n".join(results_block(Zoo(REPO_ZOO, bundled=False))))
    print("updated the results block of README.md")


if __name__ == "__main__":
    main()
