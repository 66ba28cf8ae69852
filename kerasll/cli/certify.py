"""`kerasll certify`: certified L2 robustness by randomized smoothing, for a zoo entry or a .keras file."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from kerasll.cli.common import (
    DataDirOption, SourceOption, ZooOption, check_request, check_writable, console, is_model_file,
    kept_only_with_json, open_zoo, parse_list, print_json, stdout_for_data,
)


def certify_command(
    name: Annotated[str, typer.Argument(help="Zoo entry, or a .keras classifier file with --data or --dataset.")],
    sigma: Annotated[str, typer.Option(help="Noise level(s) σ in pixel units, comma-separated: one result each (e.g. 0.12,0.25,0.5).")] = "0.25",
    n: Annotated[int, typer.Option("--n", help="Noisy copies per image for the probability estimate (Cohen et al.: 100,000).")] = 100_000,
    n0: Annotated[int, typer.Option("--n0", help="Noisy copies per image for choosing the class.")] = 100,
    alpha: Annotated[float, typer.Option(help="The certificate fails with probability at most alpha.")] = 0.001,
    radii: Annotated[str, typer.Option(help="L2 radii at which certified accuracy is reported.")] = "0,0.25,0.5,0.75,1",
    data: Annotated[Optional[str], typer.Option(help="Test data: a .npz (x, y), an image folder, or tfds:NAME[:SPLIT]. Default: the data set's test split.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Registered data set of a .keras file (its test split).")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Certify the first N test images only.")] = None,
    input_scale: Annotated[float, typer.Option(help="The model expects pixels in [0, SCALE]; σ stays in [0,1] units.")] = 1.0,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the results as JSON ('-': only the JSON on stdout). For a .keras file, finished images are kept beside it (FILE.records/), so a re-run resumes.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Load the model with Keras's safe_mode=False: needed for a Lambda layer, whose stored Python code runs on loading. Only for files you trust.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Noisy images per forward pass, and images per saved batch.")] = 1000,
    force: Annotated[bool, typer.Option("--force", help="Recompute, even if eval.json has these settings.")] = False,
    strategy: Annotated[str, typer.Option(help="Where the batches run: auto, one, mirrored or multiworker (as for eval); results are identical to one process.")] = "auto",
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Certified L2 robustness by randomized smoothing (Cohen, Rosenfeld & Kolter 2019).

    For each image: the smoothed classifier's class from --n0 noisy copies, a
    one-sided Clopper–Pearson lower bound on its probability from --n fresh ones,
    and the certified radius σ·Φ⁻¹(p̲) — or an abstention when p̲ ≤ ½. Unlike an
    attack's number, this one is a lower bound no attack can break (it fails
    with probability ≤ alpha). Gaussian noise is added in pixel units, not clipped.
    Results are cached in the entry's eval.json per σ; an interrupted run resumes.

    Examples:

      kerasll certify fmnist-lenet-at --sigma 0.25 --limit 500 --n 10000

      kerasll certify fmnist-lenet-none --sigma 0.12,0.25,0.5 --json certified.json

      kerasll certify model.keras --data test.npz --sigma 0.5
    """
    from dataclasses import replace

    from kerasll.zoo.requests import EvalRequest, Inputs

    inputs = Inputs(data=data, dataset=dataset, data_dir=data_dir, source=source, limit=limit,
                    input_scale=input_scale, force=force, batch_size=batch_size, strategy=strategy, seed=seed,
                    unsafe=unsafe)
    check_request(name, EvalRequest(inputs=inputs), zoo)  # before TensorFlow starts
    from kerasll.cli.progress import TaskProgress
    from kerasll.distribution.strategies import evaluation_strategy
    from kerasll.zoo.certification import CertifyRequest, certify_entry, certify_file
    from kerasll.zoo.evaluation import context_of

    to_stdout = json_out is not None and str(json_out) == "-"
    sigmas = parse_list(sigma, "--sigma")
    request = CertifyRequest(
        sigmas=sigmas, n0=n0, n=n, alpha=alpha, radii=parse_list(radii, "--radii"),
        inputs=inputs)
    is_file = is_model_file(name)
    with stdout_for_data(to_stdout):
        request.check()
        log = lambda line: console.print(f"  {line}", soft_wrap=True)  # noqa: E731
        context = context_of(request.inputs, log=log, strategy=evaluation_strategy(strategy))
        chief = context.writes
        out_file = None if to_stdout or not chief else json_out
        if out_file is not None:
            check_writable(out_file)
        with kept_only_with_json(name, out_file), \
                TaskProgress(f"certifying {Path(name).name if is_file else name}") as progress:
            context = replace(context, progress=progress.attack)
            if is_file:
                if data is None and dataset is None:
                    from kerasll.errors import KerasllError

                    raise KerasllError(f"{name} is a model file: name its test data with --data or --dataset")
                records = None if out_file is None else Path(str(out_file) + ".records")
                out = certify_file(name, request, records, context)
            else:
                out = certify_entry(open_zoo(zoo), name, request, context)
        if not chief:
            console.print("this worker is done; the chief writes the results")
            return
        show(Path(name).name if is_file else name, out)
        if out_file is not None:
            from kerasll._files import write_json

            write_json(Path(out_file).expanduser(), {f"{s:g}": r for s, r in out.items()})
            console.print(f"  wrote {out_file}", soft_wrap=True)
    if to_stdout:
        print_json({f"{s:g}": r for s, r in out.items()})


def show(name, out):
    for sigma, r in out.items():
        cached = " (cached; --force to recompute)" if r.get("cached") else ""
        console.print(f"[bold]{name}[/]  {r['key']}{cached}", soft_wrap=True)
        console.print(f"  smoothed clean accuracy  {100 * r['clean_accuracy']:.2f}%  ({r['samples']} test images"
                      + (f" of {r['data']})" if r.get("data") else ")") + f", abstained on {100 * r['abstention_rate']:.2f}%",
                      soft_wrap=True)
        console.print("  certified accuracy       " + "   ".join(
            f"r={radius}: {100 * acc:.2f}%" for radius, acc in r["certified_accuracy"].items()), soft_wrap=True)
        console.print(f"  mean certified radius    {r['mean_radius']:.3f}   ({r.get('seconds', 0):.1f} s)")
