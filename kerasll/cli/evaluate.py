"""`kerasll eval` and `kerasll landscape`: numbers and figures for a zoo entry."""

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from kerasll.attacks.catalog import APGD, PGD, Square
from kerasll.attacks.registry import VERSION_HELP
from kerasll.cli.common import (
    DataDirOption, SourceOption, ZooOption, check_entries, check_request, check_writable, console, generated_help,
    is_model_file, kept_only_with_json, open_zoo, print_json, stdout_for_data,
)
from kerasll.datasets import list_datasets
from kerasll.evaluation import attack_names


@generated_help("eval", "attack")
def attack_help():
    return "pgd (the default), " + ", ".join(a for a in attack_names() if a != "pgd") + "."


@generated_help("eval", "version")
def version_help():
    return ("AutoAttack version: " + "; ".join(f"{k} ({v})" for k, v in VERSION_HELP.items())
            + ". Default: standard; fast for --eps-curve.")


@generated_help("eval", "steps")
def steps_help():
    return (f"Iterations (default: PGD the data set's preset, the paper's 10 on Fashion-MNIST and 5 on CIFAR-10, "
            f"else {PGD.defaults()['steps']}; APGD and FAB {APGD.defaults()['steps']}).")


@generated_help("eval", "queries")
def queries_help():
    return f"Square attack queries per image (default {Square.defaults()['queries']})."


def datasets():
    return " or ".join(list_datasets())


