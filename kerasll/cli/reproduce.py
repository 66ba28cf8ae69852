"""`kerasll reproduce`: the paper's tables and sweeps, trained and evaluated into a zoo."""

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from kerasll.cli.common import DataDirOption, ZooOption, console, generated_help, open_zoo


@generated_help("reproduce", "runs")
def runs_help():
    from kerasll.zoo.reproduce import GROUP_HELP

    return ("Groups: " + "; ".join(f"{k} ({v})" for k, v in GROUP_HELP.items())
            + ". Or recipe names and shell wildcards over them (`kerasll zoo recipes`), run in the order given.")


def reproduce_command(
    runs: Annotated[List[str], typer.Argument(metavar="GROUP|RECIPE...", help=runs_help())],
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Override the recipes' 200 epochs (a CPU budget).")] = None,
    autoattack: Annotated[bool, typer.Option("--autoattack", help="Also run AutoAttack standard on the full test set, after every model is trained.")] = False,
    data_dir: DataDirOption = None,
    source: Annotated[Optional[str], typer.Option(help="Where to look for data (see `kerasll train --help`).")] = None,
    results: Annotated[Optional[Path], typer.Option(help="Then write FOLDER/results.md and its figures: Table 2 beside the paper's, the paper's claims judged, Fig. 1–6 (needs the table2-lenet runs complete in the zoo).", metavar="FOLDER")] = None,
    zoo: ZooOption = None,
):
    """Train and evaluate the runs behind the paper's tables and figures: re-runnable and resumable.

    Each run is `kerasll train --recipe NAME` (a complete entry is skipped, an
    interrupted one resumes) then `kerasll eval NAME --flatness` (PGD preset on the
    full test set, Φ on 1,000 images), each in its own process: a failed run is
    logged and the rest go on. Every step is logged to ZOO/reproduce.log.

    Examples:

      kerasll reproduce table2-lenet beyond-lenet --epochs 30 --autoattack --zoo runs/fmnist30

      kerasll reproduce 'sweep-fmnist-lenet-jacreg-*' --epochs 30 --zoo runs/fmnist30

      kerasll reproduce table1 --data-dir ~/data --zoo runs/cifar10

      kerasll reproduce table2-lenet --epochs 30 --zoo runs/fmnist30 --results runs/fmnist30/results
    """
    from kerasll.zoo.reproduce import expand, reproduce

    expand(runs)  # a bad name is one line before anything runs
    store = open_zoo(zoo)
    failed = reproduce(store.path, runs, epochs, data_dir, source, autoattack,
                       echo=lambda line: console.print(line, soft_wrap=True, highlight=False))
    if failed:
        raise typer.Exit(1)
    if results:
        from kerasll.zoo.paper import Sources, load_runs, write_results

        written = write_results(load_runs(store, results / "step-cost-lenet.json"), results,
                                Sources(results / "selection", results / "stress-autoattack.json",
                                        results / "step-cost-lenet.json"),
                                data_dir=data_dir, source=source or "auto")
        console.print(f"wrote {written.path} and {len(written.figures)} figures")
        for c in written.claims:
            console.print(f"  claim {c.key}: {'not evaluated' if c.holds is None else 'holds' if c.holds else 'does not hold'}")


