"""`kerasll eval` and `kerasll landscape`: numbers and figures for a zoo entry."""

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from kerasll.cli.common import DataDirOption, SourceOption, ZooOption, console, open_zoo, print_json, stdout_for_data


def eval_command(
    name: Annotated[str, typer.Argument(help="Zoo entry (see `kerasll zoo list`), or a .keras classifier file ([0,1] pixels in, logits out) with --dataset.")],
    attack: Annotated[str, typer.Option(help="pgd, fgsm, apgd-ce, apgd-dlr, apgd-t, fab-t, fab, square or autoattack.")] = "pgd",
    norm: Annotated[str, typer.Option(help="Threat model: linf or l2.")] = "linf",
    version: Annotated[str, typer.Option(help="AutoAttack version: standard (APGD-CE, APGD-T, FAB-T, Square), fast (APGD-CE, APGD-T) or plus (APGD-CE and APGD-DLR ×5 restarts, FAB ×5, Square, APGD-T, FAB-T: a slower second opinion when a flag fires).")] = "standard",
    eps: Annotated[Optional[str], typer.Option(help="Budget, pixel units or fraction (default: the data set's preset: L∞ 25/255 Fashion-MNIST, 8/255 CIFAR-10; L2 1.5 and 0.5).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Iterations (default: PGD the paper's 10 / 5; APGD and FAB 100).")] = None,
    step_size: Annotated[Optional[str], typer.Option(help="PGD step (default: ε/4 on Fashion-MNIST, 2/255 on CIFAR-10).")] = None,
    restarts: Annotated[int, typer.Option(help="Random restarts (the strongest example per image is kept).")] = 1,
    queries: Annotated[Optional[int], typer.Option(help="Square attack queries per image (default 5000).")] = None,
    eps_sweep: Annotated[bool, typer.Option("--eps-sweep", help="Also run AutoAttack fast at ε × 1, 2, 4, 8 and unbounded: accuracy must fall to 0.")] = False,
    flatness: Annotated[bool, typer.Option("--flatness", help="Also compute Φ (1,000 test images, 2 pairs, 5×5 lattice of radius ε), with random directions and along the FGSM direction.")] = False,
    landscape: Annotated[bool, typer.Option("--landscape", help="Also write landscape (random, FGSM) and histogram figures into the entry.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate on the first N test images only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if eval.json has these settings.")] = False,
    dataset: Annotated[Optional[str], typer.Option(help="Data set of a .keras file (fashion_mnist or cifar10); zoo entries know theirs.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the result as JSON to this file; '-' prints only the JSON on stdout (everything else goes to stderr).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attacks' random draws.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per compiled attack batch (lower it for large models; results do not depend on it).")] = 1000,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Clean and robust accuracy (and Φ) of a zoo entry or a .keras file, with self-checks.

    Zoo results are saved in the entry's eval.json, keyed by their settings, and
    reused unless --force; a .keras file's result is printed (and written with
    --json), never stored in the zoo. Each result carries flags, the signs of a
    broken evaluation (gradient masking, a weaker attack beating a stronger one,
    random noise beating the attack, probabilities instead of logits).

    Examples:

      kerasll eval fmnist-lenet-amsreg --attack autoattack

      kerasll eval my-model --attack apgd-ce --norm l2 --eps 1.5 --limit 1000 --eps-sweep

      kerasll eval path/to/classifier.keras --dataset fashion_mnist --attack autoattack --json aa.json

      kerasll eval fmnist-lenet-at --json - | jq .attack.robust_accuracy
    """
    to_stdout = json_out is not None and str(json_out) == "-"
    with stdout_for_data(to_stdout):
        out = _evaluate(name, attack, norm, version, eps, steps, step_size, restarts, queries, eps_sweep, flatness,
                        landscape, limit, force, dataset, None if to_stdout else json_out, seed, batch_size, data_dir,
                        source, zoo)
    if to_stdout:
        print_json(out)


def _evaluate(name, attack, norm, version, eps, steps, step_size, restarts, queries, eps_sweep, flatness, landscape,
              limit, force, dataset, json_out, seed, batch_size, data_dir, source, zoo):
    from kerasll.cli.progress import TaskProgress
    from kerasll.errors import KerasllError
    from kerasll.zoo.config import parse_number
    from kerasll.zoo.evaluation import evaluate_entry, histogram_figure, landscape_figures

    eps_value, step_value = parse_number(eps, "eps"), parse_number(step_size, "step size")
    if json_out is not None:
        check_writable(json_out)
    if name.endswith(".keras") or Path(name).is_file():
        if dataset is None:
            raise KerasllError(f"{name} is a model file: name its data set with --dataset (fashion_mnist or cifar10)")
        if flatness or landscape:
            raise KerasllError("--flatness and --landscape need a zoo entry; use the library for a .keras file")
        with TaskProgress(f"evaluating {Path(name).name}") as progress:
            out = evaluate_file(name, dataset, attack, norm, version, eps_value, steps, step_value, restarts, queries,
                                eps_sweep, limit, data_dir, source, seed, progress, batch_size)
        show(Path(name).name, out)
        if json_out is not None:
            write_json_file(json_out, out)
        return out
    store = open_zoo(zoo)
    with TaskProgress(f"evaluating {name}") as progress:
        out = evaluate_entry(store, name, attack, eps_value, steps, step_value, restarts, flatness, limit, force,
                             data_dir, source, progress=progress.attack, seed=seed, norm=norm, version=version,
                             queries=queries, sweep=eps_sweep, batch_size=batch_size)
    show(name, out)
    if landscape:
        paths = []
        for directions in ("random", "fgsm"):
            paths += landscape_figures(store, name, directions=directions, data_dir=data_dir, source=source)
        paths.append(histogram_figure(store, name, data_dir=data_dir, source=source, limit=limit))
        for p in paths:
            console.print(f"  wrote {p}", soft_wrap=True)
    if json_out is not None:
        write_json_file(json_out, out)
    console.print(f"  results in {store.get(name).eval_path}", soft_wrap=True)
    return out


def evaluate_file(path, dataset, attack, norm, version, eps, steps, step_size, restarts, queries, sweep, limit,
                  data_dir, source, seed, progress, batch_size):
    from kerasll.evaluation import attack_settings
    from kerasll.zoo.evaluation import attack_key, load_model_file, run_evaluation, run_sweep, test_data

    settings = attack_settings(dataset, attack, eps, steps, step_size, restarts, norm, version, queries)
    meta = {"name": str(path), "dataset": dataset}
    x, y = test_data(meta, data_dir, source, limit)
    model = load_model_file(path, dataset)
    result = run_evaluation(model, x, y, settings, seed=seed, progress=progress.attack, batch_size=batch_size)
    out = {"attack": dict(result, cached=False, key=attack_key(settings, len(x)))}
    if sweep:
        out["sweep"] = dict(run_sweep(model, x, y, settings, seed=seed, progress=progress.attack,
                                      batch_size=batch_size), cached=False)
    return out


def show(name, out):
    a = out["attack"]
    s = a["settings"]
    cached = " (cached; --force to recompute)" if a["cached"] else ""
    console.print(f"[bold]{name}[/]  {a['key']}{cached}", soft_wrap=True)
    label = "AutoAttack" if s["attack"] == "autoattack" else s["attack"].upper()
    width = max(len(label), 5) + 11
    console.print(f"  {'clean accuracy':<{width}}{100 * a['clean_accuracy']:.2f}%  ({a['samples']} test images)")
    console.print(f"  {label + ' accuracy':<{width}}{100 * a['robust_accuracy']:.2f}%")
    for attack, acc in a.get("by_attack", {}).items():
        console.print(f"    after {attack:<10}{100 * acc:.2f}%  ({a.get('seconds_by_attack', {}).get(attack, 0):.1f} s)")
    if "flatness" in out:
        f = out["flatness"]
        console.print(f"  Φ (mean)         {f['phi']:.4f}   Φ (sum, paper Eq. 7) {f['phi_sum']:.2f}"
                      + (" (cached)" if f["cached"] else ""))
    if "flatness_fgsm" in out:
        f = out["flatness_fgsm"]
        console.print(f"  Φ along FGSM     {f['phi']:.4f}" + (" (cached)" if f["cached"] else ""))
    if "sweep" in out:
        sweep = out["sweep"]["accuracy_by_eps"]
        linf = out["sweep"]["settings"]["norm"] == "linf"
        eps = lambda e: f"{float(e) * 255:.4g}/255" if linf else f"{float(e):.4g}"  # noqa: E731
        console.print("  ε sweep (AutoAttack fast): " + ", ".join(f"ε={eps(e)}: {100 * v:.2f}%" for e, v in sweep.items()),
                      soft_wrap=True)
    flags = a.get("flags", []) + out.get("sweep", {}).get("flags", [])
    for f in flags:
        console.print(f"  [yellow]flag {f['code']}[/]: {f['message']} — try: {f['hint']}", soft_wrap=True)
    if "flags" in a and not flags:
        console.print("  no flags: none of the checks for a broken evaluation fired")


def check_writable(path):
    from kerasll.errors import KerasllError

    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise KerasllError(f"cannot write --json {path}: folder {parent} does not exist")
    if Path(path).is_dir():
        raise KerasllError(f"cannot write --json {path}: it is a folder")


def write_json_file(path, data):
    from kerasll.zoo.entry import write_json

    write_json(Path(path).expanduser(), data)
    console.print(f"  wrote {path}", soft_wrap=True)


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