def eval_command(
    name: Annotated[str, typer.Argument(help="Zoo entry (see `kerasll zoo list`), or a .keras classifier file ([0,1] pixels in, logits out; see --input-scale) with --data or --dataset.")],
    attack: Annotated[Optional[str], typer.Option(help=attack_help())] = None,
    norm: Annotated[str, typer.Option(help="Threat model: linf, l2 or l1 (L1: APGD-CE, APGD-DLR, APGD-T, FAB, FAB-T, Square and AutoAttack standard or fast, with the reference's L1 settings).")] = "linf",
    version: Annotated[Optional[str], typer.Option(help=version_help())] = None,
    eps: Annotated[Optional[str], typer.Option(help="Budget, pixel units or fraction (default: the data set's preset: L∞ 25/255 Fashion-MNIST, 8/255 CIFAR-10; L2 1.5 and 0.5; L1 10 and 12). Required for --data without a preset.")] = None,
    steps: Annotated[Optional[int], typer.Option(help=steps_help())] = None,
    step_size: Annotated[Optional[str], typer.Option(help="PGD step (default: ε/4 on Fashion-MNIST and data without a preset, 2/255 on CIFAR-10).")] = None,
    restarts: Annotated[int, typer.Option(help="Random restarts (the strongest example per image is kept).")] = 1,
    queries: Annotated[Optional[int], typer.Option(help=queries_help())] = None,
    data: Annotated[Optional[str], typer.Option(help="Test data: a .npz file (arrays x, y), a folder with one subfolder of images per class, or tfds:NAME[:SPLIT] prepared in --data-dir. uint8 and image files are scaled to [0,1]. Default: the data set's test split.")] = None,
    data_keys: Annotated[str, typer.Option(help="The image and label arrays' names in a --data .npz (or features of a tfds set).")] = "x,y",
    input_scale: Annotated[float, typer.Option(help="The model expects pixels in [0, SCALE] (255 for keras.applications-style models): attacks still work and report in [0,1] units.")] = 1.0,
    eps_curve: Annotated[Optional[str], typer.Option(help="Also measure robust accuracy at these budgets, e.g. 0,2,4,8,16,25/255 (a trailing /255 applies to all); the attack is --attack, by default AutoAttack (--version fast unless given). Plot with `kerasll plot eps-curve`.")] = None,
    eps_sweep: Annotated[bool, typer.Option("--eps-sweep", help="Also run AutoAttack fast at ε × 1, 2, 4, 8 and unbounded: accuracy must fall to 0.")] = False,
    flatness: Annotated[bool, typer.Option("--flatness", help="Also compute Φ (1,000 test images, 2 pairs, 5×5 lattice of radius ε), with random directions and along the FGSM direction.")] = False,
    landscape: Annotated[bool, typer.Option("--landscape", help="Also write landscape (random, FGSM) and histogram figures: into the entry, or for a .keras file beside --json (FILE.figures/), else into ./MODEL-figures/.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="Evaluate on the first N test images only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute from scratch, even if eval.json has these settings or an interrupted run left finished batches.")] = False,
    dataset: Annotated[Optional[str], typer.Option(help=f"Registered data set of a .keras file ({datasets()}): its test split and presets; zoo entries know theirs.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the result as JSON to this file ('-': only the JSON on stdout, everything else on stderr). For a .keras file, finished batches are kept beside it (FILE.records/), so a re-run resumes.")] = None,
    check_budget: Annotated[bool, typer.Option("--check-budget", help="Also rerun the strongest white-box stage (APGD-T in AutoAttack) with twice its iterations and restarts on the images left robust: the 'budget' flag fires when that breaks more than noise (the attack had not converged).")] = False,
    transfer_from: Annotated[Optional[str], typer.Option(help="Also attack a surrogate (a zoo entry or a .keras file: e.g. the same architecture without the defense) with APGD-CE and APGD-T and show its examples to the model; an image is robust only if every attack fails. The 'transfer' flag fires when that breaks more than noise (gradient masking).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the attacks' random draws.")] = 0,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Load the model (and a --transfer-from surrogate) with Keras's safe_mode=False: needed for a Lambda layer, whose stored Python code runs on loading. Only for files you trust.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per saved batch and per compiled attack batch (lower it for large models; results do not depend on it, and a run resumed with another batch size keeps the batches it finished).")] = 1000,
    verify: Annotated[Optional[str], typer.Option(help="Also verify at the attack's L∞ ε with ibp, crown or milp (kerasll verify): prints verified ≤ true robust accuracy ≤ AutoAttack on the same images, the lower end beside the attack's number.")] = None,
    strategy: Annotated[str, typer.Option(help="Where the batches run: auto (all GPUs when there are several), one (one device), mirrored (every local device, a batch each, on TensorFlow and JAX; KERASLL_CPU_DEVICES=N splits the CPU) or multiworker (TensorFlow: the cluster in TF_CONFIG, as for train: run the same command on every worker; the chief gathers and writes). Results are identical to one process.")] = "auto",
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Clean and robust accuracy (and Φ, ε-curves) of a zoo entry or a .keras file, with self-checks.

    Zoo results are saved in the entry's eval.json, keyed by their settings, and
    reused unless --force. Long runs are resumable: every finished batch of images
    is saved (in the entry, or beside --json for a file), and re-running the same
    command after Ctrl-C, a kill or a power loss continues at the first unfinished
    batch, with the same result per image. Each result carries flags, the signs of
    a broken evaluation (gradient masking, a weaker attack beating a stronger one,
    random noise beating the attack, probabilities instead of logits).

    Examples:

      kerasll eval fmnist-lenet-amsreg --attack autoattack

      kerasll eval model.keras --data test.npz --eps 8/255 --attack autoattack --json aa.json

      kerasll eval model.keras --data images/ --eps 4/255 --input-scale 255

      kerasll eval fmnist-lenet-at --eps-curve 0,5,10,15,20,25/255

      kerasll eval fmnist-lenet-at --attack autoattack --check-budget --transfer-from fmnist-lenet-none

      kerasll eval fmnist-lenet-at --attack autoattack --norm l1 --limit 500

      kerasll eval fmnist-lenet-at --json - | jq .attack.robust_accuracy

      kerasll eval fmnist-mlp-ibp --attack autoattack --verify milp --limit 200
    """
    from kerasll.evaluation.settings import parse_number
    from kerasll.zoo.requests import EvalRequest, Inputs

    to_stdout = json_out is not None and str(json_out) == "-"
    inputs = Inputs(data=data, data_keys=tuple(k.strip() for k in data_keys.split(",")), dataset=dataset,
                    data_dir=data_dir, source=source, limit=limit, input_scale=input_scale, unsafe=unsafe, seed=seed,
                    batch_size=batch_size, strategy=strategy, force=force)
    request = EvalRequest(
        attack=attack, norm=norm, version=version, eps=parse_number(eps, "eps"), steps=steps,
        step_size=parse_number(step_size, "step size"), restarts=restarts, queries=queries, flatness=flatness,
        landscape=landscape, sweep=eps_sweep, curve=parse_budgets(eps_curve), check_budget=check_budget,
        transfer_from=transfer_from, inputs=inputs)
    check_request(name, request, zoo)
    if verify is not None:
        check_verify(verify, norm)
    with stdout_for_data(to_stdout), kept_only_with_json(name, None if to_stdout else json_out):
        out = _evaluate(name, request, None if to_stdout else json_out, zoo, verify)
    if to_stdout:
        print_json(export(out))


def parse_budgets(text):
    """'0,2,4,8/255' → (0, 2/255, 4/255, 8/255): a trailing /255 applies to every number without one."""
    if text is None:
        return None
    from kerasll.errors import KerasllError
    from kerasll.evaluation.settings import parse_number

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise KerasllError(f"--eps-curve needs budgets such as 0,2,4,8/255, got {text!r}")
    scale = parts[-1].split("/", 1)[1] if "/" in parts[-1] else None
    values = [parse_number(p if "/" in p or scale is None else f"{p}/{scale}", "--eps-curve budget") for p in parts]
    if any(v < 0 for v in values):
        raise KerasllError(f"--eps-curve budgets must be ≥ 0, got {text!r}")
    return tuple(sorted(set(values)))


def check_verify(method, norm):
    """--verify names a verification method, and the threat model is L∞ (what the verifiers bound)."""
    from kerasll.errors import KerasllError, check_choice
    from kerasll.verification.verify import METHODS

    check_choice("--verify method", method, tuple(METHODS))
    if norm != "linf":
        raise KerasllError(f"--verify bounds L∞ balls; --norm is {norm!r}: use --norm linf, or drop --verify")


def _verified_too(name, request, out, zoo, method, context):
    """`kerasll verify NAME --method METHOD` at the attack's ε on the same images, shown and added to `out`: on the
    chief alone (the other workers are done), over its local devices when the run spreads over them."""
    from kerasll.cli.verified import rows_of, show_verification
    from kerasll.evaluation.settings import EvalSettings
    from kerasll.zoo.verification import verify_model

    if out.get("attack") is None:
        return
    eps = EvalSettings.from_dict(out["attack"]["settings"]).eps
    from kerasll.zoo.evaluation import context_of

    if context.spread.multiworker:
        context = context_of(request.inputs, log=context.log)
    _, results, intervals = verify_model(open_zoo(zoo), name, request.inputs, (eps,), method, context)
    show_verification(method, results, intervals)
    out["verify"] = rows_of(results, intervals)


def _evaluate(name, request, json_out, zoo, verify=None):
    from kerasll.cli.progress import TaskProgress
    from dataclasses import replace

    from kerasll.distribution.strategies import evaluation_strategy
    from kerasll.errors import KerasllError
    from kerasll.zoo.evaluation import context_of, evaluate_entry, evaluate_file
    from kerasll.zoo.figures import histogram_figure, landscape_figures

    log = lambda line: console.print(f"  {line}", soft_wrap=True)  # noqa: E731
    # The strategy first: multiworker needs TensorFlow's devices untouched.
    context = context_of(request.inputs, log=log, strategy=evaluation_strategy(request.inputs.strategy))
    chief = context.writes
    if not chief:
        json_out = None  # the chief writes
    if json_out is not None:
        check_writable(json_out)
    if is_model_file(name):
        if request.inputs.data is None and request.inputs.dataset is None:
            raise KerasllError(f"{name} is a model file: name its test data with --data (a .npz, an image folder, "
                               f"tfds:NAME[:SPLIT]) or --dataset ({datasets()})")
        records = None if json_out is None else Path(str(json_out) + ".records")
        with TaskProgress(f"evaluating {Path(name).name}") as progress:
            out = evaluate_file(name, request, records, replace(context, progress=progress.attack),
                                open_zoo(zoo) if request.transfer_from else None)
        if not chief:
            console.print("this worker is done; the chief writes the results")
            return out
        show(Path(name).name, out)
        if verify is not None:
            _verified_too(name, request, out, zoo, verify, context)
        if request.landscape:  # beside --json, else in ./MODEL-figures/
            from kerasll.zoo.figures import file_figures

            folder = Path(str(json_out) + ".figures") if json_out else Path(f"{Path(name).stem}-figures")
            for p in file_figures(name, request, folder):
                console.print(f"  wrote {p}", soft_wrap=True)
        if json_out is not None:
            write_json_file(json_out, out)
        return out
    store = open_zoo(zoo)
    with TaskProgress(f"evaluating {name}") as progress:
        out = evaluate_entry(store, name, request, replace(context, progress=progress.attack))
    if not chief:
        console.print(f"this worker is done; the chief writes the results of {name}")
        return out
    show(name, out)
    if verify is not None:
        _verified_too(name, request, out, zoo, verify, context)
    if request.landscape:
        paths = []
        for directions in ("random", "fgsm"):
            paths += landscape_figures(store, name, request.inputs, directions=directions)
        paths.append(histogram_figure(store, name, request.inputs))
        for p in paths:
            console.print(f"  wrote {p}", soft_wrap=True)
    if json_out is not None:
        write_json_file(json_out, out)
    console.print(f"  results in {store.get(name).eval_path}", soft_wrap=True)
    return out


def show(name, out):
    from kerasll.evaluation.kinds import CurveSettings, SweepSettings
    from kerasll.evaluation.settings import EvalSettings, fmt_budget
    from kerasll.zoo.results import curve_points

    a = out.get("attack") or {}
    first = a or out["curve"]
    cached = " (cached; --force to recompute)" if first["cached"] else ""
    console.print(f"[bold]{name}[/]  {first['key']}{cached}", soft_wrap=True)
    if a:
        s = EvalSettings.from_dict(a["settings"])
        label = "AutoAttack" if s.attack == "autoattack" else s.attack.upper()
        width = max(len(label), 5) + 11
        console.print(f"  {'clean accuracy':<{width}}{100 * a['clean_accuracy']:.2f}%  ({a['samples']} test images"
                      + (f" of {a['data']})" if a.get("data") else ")"), soft_wrap=True)
        console.print(f"  {label + ' accuracy':<{width}}{100 * a['robust_accuracy']:.2f}%")
        for attack, acc in a.get("by_attack", {}).items():
            console.print(f"    after {attack:<10}{100 * acc:.2f}%  "
                          f"({a.get('seconds_by_attack', {}).get(attack, 0):.1f} s)")
        for check, what in (("budget_check", "twice the budget"), ("transfer", f"transfer from {s.transfer}")):
            if check in a.get("adaptive", {}):
                c = a["adaptive"][check]
                console.print(f"    {what} broke {c['broken']} of the {c['robust_before']} images left robust",
                              soft_wrap=True)
    if "flatness" in out:
        f = out["flatness"]
        console.print(f"  Φ (mean)         {f['phi']:.4f}   Φ (sum, paper Eq. 7) {f['phi_sum']:.2f}"
                      + (" (cached)" if f["cached"] else ""))
    if "flatness_fgsm" in out:
        f = out["flatness_fgsm"]
        console.print(f"  Φ along FGSM     {f['phi']:.4f}" + (" (cached)" if f["cached"] else ""))
    for part, label in (("sweep", "ε sweep (AutoAttack fast)"), ("curve", "ε curve")):
        if part in out:
            norm = {"sweep": SweepSettings, "curve": CurveSettings}[part].from_dict(out[part]["settings"]).norm
            console.print(f"  {label}: " + ", ".join(f"ε={fmt_budget(e, norm)}: {100 * v:.2f}%"
                                                     for e, v in curve_points(out[part]).items()), soft_wrap=True)
    flags = a.get("flags", []) + out.get("sweep", {}).get("flags", []) + out.get("curve", {}).get("flags", [])
    for f in flags:
        console.print(f"  [yellow]flag {f['code']}[/]: {f['message']} — try: {f['hint']}", soft_wrap=True)
    if "flags" in a and not flags:
        console.print("  no flags: none of the checks for a broken evaluation fired")


def export(out):
    """The results as `--json` writes them: AutoAttack's also under RobustBench's field names."""
    from kerasll.evaluation.settings import EvalSettings
    from kerasll.zoo.results import robustbench_fields

    a = out.get("attack")
    if a is None or EvalSettings.from_dict(a["settings"]).attack != "autoattack":
        return out
    return out | {"robustbench": robustbench_fields(a)}


def write_json_file(path, data):
    from kerasll._files import write_json

    write_json(Path(path).expanduser(), export(data))
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
    from kerasll.evaluation.settings import parse_number

    check_choice("figure format", fmt, ("png", "pdf", "svg"))
    check_entries(zoo, name, *(compare or ()))  # before TensorFlow starts
    from kerasll.zoo.figures import landscape_figures
    from kerasll.zoo.requests import Inputs

    paths = landscape_figures(open_zoo(zoo), name, Inputs(data_dir=data_dir, source=source), sample,
                              compare or (), fmt, directions=directions, grid=grid,
                              radius=parse_number(radius, "radius"), seed=seed)
    for p in paths:
        console.print(f"wrote {p}", soft_wrap=True)
