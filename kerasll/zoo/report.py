"""The paper-style report: our table beside the paper's, and Φ vs robustness (Fig. 4)."""

from collections import namedtuple
from pathlib import Path

from kerasll import figures
from kerasll.datasets import dataset_info
from kerasll.zoo.evaluation import attack_key, attack_settings, describe
from kerasll.zoo.paper import PAPER_RESULTS


Summary = namedtuple("Summary", "clean robust phi samples phi_sum autoattack autoattack_samples flags")
Summary.__doc__ = """An entry's headline numbers: the PGD preset (clean, robust, samples), Φ, and
AutoAttack standard L∞ at the data set's ε (accuracy, samples, and the codes of its flags)."""


def summary(entry):
    """The `Summary` of an entry from eval.json, each number from the run on the most test images."""
    meta = entry.metadata()
    results = entry.evaluations()
    settings = attack_settings(meta["dataset"])
    preset = attack_key(settings, 0).rsplit("-n", 1)[0]
    aa_preset = attack_key(attack_settings(meta["dataset"], "autoattack"), 0).rsplit("-n", 1)[0]
    official = {k: r for k, r in results.items() if not k.endswith("-embedded")}
    if not official:  # only embedded-subset results: show those rather than nothing
        official = {k.removesuffix("-embedded"): r for k, r in results.items()}
    attack = [r for k, r in official.items() if k.rsplit("-n", 1)[0] == preset]
    aa = [r for k, r in official.items() if k.rsplit("-n", 1)[0] == aa_preset]
    phi = [r for k, r in official.items() if k.startswith("phi-")]
    best = max(attack, key=lambda r: r["samples"], default=None)
    best_aa = max(aa, key=lambda r: r["samples"], default=None)
    best_phi = max(phi, key=lambda r: r["settings"]["samples"], default=None)
    return Summary(best and best["clean_accuracy"], best and best["robust_accuracy"], best_phi and best_phi["phi"],
                   best and best["samples"], best_phi and best_phi["phi_sum"],
                   best_aa and best_aa["robust_accuracy"], best_aa and best_aa["samples"],
                   [f["code"] for f in best_aa.get("flags", [])] if best_aa else [])


def _pct(v):
    return "—" if v is None else f"{100 * v:.2f}"


def report(zoo, dataset=None, out_dir=None):
    """Write report-<dataset>.md and fig4-<dataset>.png for complete entries; return their paths."""
    rows = []
    for entry in zoo.entries():
        if entry.problem() or entry.status() != "complete":
            continue
        meta = entry.metadata()
        if dataset and meta["dataset"] != dataset:
            continue
        rows.append((meta, summary(entry)))
    out_dir = Path(out_dir or ".")  # never inside the zoo: a folder there would read as a damaged entry
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ds in sorted({m["dataset"] for m, _ in rows}):
        info = dataset_info(ds)
        lines = [f"# kerasll report: {ds}", "",
                 f"PGD L∞ ε={info.eval_eps * 255:g}/255, {info.eval_steps} steps of {info.eval_step_size * 255:g}/255, "
                 "random start. Φ: mean AMS score over a 5×5 lattice of radius ε, 2 direction pairs per image "
                 "(`reduction=\"mean\"`); Φ(sum) = 25 × Φ is the paper's Eq. 7 on this lattice.", "",
                 "AutoAttack: standard version (APGD-CE, APGD-T, FAB-T, Square), L∞ at the same ε; flags name the "
                 "self-checks that fired (`kerasll eval NAME --attack autoattack` explains each).", "",
                 "| entry | arch | defense | epochs | Φ | Φ (sum) | clean % | PGD % | AutoAttack % | flags | paper Φ | paper clean % | paper PGD % |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        records = []
        for meta, (clean, robust, phi, n, phi_sum, aa, _, flags) in sorted(
                (r for r in rows if r[0]["dataset"] == ds), key=lambda r: (r[0]["arch"], r[0]["defense"], r[0]["name"])):
            paper = PAPER_RESULTS.get((ds, meta["arch"], meta["defense"]))
            paper_cells = [f"{paper[1]:.1f} ({paper[0]})", f"{paper[2]:.2f}", f"{paper[3]:.2f}"] if paper else ["—"] * 3
            lines.append(f"| {meta['name']} | {meta['arch']} | {describe(meta)} | {meta.get('epochs_completed')} | "
                         f"{'—' if phi is None else f'{phi:.3f}'} | {'—' if phi_sum is None else f'{phi_sum:.1f}'} | "
                         f"{_pct(clean)} | {_pct(robust)} | {_pct(aa)} | {', '.join(flags) or '—'} | "
                         + " | ".join(paper_cells) + " |")
            if phi is not None and robust is not None and meta["defense"] != "none":
                records.append({"family": f"{meta['arch']} {meta['defense']}", "label": describe(meta).split(" ", 1)[1],
                                "phi": phi, "robust_accuracy": robust})
        md = out_dir / f"report-{ds}.md"
        families = {r["family"] for r in records if sum(q["family"] == r["family"] for q in records) >= 2}
        records = [r for r in records if r["family"] in families]
        if records:
            fig, rhos = figures.plot_flatness_vs_robustness(records, out_dir / f"fig4-{ds}.png",
                                                            title=f"Φ vs PGD accuracy, {ds}")
            lines += ["", f"![Φ vs PGD accuracy]({fig.name})", "",
                      "Spearman rank correlation of Φ and PGD accuracy per family: "
                      + ", ".join(f"{k}: {v:.2f}" for k, v in sorted(rhos.items()))]
            written.append(fig)
        md.write_text("\n".join(lines) + "\n")
        written.insert(0, md)
    return written
