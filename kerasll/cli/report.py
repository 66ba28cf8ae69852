"""`kerasll report`: the paper-style table and Fig. 4 from the zoo's complete entries."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kerasll.cli.common import ZooOption, console, open_zoo

FORMATS = ("markdown", "html")


def report_command(
    dataset: Annotated[Optional[str], typer.Option(help="Only this data set (fashion_mnist or cifar10).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the current folder; never the zoo).")] = None,
    format: Annotated[str, typer.Option("--format", help="markdown: report-<dataset>.md; html: also report-<dataset>.html, one self-contained page with a sortable table and the figures embedded.")] = "markdown",
    csv_out: Annotated[bool, typer.Option("--csv", help="Print the table as CSV on stdout (nothing else; writes no file).")] = False,
    zoo: ZooOption = None,
):
    """Write a table of all complete entries beside the paper's numbers, and Fig. 4.

    Fig. 4 (Φ against PGD accuracy) is drawn for each defense family with at
    least two strengths on one architecture; when there is none, a line says
    what to train.

    Examples:

      kerasll report --dataset fashion_mnist

      kerasll report --format html --out reports/

      kerasll report --csv > results.csv
    """
    from kerasll.datasets import dataset_info
    from kerasll.errors import check_choice
    from kerasll.zoo.report import COLUMNS, report, report_rows

    check_choice("report format", format, FORMATS)
    if dataset:
        dataset_info(dataset)
    if csv_out:
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report_rows(open_zoo(zoo), dataset))
        return
    paths, notes = report(open_zoo(zoo), dataset, out, html=format == "html")
    if not paths:
        console.print("no complete entries to report; train some with `kerasll train`")
        return
    for p in paths:
        if p.suffix == ".md":
            typer.echo(p.read_text())
    for note in notes:
        console.print(f"[yellow]note[/]: {note}")
    for p in paths:
        console.print(f"wrote {p}")
