"""docs/results.md's certified-robustness block: every shipped entry certified at several σ, and whether Φ
orders the entries as their certified radius does.

Data in (`CertifiedRow`: an entry's label, name, Φ, AutoAttack accuracy and stored certifications), Markdown out.
"""

from dataclasses import dataclass

import numpy as np

from kerasll.certification.smoothing import CertifyResult
from kerasll.stats import rank_correlation, rank_correlation_p_value

SIGNIFICANCE = 0.05  # a rank correlation is called a finding when its exact permutation p-value is below this


@dataclass(frozen=True)
class CertifiedRow:
    label: str
    name: str
    phi: float | None
    autoattack: float | None
    by_sigma: dict  # {σ: the stored certification result}


def correlations(rows, sigma):
    """At σ: Spearman ρ and its exact p-value of the mean certified radius against Φ and against the
    AutoAttack accuracy, over the entries that have both."""
    out = {}
    for what in ("phi", "autoattack"):
        pairs = [(getattr(r, what), r.by_sigma[sigma]["mean_radius"]) for r in rows
                 if getattr(r, what) is not None and sigma in r.by_sigma]
        a, b = [p for p, _ in pairs], [q for _, q in pairs]
        out[what] = (rank_correlation(a, b), rank_correlation_p_value(a, b), len(pairs))
    return out


def _verdict(rho, p, n):
    if n < 3 or rho != rho:
        return "too few entries to say"
    if p < SIGNIFICANCE:
        return f"ρ = {rho:+.2f} (exact p = {p:.3f}, {n} entries): " + (
            "a flatter landscape goes with a larger certified radius" if rho > 0 else
            "a flatter landscape goes with a *smaller* certified radius")
    return f"ρ = {rho:+.2f} (exact p = {p:.2f}, {n} entries): no ordering that {n} entries can tell from chance"


def certified_section(rows, command, figure=None):
    sigmas = sorted({s for r in rows for s in r.by_sigma})
    first = next(iter(rows[0].by_sigma.values())) if rows else {}
    settings = first.get("settings", {})
    lines = ["## Certified robustness: randomized smoothing on the shipped LeNets", "",
             f"Cohen et al.'s CERTIFY (`kerasll certify`) on the first {first.get('samples', '?')} test images: "
             f"n0 = {settings.get('n0')} draws to select the class, n = {settings.get('n'):,} to bound its "
             f"probability (Cohen et al. use 100,000; n = 10,000 fits this CPU and caps the radius at "
             f"σ·Φ⁻¹(α^(1/n)) ≈ 3.2σ), α = {settings.get('alpha')}, seed {settings.get('seed')}. Gaussian noise "
             "in pixel units, not clipped. Certified accuracy at radius r: the share of images classified "
             "correctly with a certified L2 radius ≥ r (r = 0: the smoothed classifier's accuracy); mean radius "
             f"counts a wrong or abstained image as 0. Produced by `{command}`, which stores each result in the "
             "entry's eval.json (`kerasll certify NAME --sigma …` gives the same numbers).", "",
             "| defense | σ | smoothed clean % | r=0.25 % | r=0.5 % | r=0.75 % | r=1 % | abstain % | mean radius |",
             "|---|---|---|---|---|---|---|---|---|"]
    for sigma in sigmas:
        for r in rows:
            c = r.by_sigma.get(sigma)
            if c is None:
                continue
            acc = c["certified_accuracy"]
            lines.append(f"| {r.label} | {sigma:g} | {100 * c['clean_accuracy']:.1f} | "
                         + " | ".join(f"{100 * acc[k]:.1f}" for k in ("0.25", "0.5", "0.75", "1"))
                         + f" | {100 * c['abstention_rate']:.1f} | {c['mean_radius']:.3f} |")
    lines += ["", "**Does Φ order the entries as the certified radius does?** Spearman's ρ between each entry's Φ "
              "(random directions, 1,000 images) and its mean certified radius, with the exact permutation "
              f"p-value (every ordering of the entries); a finding needs p < {SIGNIFICANCE}. The AutoAttack "
              "(L∞) accuracy is ranked the same way for comparison.", "",
              "| σ | Φ vs mean radius | AutoAttack accuracy vs mean radius |", "|---|---|---|"]
    for sigma in sigmas:
        c = correlations(rows, sigma)
        lines.append(f"| {sigma:g} | {_verdict(*c['phi'])} | {_verdict(*c['autoattack'])} |")
    if figure:
        lines += ["", f"![certified accuracy against the L2 radius]({figure})"]
    return lines


