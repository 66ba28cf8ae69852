"""`kerasll report`: the paper-style table and Fig. 4 from the zoo's complete entries."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from kerasll.cli.common import ZooOption, console, open_zoo


def report_command(
    dataset: Annotated[Optional[str], typer.Option(help="Only this data set (fashion_mnist or cifar10).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: the current folder; never the zoo).")] = None,
    zoo: ZooOption = None,
):
    """Write a markdown table of all complete entries beside the paper's numbers, and Fig. 4.

    Example: kerasll report --dataset fashion_mnist
    """
    from kerasll.datasets import dataset_info
    from kerasll.zoo.report import report

    if dataset:
        dataset_info(dataset)
    paths = report(open_zoo(zoo), dataset, out)
    if not paths:
        console.print("no complete entries to report; train some with `kerasll train`")
        return
    for p in paths:
        if p.suffix == ".md":
            typer.echo(p.read_text())
        console.print(f"wrote {p}")
