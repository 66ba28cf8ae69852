"""Write docs/results.md and its figures from a zoo made by `kerasll reproduce`; ship its entries.

    python scripts/make_results.py --zoo runs/fmnist30 --ship

Everything in the document is computed by `kerasll.zoo.paper` from the zoo's entries
and their eval.json; this script only wires the repository's files to it.

--ship copies the four Table 2 LeNet entries, the fast-AT and Gaussian-noise entries and the adflat
entry with the highest AutoAttack accuracy at ≥ 80% clean (model.keras, metadata.json, and their
results merged into eval.json) into the repository's zoo/; it deletes nothing. With the default --out,
README's results block is rewritten from the shipped zoo (scripts/readme_results.py).
"""

import argparse
from pathlib import Path

from devtools.files import replace_block
from devtools.ship import ship, shipped
from kerasll.zoo.paper import Sources, load_runs, write_results
from devtools.readme import results_block
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=Path("runs/fmnist"))
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--ship", action="store_true", help="copy the shipped entries into the repository's zoo/")
    parser.add_argument("--data-dir")
    parser.add_argument("--step-cost", type=Path, default=DOCS / "data" / "step-cost-lenet.json",
                        help="a scripts/benchmark_defenses.py --json result (LeNet, batch 128)")
    args = parser.parse_args()
    zoo = Zoo(args.zoo, bundled=False)
    sources = Sources(DOCS / "selection", DOCS / "data" / "stress-autoattack.json", args.step_cost)
    runs = load_runs(zoo, args.step_cost)
    results = write_results(runs, args.out, sources, zoo_text=str(args.zoo), data_dir=args.data_dir)
    print(f"wrote {results.path} and {len(results.figures)} figures in {args.out / 'figures'}")
    for c in results.claims:
        print(f"{'N/A' if c.holds is None else 'HOLDS' if c.holds else 'FAILS'}  {c.line}: {c.detail}")
    if args.ship:
        names = shipped(runs)
        stale = ship(runs, names, REPO_ZOO)
        if stale:
            print(f"no longer shipped but left in {REPO_ZOO}: {', '.join(stale)} (git rm -r them if they should go)")
        print(f"shipped {names} into {REPO_ZOO}")
    if args.out.resolve() == DOCS.resolve():  # after shipping: the block shows what ships
        replace_block(ROOT / "README.md", "results", "\n".join(results_block(Zoo(REPO_ZOO, bundled=False))))
        print(f"updated the results block of {ROOT / 'README.md'}")


if __name__ == "__main__":
    main()
