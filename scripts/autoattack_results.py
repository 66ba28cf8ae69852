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

from devtools.files import replace_block
from kerasll.zoo.evaluation import context_of, evaluate_entry
from kerasll.zoo.requests import EvalRequest, Inputs
from kerasll.zoo.results import describe
from devtools.autoattack_docs import AutoAttackRow, results_section, time_sentence, timing_section
from kerasll.zoo.report import summary
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]


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

            inputs = Inputs(limit=args.limit, data_dir=args.data_dir, force=args.force, batch_size=args.batch_size)
            request = EvalRequest(attack="autoattack", inputs=inputs)
            out = evaluate_entry(zoo, entry.name, request, context_of(inputs, progress, console.print))
        a = out["attack"]
        took = "cached" if a["cached"] else f"{a['seconds']:.0f} s"
        console.print(f"{entry.name}: AutoAttack {100 * a['robust_accuracy']:.2f}% ({took})")
        rows.append(AutoAttackRow(describe(entry.metadata()), entry.name, a, summary(entry)))
    if args.no_docs or args.limit:
        return
    command = "python scripts/autoattack_results.py" + (f" --batch-size {args.batch_size}" if args.batch_size != 1000 else "")
    replace_block(ROOT / "docs" / "results.md", "autoattack", "\n".join(results_section(rows, command)))
    replace_block(ROOT / "docs" / "benchmarks.md", "autoattack", "\n".join(timing_section(rows, command)))
    replace_block(ROOT / "README.md", "autoattack-time", time_sentence(rows, command))
    console.print("updated docs/results.md, docs/benchmarks.md and README.md")


if __name__ == "__main__":
    main()
