"""`kerasll eval` and `kerasll landscape`: numbers and figures for a zoo entry."""

from typing import Annotated, List, Optional

import typer

from kerasll.cli.common import DataDirOption, SourceOption, ZooOption, console, open_zoo


def eval_command(
    name: Annotated[str, typer.Argument(help="Zoo entry to evaluate (see `kerasll zoo list`).")],
    attack: Annotated[str, typer.Option(help="pgd or fgsm.")] = "pgd",
    eps: Annotated[Optional[str], typer.Option(help="Budget, pixel units or fraction (default: the paper's preset, 25/255 Fashion-MNIST, 8/255 CIFAR-10).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="PGD steps (default: 10 Fashion-MNIST, 5 CIFAR-10).")] = None,
    step_size: Annotated[Optional[str], typer.Option(help="PGD step (default: 6.25/255 Fashion-MNIST, 2/255 CIFAR-10).")] = None,
    restarts: Annotated[int, typer.Option(help="PGD random restarts (the strongest example per image is kept).")] = 1,
    flatness: Annotated[bool, typer.Option("--flatness", help="Also compute Φ (1,000 test images, 2 pairs, 5×5 lattice of radius ε).")] = False,
    landscape: Annotated[bool, typer.Option("--landscape", help="Also write landscape (random, FGSM) and histogram figures into the entry.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate on the first N test images only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if eval.json has these settings.")] = False,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Clean and robust accuracy (and Φ) of a zoo entry, saved in its eval.json.

    Results are keyed by their settings and reused unless --force.

    Examples:

      kerasll eval fmnist-lenet-amsreg --flatness

      kerasll eval my-model --attack pgd --eps 8/255 --steps 20 --restarts 5 --limit 1000
    """
    from kerasll.cli.progress import TaskProgress
    from kerasll.zoo.config import parse_number
    from kerasll.zoo.evaluation import evaluate_entry, histogram_figure, landscape_figures

    store = open_zoo(zoo)
    with TaskProgress(f"evaluating {name}") as progress:
        out = evaluate_entry(store, name, attack, parse_number(eps, "eps"), steps, parse_number(step_size, "step size"),
                             restarts, flatness, limit, force, data_dir, source, progress=progress)
    a = out["attack"]
    cached = " (cached; --force to recompute)" if a["cached"] else ""
    console.print(f"[bold]{name}[/]  {a['key']}{cached}")
    console.print(f"  clean accuracy   {100 * a['clean_accuracy']:.2f}%  ({a['samples']} test images)")
    console.print(f"  {a['settings']['attack'].upper()} accuracy     {100 * a['robust_accuracy']:.2f}%")
    if "flatness" in out:
        f = out["flatness"]
        console.print(f"  Φ (mean)         {f['phi']:.4f}   Φ (sum, paper Eq. 7) {f['phi_sum']:.2f}"
                      + (" (cached)" if f["cached"] else ""))
    if landscape:
        paths = []
        for directions in ("random", "fgsm"):
            paths += landscape_figures(store, name, directions=directions, data_dir=data_dir, source=source)
        paths.append(histogram_figure(store, name, data_dir=data_dir, source=source, limit=limit))
        for p in paths:
            console.print(f"  wrote {p}", soft_wrap=True)
    console.print(f"  results in {store.get(name).eval_path}", soft_wrap=True)


def landscape_command(
    name: Annotated[str, typer.Argument(help="Zoo entry.")],
    sample: Annotated[int, typer.Option(help="Index of the test image.")] = 0,
    directions: Annotated[str, typer.Option(help="random (two signed orthogonal directions) or fgsm (sign ∇x CE and a random one).")] = "random",
    grid: Annotated[int, typer.Option(help="Points per axis (odd).")] = 21,
    radius: Annotated[Optional[str], typer.Option(help="Half-width in pixel units or a fraction (default: the data set's evaluation ε).")] = None,
    compare: Annotated[Optional[List[str]], typer.Option(help="Other entries to plot beside it (same image and directions, shared z scale). Repeatable.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="png, pdf or svg.")] = "png",
    seed: Annotated[int, typer.Option(help="Seed of the random direction(s).")] = 0,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Plot the relative likelihood landscape Δlog p around a test image.

    Examples:

      kerasll landscape fmnist-lenet-none --compare fmnist-lenet-at --compare fmnist-lenet-amsreg

      kerasll landscape fmnist-lenet-at --directions fgsm --sample 3 --format pdf
    """
    from kerasll.errors import check_choice
    from kerasll.zoo.config import parse_number
    from kerasll.zoo.evaluation import landscape_figures

    check_choice("figure format", fmt, ("png", "pdf", "svg"))
    paths = landscape_figures(open_zoo(zoo), name, sample, directions, grid, parse_number(radius, "radius"),
                              compare or (), data_dir, source, seed, fmt)
    for p in paths:
        console.print(f"wrote {p}", soft_wrap=True)
