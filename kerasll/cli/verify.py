"""`kerasll verify`: verified L∞ robust accuracy by bound propagation (IBP, CROWN) or exactly (MILP)."""

from typing import Annotated, Optional

import typer

from kerasll.cli.common import (
    DataDirOption, SourceOption, ZooOption, check_entries, console, is_model_file, open_zoo,
    print_json, stdout_for_data,
)


def verify_command(
    name: Annotated[str, typer.Argument(help="Zoo entry, or a .keras classifier file with --data or --dataset.")],
    eps: Annotated[str, typer.Option(help="L∞ radius (or radii, comma-separated) in pixel units, each a number or a fraction, e.g. 0.1 or 0.05,25/255,0.1.")] = "0.1",
    method: Annotated[str, typer.Option(help="ibp (intervals, one pass), crown (linear bounds; tighter, slower) or milp (exact, per image; small networks).")] = "crown",
    time_limit: Annotated[float, typer.Option(help="milp: seconds per image; an image not decided in time counts as timed out, never as verified.")] = 60.0,
    data: Annotated[Optional[str], typer.Option(help="Test data: a .npz (x, y) or an image folder. Default: the data set's test split.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Registered data set of a .keras file (its test split).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Verify the first N test images only.")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the results as JSON to this file ('-': only the JSON on stdout).")] = None,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Load the model with Keras's safe_mode=False (a Lambda layer). Only for files you trust.")] = False,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Verified L∞ robust accuracy: the share of images no perturbation within ε can misclassify, proven by
    bound propagation (IBP: Gowal et al. 2018; CROWN: Zhang et al. 2018). It is a lower bound on the true
    robust accuracy, as AutoAttack's number is an upper bound; between the two lies the truth. On a small
    ReLU network, --method milp decides each image exactly (Tjeng et al. 2019): verified, attackable (a
    counterexample exists) or timed out.

    Examples:

      kerasll verify fmnist-lenet-at --eps 0.1 --method crown --limit 1000

      kerasll verify fmnist-lenet-at --eps 0.01,0.02,0.05 --method ibp --source embedded

      kerasll verify my-mlp.keras --dataset fashion_mnist --eps 0.1 --method milp --time-limit 30
    """
    from kerasll.errors import check_choice
    from kerasll.verification.verify import METHODS
    from kerasll.zoo.requests import Inputs

    from kerasll.errors import check_positive

    check_choice("method", method, tuple(METHODS))
    check_positive("--time-limit", time_limit, 60, unit="seconds per image")
    from kerasll.evaluation.settings import parse_number

    eps_values = tuple(parse_number(part.strip(), "--eps") for part in eps.split(","))
    if not is_model_file(name):
        check_entries(zoo, name)
    inputs = Inputs(data=data, dataset=dataset, data_dir=data_dir, source=source, limit=limit, unsafe=unsafe)
    to_stdout = json_out == "-"
    from kerasll.cli.progress import TaskProgress
    from kerasll.zoo.verification import verify_model

    with stdout_for_data(to_stdout), TaskProgress(f"verifying {name} ({method})") as progress:
        log = lambda line: console.print(f"  {line}", soft_wrap=True)  # noqa: E731
        images, results, intervals = verify_model(open_zoo(zoo), name, inputs, eps_values, method, progress=progress,
                                                  log=log, time_limit=time_limit)
    summary = {"name": name, "method": method, "images": len(images.y), "results": rows_of(results, intervals)}
    if to_stdout:
        print_json(summary)
        return
    show_verification(method, results, intervals)
    if json_out:
        from pathlib import Path

        from kerasll._files import write_json

        write_json(Path(json_out), summary)
        console.print(f"results: {json_out}")


def _eps(eps):
    """25/255 where ε is a whole number of grey levels, else the number: '25/255', '0.1'."""
    levels = eps * 255
    return f"{round(levels)}/255" if abs(levels - round(levels)) < 1e-6 else f"{eps:g}"


def rows_of(results, intervals):
    """The results per ε as `--json` writes them, each with its interval beside AutoAttack where there is one."""
    keep = ("method", "eps", "images", "clean_accuracy", "verified_accuracy", "attackable", "timed_out",
            "exact_accuracy", "seconds", "cached", "key")
    rows = []
    for eps, r in results.items():
        row = {k: r[k] for k in keep if k in r}
        if intervals[eps] is not None:
            row["autoattack"] = vars(intervals[eps]) | {"gap": intervals[eps].gap}
        rows.append(row)
    return rows


def show_verification(method, results, intervals):
    """Per ε: the verified accuracy, for milp the attackable and timed-out counts, and the interval
    "verified ≤ truth ≤ AutoAttack" on the same images (with what AutoAttack missed) where the entry has it."""
    for eps, r in results.items():
        cached = " (cached)" if r.get("cached") else ""
        console.print(f"ε = {_eps(eps)}: verified accuracy [bold]{100 * r['verified_accuracy']:.2f}%[/] "
                      f"({method}, {r['images']} images; clean {100 * r['clean_accuracy']:.2f}%){cached}")
        if method == "milp":
            exact = "exact" if r.get("exact_accuracy") is not None else f"{r['timed_out']} timed out: not exact"
            console.print(f"  attackable {r['attackable']}, timed out {r['timed_out']} ({exact})")
        found = intervals[eps]
        if found is not None:
            console.print(f"  {100 * found.verified:.2f}% ≤ true robust accuracy ≤ {100 * found.autoattack:.2f}% "
                          f"AutoAttack standard (gap {100 * found.gap:.2f} points, same {found.images} images)")
            if found.missed is not None:
                stages = ", ".join(f"{k} {v}" for k, v in found.missed_by.items())
                console.print(f"  AutoAttack missed {found.missed} attackable image(s) (left robust by each stage: "
                              f"{stages})")
            if found.unsound:
                console.print(f"  [red]{found.unsound} verified image(s) broken by AutoAttack: a bug, please report[/]")
