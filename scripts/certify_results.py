"""Randomized smoothing on every entry of a zoo (default: the bundled one): σ ∈ {0.12, 0.25, 0.5}, first
1,000 test images, n = 10,000; writes docs/results.md's certified block and its figure.

Results are stored in each entry's eval.json with their per-image records (so `kerasll report` and
`kerasll plot certified` show them, and an interrupted run resumes).

    python scripts/certify_results.py            # needs the real Fashion-MNIST test set
"""

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kerasll import figures
from devtools.files import replace_block
from kerasll.zoo.certification import CertifyRequest, certify_entry
from kerasll.zoo.results import stored_certificates
from kerasll.zoo.evaluation import context_of
from kerasll.zoo.requests import Inputs
from kerasll.zoo.results import describe
from devtools.certified import CertifiedRow, certified_section
from kerasll.zoo.report import summary
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]
FIGURE = "figures/certified-lenet.png"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=REPO_ZOO, help="the zoo whose entries to certify")
    parser.add_argument("--sigmas", default="0.12,0.25,0.5")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    args = parser.parse_args()
    console = Console()
    zoo = Zoo(args.zoo, bundled=False)
    sigmas = tuple(float(s) for s in args.sigmas.split(","))
    request = CertifyRequest(sigmas=sigmas, n=args.n, inputs=Inputs(limit=args.images, data_dir=args.data_dir))
    rows = []
    for entry in zoo.complete_entries():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            tasks = {}

            def progress(name, done, total, acc=None, _bar=bar, _tasks=tasks, _entry=entry.name):
                if name not in _tasks:
                    _tasks[name] = _bar.add_task(f"{_entry}: {name}", total=total)
                _bar.update(_tasks[name], completed=done, total=total)

            out = certify_entry(zoo, entry.name, request, context_of(request.inputs, progress, console.print))
        for sigma, r in out.items():
            took = "cached" if r["cached"] else f"{r['seconds']:.0f} s"
            console.print(f"{entry.name} σ={sigma:g}: smoothed clean {100 * r['clean_accuracy']:.1f}%, certified at "
                          f"0.5 {100 * r['certified_accuracy']['0.5']:.1f}%, mean radius {r['mean_radius']:.3f} ({took})")
        s = summary(entry)
        rows.append(CertifiedRow(describe(entry.metadata()), entry.name, s.phi, s.autoattack, out))
    if args.no_docs:
        return
    command = "python scripts/certify_results.py"
    at = [c for e in zoo.complete_entries() for c in stored_certificates(zoo, e.name, (0.25,))
          if c.result["samples"] == args.images and c.settings.n == args.n]
    figures.plot_certified_curves([(c.label, c.radii) for c in at], ROOT / "docs" / FIGURE,
                                  title=f"Certified accuracy vs L2 radius, σ = 0.25, first {args.images} test images")
    replace_block(ROOT / "docs" / "results.md", "certified", "\n".join(certified_section(rows, command, FIGURE)))
    console.print(f"updated docs/results.md and docs/{FIGURE}")


if __name__ == "__main__":
    main()
