"""AutoAttack (standard, L∞ ε = 25/255) on every entry of a zoo (default: the bundled one), full 10,000-image test set.

Results are stored in each entry's eval.json (so `kerasll zoo list` and
`kerasll report` show them, and an interrupted run resumes entry by entry), and
the table is written into docs/results.md between the autoattack markers, with
the per-attack timings in docs/benchmarks.md and their range in README.md.

    python scripts/autoattack_results.py            # needs the real Fashion-MNIST test set
"""

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from docblocks import replace_block
from kerasll.zoo.evaluation import EvalRequest, describe, evaluate_entry
from kerasll.zoo.report import summary
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]
TARGET_MINUTES = 10  # the evaluation issue's target for one LeNet on this CPU
NAMES = {"apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "fab-t": "FAB-T", "square": "Square"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=REPO_ZOO, help="the zoo whose entries to evaluate")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--limit", type=int, help="first N test images only (for a quick look; docs need all)")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--force", action="store_true", help="recompute results already in eval.json")
    args = parser.parse_args()
    console = Console()
    zoo = Zoo(args.zoo, bundled=False)
    rows = []
    for entry in zoo.complete_entries():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.fields[info]}"), console=console, transient=True) as bar:
            tasks = {}

            def progress(name, done, total, acc, _bar=bar, _tasks=tasks, _entry=entry.name):
                if name not in _tasks:
                    _tasks[name] = _bar.add_task(f"{_entry}: {name}", total=total, info="")
                _bar.update(_tasks[name], completed=done, total=total,
                            info="" if acc is None else f"robust {100 * acc:.2f}%")

            request = EvalRequest(attack="autoattack", limit=args.limit, data_dir=args.data_dir, force=args.force,
                                  batch_size=args.batch_size)
            out = evaluate_entry(zoo, entry.name, request, progress=progress, log=console.print)
        a = out["attack"]
        took = "cached" if a["cached"] else f"{a['seconds']:.0f} s"
        console.print(f"{entry.name}: AutoAttack {100 * a['robust_accuracy']:.2f}% ({took})")
        rows.append((entry, entry.metadata(), a, summary(entry)))
    if args.no_docs or args.limit:
        return
    lines = ["## AutoAttack: the shipped LeNets under the field's standard evaluation", "",
             "AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square; 100 iterations, 9 target classes, 5,000 "
             "queries), L∞ ε = 25/255, all 10,000 test images, seed 0. Produced by "
             "`python scripts/autoattack_results.py`, which stores each result in the entry's eval.json "
             "(`kerasll eval NAME --attack autoattack` gives the same number).", "",
             "| defense | clean % | PGD-10 % | AutoAttack % | PGD-10 − AA (points) | after APGD-CE | after APGD-T | "
             "after FAB-T | after Square | flags |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    drops = {}
    for entry, meta, a, s in rows:
        by = a["by_attack"]
        drop = 100 * (s.robust - a["robust_accuracy"]) if s.robust is not None else None
        drops[describe(meta)] = drop
        flags = ", ".join(f["code"] for f in a["flags"]) or "none"
        lines.append(f"| {describe(meta)} | {100 * a['clean_accuracy']:.2f} | "
                     f"{'—' if s.robust is None else f'{100 * s.robust:.2f}'} | {100 * a['robust_accuracy']:.2f} | "
                     f"{'—' if drop is None else f'{drop:.2f}'} | "
                     + " | ".join(f"{100 * by[k]:.2f}" for k in NAMES) + f" | {flags} |")
    known = {k: v for k, v in drops.items() if v is not None}
    worst = max(known, key=known.get) if known else None
    fired = [(describe(m), f) for _, m, a, _ in rows for f in a["flags"]]
    if worst:
        order = sorted(known, key=known.get, reverse=True)
        lines.append(f"**Who loses most between PGD-10 and AutoAttack:** {worst} ({known[worst]:.2f} points), then "
                     + ", ".join(f"{k} ({known[k]:.2f})" for k in order[1:]) + ".")
    square = {describe(m): 100 * (a["by_attack"]["fab-t"] - a["by_attack"]["square"]) for _, m, a, _ in rows}
    weaker = {describe(m): a.get("weaker_attacks_accuracy", a.get("weaker_attacks_acc", {})) for _, m, a, _ in rows}
    lines.append("**Square after the white-box attacks:** it broke " + ", ".join(
        f"{v:.2f} points on {k}" for k, v in square.items()) + " more (the `square` flag needs > 0.2 points).")
    lines.append("**Weaker attacks on all images** (for the `order` check): " + "; ".join(
        f"{k}: FGSM {100 * w.get('fgsm', float('nan')):.2f}%, PGD-10 {100 * w.get('pgd', float('nan')):.2f}%"
        for k, w in weaker.items()) + ".")
    if fired:
        lines.append("**Flags that fired:** " + "; ".join(f"{d}: {f['code']} — {f['message']}" for d, f in fired)
                     + ".")
    else:
        lines.append("**Flags:** none fired on any model.")
    lines = [part for line in lines for part in (["", line] if line.startswith("**") else [line])]
    replace_block(ROOT / "docs" / "results.md", "autoattack", "\n".join(lines))
    bench = ["## AutoAttack standard on 10,000 Fashion-MNIST test images (2-core CPU)", "",
             f"`python scripts/autoattack_results.py --batch-size {args.batch_size}` (wall-clock per attack, seconds; each attack runs only on the "
             "images still robust; the checks run FGSM, PGD-10 and random noise on all images):", "",
             "| entry | APGD-CE | APGD-T | FAB-T | Square | checks | total |", "|---|---|---|---|---|---|---|"]
    for entry, _, a, _ in rows:
        sec = a.get("seconds_by_attack", {})
        bench.append(f"| {entry.name} | " + " | ".join(f"{sec.get(k, 0):.0f}" for k in [*NAMES, "checks", "total"])
                     + " |")
    minutes = {entry.name: a.get("seconds_by_attack", {}).get("total", 0) / 60 for entry, _, a, _ in rows}
    met = [n for n, m in minutes.items() if m <= TARGET_MINUTES]
    missed = [n for n, m in minutes.items() if m > TARGET_MINUTES]
    listed = lambda names: ", ".join(f"{n} ({minutes[n]:.1f} min)" for n in names) or "none"  # noqa: E731
    bench += ["", f"Target: at most {TARGET_MINUTES} minutes for one LeNet on this CPU. **Met for {listed(met)}; "
              f"not met for {listed(missed)}.**"]
    replace_block(ROOT / "docs" / "benchmarks.md", "autoattack", "\n".join(bench))
    fastest, slowest = min(minutes, key=minutes.get), max(minutes, key=minutes.get)
    replace_block(ROOT / "README.md", "autoattack-time",
                  f"AutoAttack standard on all 10,000 Fashion-MNIST test images takes {minutes[fastest]:.1f} min "
                  f"({fastest}) to {minutes[slowest]:.1f} min ({slowest}) per shipped LeNet on 2 CPU cores "
                  "(`python scripts/autoattack_results.py`); docs/benchmarks.md shows where the time goes.")
    console.print("updated docs/results.md, docs/benchmarks.md and README.md")


if __name__ == "__main__":
    main()
