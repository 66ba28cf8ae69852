"""`kerasll plot`: figures from stored results, several models on one axis."""

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from kerasll.cli.common import ZooOption, console, new_app, open_zoo

app = new_app("Figures from stored results: several models on one axis.")


@app.command("eps-curve")
def eps_curve_command(
    names: Annotated[List[str], typer.Argument(help="Zoo entries with an ε-curve (`kerasll eval NAME --eps-curve …`), or --json files written by such a run.")],
    out: Annotated[Path, typer.Option(help="The figure to write (.png, .pdf or .svg).")] = Path("eps-curve.png"),
    title: Annotated[Optional[str], typer.Option(help="Figure title (default: the attack and the number of images).")] = None,
    zoo: ZooOption = None,
):
    """Robust accuracy against ε, one line per model; ε = 0 is the clean accuracy, the evaluation ε dashed.

    Examples:

      kerasll eval fmnist-lenet-at --eps-curve 0,5,10,15,20,25,30/255

      kerasll plot eps-curve fmnist-lenet-at fmnist-lenet-amsreg fmnist-lenet-none --out curves.pdf
    """
    from kerasll.figures import plot_eps_curves
    from kerasll.zoo.curves import stored_curves

    curves = stored_curves(open_zoo(zoo), names)
    budgets = {c.eval_eps for c in curves if c.eval_eps is not None}
    attacks = sorted({c.attack for c in curves})
    samples = sorted({c.samples for c in curves})
    title = title or f"{', '.join(attacks)} on {', '.join(map(str, samples))} test images"
    path = plot_eps_curves([(f"{c.label} ({c.attack})" if len(attacks) > 1 else c.label, c.curve) for c in curves],
                           out, eval_eps=budgets.pop() if len(budgets) == 1 else None, norm=curves[0].norm,
                           title=title)
    for c in curves:
        console.print(f"{c.label}: " + ", ".join(f"{_eps(e, c.norm)} {100 * a:.2f}%" for e, a in sorted(c.curve.items())),
                      soft_wrap=True)
    console.print(f"wrote {path}", soft_wrap=True)


def _eps(e, norm):
    return f"{e * 255:.4g}/255" if norm == "linf" else f"{e:.4g}"


@app.command("certified")
def certified_command(
    names: Annotated[List[str], typer.Argument(help="Zoo entries certified by `kerasll certify`, or --json files written by it.")],
    sigma: Annotated[Optional[str], typer.Option(help="Only these noise levels, comma-separated (default: every stored σ).")] = None,
    out: Annotated[Path, typer.Option(help="The figure to write (.png, .pdf or .svg).")] = Path("certified.png"),
    title: Annotated[Optional[str], typer.Option(help="Figure title.")] = None,
    zoo: ZooOption = None,
):
    """Certified accuracy against the L2 radius, one line per model and σ (Cohen et al.'s Fig. 2).

    Examples:

      kerasll certify fmnist-lenet-gaussian --sigma 0.12,0.25,0.5 --limit 500 --n 10000

      kerasll plot certified fmnist-lenet-gaussian fmnist-lenet-at --sigma 0.25 --out certified.pdf
    """
    from kerasll.cli.common import parse_list
    from kerasll.figures import plot_certified_curves
    from kerasll.zoo.results import stored_certificates

    sigmas = parse_list(sigma, "--sigma") if sigma else None
    zoo_ = open_zoo(zoo)
    found = [c for name in names for c in stored_certificates(zoo_, name, sigmas)]
    gone = next((c for c in found if c.radii is None), None)
    if gone is not None:
        from kerasll.errors import KerasllError

        raise KerasllError(f"the per-image records of {gone.label} σ={gone.sigma:g} are gone: "
                           f"re-run `kerasll certify {gone.label} --sigma {gone.sigma:g} --force`")
    path = plot_certified_curves([(f"{c.label} σ={c.sigma:g}", c.radii) for c in found], out, title=title)
    for c in found:
        r = c.result
        console.print(f"{c.label} σ={c.sigma:g} ({r['samples']} images, n={c.settings.n}): "
                      + ", ".join(f"r={k} {100 * a:.1f}%" for k, a in r["certified_accuracy"].items())
                      + f"; mean radius {r['mean_radius']:.3f}", soft_wrap=True)
    console.print(f"wrote {path}", soft_wrap=True)


@app.command("bounds")
def bounds_command(
    names: Annotated[List[str], typer.Argument(help="Zoo entries verified by `kerasll verify` (and attacked by `kerasll eval --attack autoattack` or `--eps-curve`).")],
    out: Annotated[Path, typer.Option(help="The figure to write (.png, .pdf or .svg).")] = Path("bounds.png"),
    title: Annotated[Optional[str], typer.Option(help="Figure title.")] = None,
    zoo: ZooOption = None,
):
    """L∞ robust accuracy from both sides against ε: AutoAttack's (an upper bound, solid) and the verified
    accuracy (a lower bound, dashed, each point marked ibp, crown or milp), one colour per model.

    Examples:

      kerasll verify fmnist-lenet-ibp --eps 0.05,25/255,0.1 --method ibp

      kerasll plot bounds fmnist-lenet-ibp fmnist-mlp-ibp --out bounds.pdf
    """
    from kerasll.figures import plot_bounds
    from kerasll.zoo.curves import stored_bounds

    zoo_ = open_zoo(zoo)
    found = [stored_bounds(zoo_, name) for name in names]
    path = plot_bounds([(b.label, b.attacked, b.verified) for b in found], out, title=title)
    for b in found:
        both = sorted(set(b.attacked) & set(b.verified))
        console.print(f"{b.label}: " + (", ".join(f"ε {_eps(e, 'linf')}: {100 * b.verified[e][0]:.2f}% ≤ truth ≤ "
                                                  f"{100 * b.attacked[e]:.2f}%" for e in both)
                                        or "no ε with both ends stored"), soft_wrap=True)
    console.print(f"wrote {path}", soft_wrap=True)
