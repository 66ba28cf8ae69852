"""The paper-style report: our table beside the paper's, and Φ vs robustness (Fig. 4)."""

from dataclasses import dataclass
from pathlib import Path

from kerasll.datasets import dataset_info
from kerasll.evaluation import attack_settings
from kerasll.zoo.results import (
    FLATNESS, OFFICIAL, VERIFY, adaptive_matching, adaptive_summary, best as find_best, describe, find as find_all,
    identified, matching,
    strength_label,
)


@dataclass(frozen=True)
class Summary:
    """An entry's headline numbers: the PGD preset (clean, robust, samples), Φ, AutoAttack standard
    L∞ at the data set's ε (accuracy, samples, the codes of its flags, and its whole stored result), and Φ
    along the FGSM direction. None where not measured."""

    clean: float | None = None
    robust: float | None = None
    phi: float | None = None
    samples: int | None = None
    phi_sum: float | None = None
    autoattack: float | None = None
    autoattack_samples: int | None = None
    flags: tuple = ()
    phi_fgsm: float | None = None
    autoattack_result: dict | None = None
    images: str = "test split"  # which images the numbers come from: the test split, or the embedded subset
    adaptive: dict | None = None  # the AutoAttack run with adaptive checks (budget, transfer), if one is stored
    phi_samples: int | None = None
    verified: float | None = None  # verified L∞ accuracy at the AutoAttack preset's ε (`kerasll verify`)
    verified_method: str | None = None  # on the most images, then the tightest: milp, crown, ibp
    verified_samples: int | None = None


def summary(entry):
    """The `Summary` of an entry from eval.json, each number from the run on the most test images
    of the data set's own test split (the embedded subset's when there is nothing else)."""
    meta = entry.metadata()
    pgd, aa = attack_settings(meta["dataset"]), attack_settings(meta["dataset"], "autoattack")
    results = entry.evaluations()
    tag = OFFICIAL if any(rid.data_tag == OFFICIAL for rid, _ in identified(results)) else "-embedded"
    best = next(iter(matching(results, pgd, tag)), None)  # only embedded-subset results: show those, not nothing
    best_aa = next(iter(matching(results, aa, tag)), None)
    best_phi, best_fgsm = (find_best(results, FLATNESS, tag, directions=d) for d in ("random", "fgsm"))
    adaptive = next(iter(adaptive_matching(results, aa, tag)), None)
    verified = verified_at(results, aa.eps, tag)
    return Summary(best and best["clean_accuracy"], best and best["robust_accuracy"], best_phi and best_phi["phi"],
                   best and best["samples"], best_phi and best_phi["phi_sum"],
                   best_aa and best_aa["robust_accuracy"], best_aa and best_aa["samples"],
                   tuple(f["code"] for f in best_aa.get("flags", [])) if best_aa else (), best_fgsm and best_fgsm["phi"],
                   best_aa, "embedded subset" if tag else "test split", adaptive, best_phi and best_phi["samples"],
                   verified and verified["verified_accuracy"], verified and verified["method"],
                   verified and verified["images"])


VERIFY_ORDER = ("milp", "crown", "ibp")  # tightest first: exact, then the linear bounds, then intervals


def verified_at(results, eps, tag):
    """The stored verification at `eps` (within 1e-9) on `tag`'s images: the one on the most images, then the
    tightest method (`VERIFY_ORDER`); an exact run with time-outs left out. None if there is none."""
    import math

    found = [r for r in find_all(results, VERIFY, tag) if math.isclose(r["settings"]["eps"], eps, abs_tol=1e-9)
             and not r.get("timed_out")]
    found.sort(key=lambda r: (-r["images"], VERIFY_ORDER.index(r["method"])))
    return found[0] if found else None


def pct(v):
    return "—" if v is None else f"{100 * v:.2f}"


COLUMNS = ("name", "dataset", "arch", "defense", "defense_label", "epochs", "phi", "phi_sum", "phi_fgsm", "clean_accuracy",
           "pgd_accuracy", "autoattack_accuracy", "flags", "paper_setting", "paper_phi", "paper_clean_accuracy",
           "paper_pgd_accuracy")