def as_result(prediction, radius, y):
    """Another implementation's per-image answers (class or −1, radius) as a `CertifyResult` (no bounds)."""
    n = len(prediction)
    return CertifyResult(np.asarray(prediction), np.asarray(radius), np.asarray(prediction) == np.asarray(y),
                         np.full(n, np.nan), np.full(n, -1))


def side(result):
    """One side of the side-by-side: `CertifyResult.summary` with radii written as in eval.json ("0.25")."""
    s = result.summary()
    return {"certified_accuracy": {f"{r:g}": a for r, a in s["certified_accuracy"].items()},
            "abstention_rate": s["abstention_rate"], "mean_radius": s["mean_radius"]}


def agreement(a, b):
    """Image by image: the share with the same answer (class or abstain), and the mean |radius difference|."""
    return {"same_answer": float(np.mean(a.prediction == b.prediction)),
            "mean_abs_radius_difference": float(np.mean(np.abs(a.radius - b.radius)))}


def reference_section(done, command):
    """docs/evaluation.md's block: kerasll's certify beside the authors' `Smooth.certify`, from the script's JSON."""
    lines = ["Randomized smoothing beside the authors' code (locuslab/smoothing `Smooth.certify`, PyTorch, the same "
             "classifier rebuilt by Keras-torch, the same images and settings). Both sides draw their own noise, so "
             "they can agree only up to sampling noise; kerasll at seed 0 against seed 1 measures that noise. "
             f"Command: `{command}`.", "",
             "| entry | σ | images | n | radius | kerasll seed 0 % | kerasll seed 1 % | authors' code % |",
             "|---|---|---|---|---|---|---|---|"]
    shown = {}  # one run per entry and image count: other machines and kernels certify alike (second table)
    for run in done.values():
        shown.setdefault((run["entry"], run["images"]), run)
    for run in shown.values():
        for r in run["ours"]["certified_accuracy"]:
            lines.append(f"| {run['entry']} | {run['sigma']:g} | {run['images']} | {run['n']} | {r} | "
                         f"{100 * run['ours']['certified_accuracy'][r]:.1f} | "
                         f"{100 * run['ours_seed1']['certified_accuracy'][r]:.1f} | "
                         f"{100 * run['reference']['certified_accuracy'][r]:.1f} |")
    lines += ["", "| entry | images | machine and kernels | same answer, seed 0 vs 1 | same answer, kerasll vs authors' | "
              "mean abs radius diff, seed 0 vs 1 | kerasll vs authors' | kerasll s | authors' s | speed-up |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for run in done.values():
        noise, cross, t = run["seed_to_seed"], run["kerasll_to_reference"], run["seconds"]
        where = (f"{run['machine']}; {run['kernels']}" if "machine" in run
                 else "earlier CI machine (CPU not recorded), TensorFlow's default kernels")
        lines.append(f"| {run['entry']} | {run['images']} | {where} | {100 * noise['same_answer']:.1f}% | "
                     f"{100 * cross['same_answer']:.1f}% | {noise['mean_abs_radius_difference']:.4f} | "
                     f"{cross['mean_abs_radius_difference']:.4f} | {t['ours']:.1f} | {t['theirs']:.1f} | "
                     f"{t['theirs'] / t['ours']:.1f}× |")
    return lines
