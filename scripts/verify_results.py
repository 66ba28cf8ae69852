"""Verified L∞ accuracy of the shipped entries (docs/results.md, "Verified robustness in L∞"): `kerasll verify`
for each entry, method and ε, stored in the entry's eval.json, set beside its stored AutoAttack result on the
same images where one exists at that ε.

    python scripts/verify_results.py --zoo zoo                                  # the table, computing what is missing
    python scripts/verify_results.py --zoo zoo --entries fmnist-mlp-ibp --methods milp --limit 1000

Defaults: IBP on the whole test split, CROWN on the first 50 images (16–98 ms an image on a LeNet on a
2-core CPU: docs/verification.md), the exact MILP only where asked (small networks); ε ∈ {0.05, 25/255, 0.1}.
"""

import argparse
import sys

LIMITS = {"ibp": None, "crown": 50, "milp": 1000}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default="zoo")
    parser.add_argument("--entries", nargs="*", help="default: every complete entry")
    parser.add_argument("--methods", nargs="*", default=["ibp", "crown"])
    parser.add_argument("--eps", nargs="*", default=["0.05", "25/255", "0.1"])
    parser.add_argument("--limit", type=int, help="images per method (default: IBP all, CROWN 50, MILP 1000)")
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args(argv)

    from kerasll.evaluation.settings import parse_number
    from kerasll.zoo.requests import Inputs
    from kerasll.zoo.store import Zoo
    from kerasll.zoo.evaluation import context_of
    from kerasll.zoo.verification import verify_model

    zoo = Zoo(args.zoo)
    names = args.entries or [e.name for e in zoo.complete_entries()]
    eps_values = [parse_number(e, "eps") for e in args.eps]
    lines = ["| entry | method | images | " + " | ".join(f"ε = {e}" for e in args.eps) + " |",
             "|---|---|---|" + "---|" * len(eps_values)]
    for name in names:
        for method in args.methods:
            limit = args.limit if args.limit is not None else LIMITS[method]
            inputs = Inputs(limit=limit)
            context = context_of(inputs, log=lambda line: print(line, file=sys.stderr))
            _, results, intervals = verify_model(zoo, name, inputs, eps_values, method, context, args.time_limit)
            cells = []
            for eps in eps_values:
                r, found = results[eps], intervals[eps]
                cell = f"{100 * r['verified_accuracy']:.2f}"
                if method == "milp":
                    cell += " exact" if r.get("exact_accuracy") is not None else f" ({r['timed_out']} timed out)"
                if found is not None:
                    cell += f" ≤ AA {100 * found.autoattack:.2f}"
                    if found.missed:
                        cell += f" (AA missed {found.missed})"
                cells.append(cell)
            images = results[eps_values[0]]["images"]
            clean = results[eps_values[0]]["clean_accuracy"]
            lines.append(f"| {name} (clean {100 * clean:.2f}%) | {method} | {images} | " + " | ".join(cells) + " |")
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
