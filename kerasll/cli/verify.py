"""`kerasll verify`: verified L∞ robust accuracy by bound propagation (IBP, CROWN) or exactly (MILP)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from kerasll.cli.common import (
    DataDirOption, SourceOption, ZooOption, check_entries, check_writable, console, is_model_file,
    kept_only_with_json, open_zoo, print_json, stdout_for_data,
)
from kerasll.cli.verified import rows_of, show_verification


def verify_command(
    name: Annotated[str, typer.Argument(help="Zoo entry, or a .keras classifier file with --data or --dataset.")],
    eps: Annotated[str, typer.Option(help="L∞ radius (or radii, comma-separated) in pixel units, each a number or a fraction, e.g. 0.1 or 0.05,25/255,0.1.")] = "0.1",
    method: Annotated[str, typer.Option(help="ibp (intervals, one pass), crown (linear bounds; tighter, slower) or milp (exact, per image; small networks).")] = "crown",
    time_limit: Annotated[float, typer.Option(help="milp: seconds per image; an image not decided in time counts as timed out, never as verified.")] = 60.0,
    data: Annotated[Optional[str], typer.Option(help="Test data: a .npz (x, y) or an image folder. Default: the data set's test split.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Registered data set of a .keras file (its test split).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Verify the first N test images only.")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the results as JSON to this file ('-': only the JSON on stdout). For a .keras file, finished images are kept beside it (FILE.records/), so a re-run resumes.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per saved batch, and per device or worker when spread; an interrupted run resumes within a batch.")] = 100,
    force: Annotated[bool, typer.Option("--force", help="Recompute, even if eval.json has these settings.")] = False,
    strategy: Annotated[str, typer.Option(help="Where the batches run: auto, one, mirrored or multiworker (as for eval); results are identical to one process.")] = "auto",
    input_scale: Annotated[float, typer.Option(help="The model expects pixels in [0, SCALE] (255 for keras.applications-style models); ε stays in [0,1] units.")] = 1.0,
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

      KERASLL_CPU_DEVICES=2 kerasll verify fmnist-lenet-ibp --method crown --strategy mirrored --limit 1000
    """
    from kerasll.distribution.strategies import STRATEGIES
    from kerasll.attacks.budgets import check_eps
    from kerasll.errors import check_choice, check_positive
    from kerasll.verification.verify import METHODS
    from kerasll.zoo.requests import Inputs

    check_choice("method", method, tuple(METHODS))
    check_positive("--time-limit", time_limit, 60, unit="seconds per image")
    from kerasll.evaluation.settings import parse_number

    eps_values = tuple(parse_number(part.strip(), "--eps") for part in eps.split(","))
    for value in eps_values:
        check_eps(value)
    if not is_model_file(name):
        check_entries(zoo, name)
    check_choice("strategy", strategy, STRATEGIES)
    inputs = Inputs(data=data, dataset=dataset, data_dir=data_dir, source=source, limit=limit, unsafe=unsafe,
                    input_scale=input_scale, batch_size=batch_size, force=force, strategy=strategy).check()
    to_stdout = json_out == "-"
    if json_out is not None and not to_stdout:
        check_writable(Path(json_out))
    from kerasll.cli.progress import TaskProgress
    from kerasll.distribution.strategies import evaluation_strategy
    from kerasll.zoo.evaluation import context_of
    from kerasll.zoo.verification import verify_model

    with stdout_for_data(to_stdout), TaskProgress(f"verifying {name}") as progress:
        log = lambda line: console.print(f"  {line}", soft_wrap=True)  # noqa: E731
        context = context_of(inputs, progress.attack, log, evaluation_strategy(strategy))
        records = Path(json_out + ".records") if is_model_file(name) and json_out not in (None, "-") else None
        with kept_only_with_json(name, json_out if records else None):
            images, results, intervals = verify_model(open_zoo(zoo), name, inputs, eps_values, method, context,
                                                      time_limit=time_limit, records_root=records)
    if not context.writes:
        console.print("this worker is done; the chief writes the results")
        return
    summary = {"name": name, "method": method, "images": len(images.y), "results": rows_of(results, intervals)}
    if to_stdout:
        print_json(summary)
        return
    show_verification(method, results, intervals)
    if json_out:
        from kerasll._files import write_json

        write_json(Path(json_out), summary)
        console.print(f"results: {json_out}")