def report_rows(zoo, dataset=None):
    """One dict per complete, healthy entry (keys `COLUMNS`; accuracies as fractions, None when missing)."""
    rows = []
    for entry in zoo.complete_entries(dataset):
        meta = entry.metadata()
        s = summary(entry)
        paper = dataset_info(meta["dataset"]).paper_results.get((meta["arch"], meta["defense"]))
        rows.append({
            "name": meta["name"], "dataset": meta["dataset"], "arch": meta["arch"], "defense": meta["defense"],
            "defense_label": describe(meta), "defense_strength": strength_label(meta), "epochs": meta.get("epochs_completed"), "phi": s.phi,
            "phi_sum": s.phi_sum, "phi_fgsm": s.phi_fgsm, "clean_accuracy": s.clean, "pgd_accuracy": s.robust, "autoattack_accuracy": s.autoattack,
            "verified_accuracy": s.verified, "verified_method": s.verified_method, "verified_samples": s.verified_samples,
            "flags": list(s.flags), "flag_details": (s.autoattack_result or {}).get("flags", []),
            "adaptive": adaptive_summary(s.adaptive) if s.adaptive else None,
            "adaptive_flags": [f for f in (s.adaptive or {}).get("flags", []) if f["code"] in ("budget", "transfer")],
            "by_attack": (s.autoattack_result or {}).get("by_attack"), "paper_setting": paper and paper[0], "paper_phi": paper and paper[1],
            "paper_clean_accuracy": paper and paper[2] / 100, "paper_pgd_accuracy": paper and paper[3] / 100,
            "images": s.images, "samples": s.samples, "autoattack_samples": s.autoattack_samples,
            "phi_samples": s.phi_samples, "adaptive_samples": (s.adaptive or {}).get("samples"),
        })
    for r in rows:  # Φ beside the undefended network's of the same architecture: the scale-free comparison
        none = next((q for q in rows if (q["dataset"], q["arch"], q["defense"]) == (r["dataset"], r["arch"], "none")
                     and q["phi"] is not None), None)
        paper_none = dataset_info(r["dataset"]).paper_results.get((r["arch"], "none"))
        r["phi_ratio"] = r["phi"] / none["phi"] if none and r["phi"] is not None else None
        r["paper_phi_ratio"] = r["paper_phi"] / paper_none[1] if paper_none and r["paper_phi"] is not None else None
    return sorted(rows, key=lambda r: (r["dataset"], r["arch"], r["defense"], r["name"]))


def images_cell(r):
    """How many test images a row's numbers come from: one count where PGD and AutoAttack agree ('10,000'),
    Φ's and the verification's when they differ ('10,000; Φ 1,000'), and the images when they are not the test
    split ('1,000 (embedded subset)')."""
    pgd, aa, phi = r["samples"], r["autoattack_samples"], r["phi_samples"]
    attacks = {n for n in (pgd, aa) if n}
    if len(attacks) == 2:
        cell = f"PGD\u00a0{pgd:,}, AutoAttack\u00a0{aa:,}"  # no-break spaces: a label stays with its number
    else:
        cell = f"{next(iter(attacks)):,}" if attacks else ""
    if phi and phi not in attacks:
        cell += ("; " if cell else "") + f"Φ\u00a0{phi:,}"
    verified = r.get("verified_samples")
    if verified and verified not in attacks:
        cell += ("; " if cell else "") + f"verified\u00a0{verified:,}"
    if not cell:
        return "—"
    return cell if r["images"] == "test split" else f"{cell} ({r['images']})"


def evaluated(row):
    """Whether an entry has any number to report (else the report lists it apart)."""
    return any(row[k] is not None for k in ("clean_accuracy", "phi", "autoattack_accuracy"))


@dataclass(frozen=True)
class Fig4:
    """Fig. 4 of a data set: the figure and each family's Spearman ρ, or why it was not drawn (`note`)."""

    path: Path | None = None
    rhos: dict | None = None
    note: str | None = None


def fig4(rows, dataset, out_dir):
    """Draw Φ vs PGD accuracy per defense family with ≥ 2 strengths (a `Fig4`)."""
    records = [{"family": f"{r['arch']} {r['defense']}", "label": r["defense_strength"],
                "phi": r["phi"], "robust_accuracy": r["pgd_accuracy"]}
               for r in rows if r["phi"] is not None and r["pgd_accuracy"] is not None and r["defense"] != "none"]
    families = {r["family"] for r in records if sum(q["family"] == r["family"] for q in records) >= 2}
    records = [r for r in records if r["family"] in families]
    if not records:
        sweep = {"fashion_mnist": "sweep-fmnist-lenet-amsreg-0.15", "cifar10": "sweep-cifar10-ddnet-at-eps2"}.get(dataset)
        hint = f" (e.g. `kerasll train --recipe {sweep}`, then `kerasll eval NAME --flatness`)" if sweep else ""
        return Fig4(note=f"Fig. 4 for {dataset} skipped: it needs Φ and PGD results of at least two strengths of one "
                         f"defense on one architecture; train and evaluate another strength{hint}, or run "
                         "`kerasll reproduce sweeps-lenet`")
    from kerasll import figures  # matplotlib only when a figure is drawn: `zoo list` uses this module too

    path, rhos = figures.plot_flatness_vs_robustness(records, Path(out_dir) / f"fig4-{dataset}.png",
                                                     title=f"Φ vs PGD accuracy, {dataset}")
    return Fig4(path, rhos)


