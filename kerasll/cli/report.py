"""`kerasll report`: the paper-style table and Fig. 4 from the zoo's complete entries."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kerasll.cli.common import DataDirOption, SourceOption, ZooOption, console, open_zoo, output_folder

FORMATS = ("markdown", "html")


def report_command(
    dataset: Annotated[Optional[str], typer.Option(help="Only this data set (fashion_mnist or cifar10).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the current folder; never the zoo).")] = None,
    format: Annotated[str, typer.Option("--format", help="markdown: report-<dataset>.md; html: also report-<dataset>.html, one self-contained page with a sortable table and the figures embedded.")] = "markdown",
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout (nothing else; writes no file).")] = False,
    compute: Annotated[bool, typer.Option("--compute/--no-compute", help="HTML: draw each evaluated entry's missing landscapes and histogram (into OUT/figures/; the zoo is not changed); --no-compute shows only those already there.")] = True,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Write a table of all complete entries beside the paper's numbers, and Fig. 4.

    Beside the table: Φ against AutoAttack accuracy over every entry, AutoAttack's
    attack-by-attack waterfall per entry, the stored ε-curves, and Fig. 4 (Φ
    against PGD accuracy) for each defense family with at least two strengths;
    when there is none, a line says what to train. The HTML page adds every
    entry's likelihood landscapes and histogram and explains each fired flag.

    Examples:

      kerasll report --dataset fashion_mnist

      kerasll report --format html --out reports/

      kerasll report --csv > results.csv
    """
    from kerasll.datasets import dataset_info
    from kerasll.errors import check_choice
    from kerasll.cli.progress import TaskProgress
    from kerasll.zoo.report import COLUMNS, report_rows
    from kerasll.zoo.reporting import report

    check_choice("report format", format, FORMATS)
    if dataset:
        dataset_info(dataset)
    if csv_out:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ",".join(v) if k == "flags" else v for k, v in row.items()}  # flag codes, comma-joined
                         for row in report_rows(open_zoo(zoo), dataset))
        return
    out = output_folder(out)
    with TaskProgress("report") as progress:
        paths, notes = report(open_zoo(zoo), dataset, out, html=format == "html", compute=compute, source=source,
                              data_dir=data_dir, progress=lambda done, total, what: progress(done, total, what))
    if not paths:
        console.print("no complete entries to report; train some with `kerasll train`")
        return
    shown = ""
    for p in paths:
        if p.suffix == ".md":
            shown += p.read_text()
            typer.echo(p.read_text())
    for note in notes:
        if note not in shown:  # each note once: the Markdown printed above may already say it
            console.print(f"[yellow]note[/]: {note}", soft_wrap=True)
    for p in paths:
        console.print(f"wrote {p}")