def preamble(dataset):
    info = dataset_info(dataset)
    return [f"PGD L∞ ε={info.eval_eps * 255:g}/255, {info.eval_steps} steps of {info.eval_step_size * 255:g}/255, "
            "random start. Φ: mean AMS score over a 5×5 lattice of radius ε, 2 direction pairs per image "
            "(`reduction=\"mean\"`); Φ(sum) = 25 × Φ is the paper's Eq. 7 on this lattice.",
            "AutoAttack: standard version (APGD-CE, APGD-T, FAB-T, Square), L∞ at the same ε; flags name the "
            "self-checks that fired (`kerasll eval NAME --attack autoattack` explains each), and the adaptive checks "
            "say on how many images they ran. Test images: how many PGD and AutoAttack ran on (and Φ, where it "
            "differs), from the test split unless the cell says otherwise. Verified: the share proven robust at the "
            "same ε (`kerasll verify`; the run on the most images, then the tightest method: milp, crown, ibp), "
            "a lower bound where AutoAttack's is an upper one.",
            PAPER_PHI_NOTE]


PAPER_PHI_NOTE = ("The paper's Φ sums over a lattice whose size and radius it does not state, so its values and ours "
                  "are on different scales; each Φ divided by the undefended network's (÷ none: lower is flatter) "
                  "compares the two.")


HEADERS = ("entry", "arch", "defense", "epochs", "Φ", "Φ (sum)", "Φ ÷ none", "Φ FGSM", "clean %", "PGD %",
           "AutoAttack %", "verified %", "flags", "test images", "paper Φ", "paper Φ ÷ none", "paper clean %", "paper PGD %")
PAPER_COLUMNS = 4  # the last four of HEADERS: the paper's numbers for the same row


def table_cells(r):
    """A row's cells as strings, in `HEADERS` order."""
    paper = [f"{r['paper_phi']:.1f} ({r['paper_setting']})", ratio(r["paper_phi_ratio"]), pct(r["paper_clean_accuracy"]),
             pct(r["paper_pgd_accuracy"])] if r["paper_setting"] else ["—"] * PAPER_COLUMNS
    return [r["name"], r["arch"], r["defense_label"], str(r["epochs"]), "—" if r["phi"] is None else f"{r['phi']:.3f}",
            "—" if r["phi_sum"] is None else f"{r['phi_sum']:.1f}", ratio(r["phi_ratio"]),
            "—" if r["phi_fgsm"] is None else f"{r['phi_fgsm']:.3f}", pct(r["clean_accuracy"]), pct(r["pgd_accuracy"]),
            pct(r["autoattack_accuracy"]), verified_cell(r), flags_cell(r), images_cell(r), *paper]


def verified_cell(r):
    """Verified accuracy at AutoAttack's ε and its method ('68.47 ibp'): the lower end beside AutoAttack's
    upper; how many images it ran on is in the test-images cell."""
    if r.get("verified_accuracy") is None:
        return "—"
    return f"{pct(r['verified_accuracy'])} {r['verified_method']}"


def ratio(v):
    return "—" if v is None else f"{v:.3f}"


def flags_cell(r):
    """The flags that fired, and what the adaptive checks found where they ran."""
    codes = [*r["flags"], *(f["code"] for f in r.get("adaptive_flags") or [])]
    cell = ", ".join(codes) or "—"
    if not r.get("adaptive"):
        return cell
    on = f" on {r['adaptive_samples']:,} images" if r.get("adaptive_samples") else ""
    return cell + f" (adaptive checks{on}: {r['adaptive']})"


def write_markdown(rows, dataset, out_dir, fig, extra_figures=()):
    """report-<dataset>.md: the table, Fig. 4 (or why not) and `extra_figures` [(title, path)] beside it."""
    lines = [f"# kerasll report: {dataset}", ""]
    for p in preamble(dataset):
        lines += [p, ""]
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    if fig.path:
        lines += ["", f"![Φ vs PGD accuracy]({fig.path.name})", "",
                  "Spearman rank correlation of Φ and PGD accuracy per family: "
                  + ", ".join(f"{k}: {v:.2f}" for k, v in sorted(fig.rhos.items()))]
    else:
        lines += ["", fig.note]
    for title, path in extra_figures:
        lines += ["", f"![{title}]({Path(path).name})"]
    out = Path(out_dir) / f"report-{dataset}.md"
    out.write_text("\n".join(lines) + "\n")
    return out
