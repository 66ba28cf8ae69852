"""`kerasll report`: gather a zoo's numbers and figures per data set, then write Markdown and HTML.

The arrows point one way: this module uses `report` (the table, Fig. 4) and
`report_html` (the page); neither imports it.
"""

from dataclasses import dataclass, field
from pathlib import Path

from kerasll import figures
from kerasll.datasets import dataset_info
from kerasll.errors import KerasllError
from kerasll.zoo.report import Fig4, evaluated, fig4, report_rows, write_markdown
from kerasll.zoo.requests import Inputs

ENTRY_FIGURES = {  # what the page shows per entry, and the file `kerasll eval --landscape` writes for it
    "landscape, random directions": "landscape-random-sample0.png",
    "landscape, FGSM direction": "landscape-fgsm-sample0.png",
    "likelihood histogram": "histogram.png",
}


@dataclass
class DatasetReport:
    """Everything reported for one data set: rows, Fig. 4, overview figures, and each entry's figures."""

    dataset: str
    rows: list
    fig4: Fig4
    overview: list = field(default_factory=list)  # [(title, path, caption)]
    entry_figures: dict = field(default_factory=dict)  # {entry: [(title, path)]}
    curves: list = field(default_factory=list)
    certified: list = field(default_factory=list)  # [StoredCertificate], every entry's, every σ


def certificates(zoo, rows):
    """Every stored certification of the entries in `rows`: [StoredCertificate], by entry then σ."""
    from kerasll.zoo.results import stored_certificates

    out = []
    for r in rows:
        try:
            out += stored_certificates(zoo, r["name"])
        except KerasllError:  # not certified
            continue
    return out


def common_sigma(certified):
    """The σ the most entries were certified at (ties: the one nearest 0.25, Cohen et al.'s middle level)."""
    counts = {}
    for c in certified:
        counts[c.sigma] = counts.get(c.sigma, 0) + 1
    return max(counts, key=lambda s: (counts[s], -abs(s - 0.25))) if counts else None


def certified_figures(rows, certified, dataset, out_dir):
    """At the common σ: every entry's certified curve on one axis, and Φ against the mean certified radius."""
    sigma, out = common_sigma(certified), []
    if sigma is None:
        return out
    at = [c for c in certified if c.sigma == sigma]
    drawn = [c for c in at if c.radii is not None]
    if drawn:
        path = figures.plot_certified_curves([(c.label, c.radii) for c in drawn],
                                             Path(out_dir) / f"certified-{dataset}.png",
                                             title=f"Certified accuracy vs L2 radius, σ = {sigma:g}")
        out.append((f"Certified accuracy vs L2 radius (σ = {sigma:g})", path,
                    "Randomized smoothing (`kerasll certify`): the share of test images classified correctly with a "
                    "certified L2 radius of at least r; a lower bound no attack can break (each certificate fails "
                    "with probability at most alpha)."))
    phi = {r["name"]: r["phi"] for r in rows if r["phi"] is not None}
    points = [(c.label, phi[c.label], c.mean_radius) for c in at if c.label in phi]
    if len(points) > 1:
        path, rho = figures.plot_phi_vs_accuracy(points, Path(out_dir) / f"phi-vs-radius-{dataset}.png",
                                                 ylabel=f"mean certified radius (σ = {sigma:g})", percent=False,
                                                 title="Φ vs mean certified radius")
        out.append((f"Φ vs mean certified radius (σ = {sigma:g})", path,
                    f"Does a flatter likelihood landscape (higher Φ) come with larger certified radii? Spearman "
                    f"ρ = {rho:.2f} over {len(points)} entries; the mean radius counts a wrong or abstained image "
                    "as 0."))
    return out


def overview_figures(rows, dataset, out_dir, zoo):
    """Φ vs AutoAttack accuracy over every entry, AutoAttack's waterfalls, and the stored ε-curves."""
    from kerasll.zoo.curves import stored_curve

    out, out_dir = [], Path(out_dir)
    points = [(r["name"], r["phi"], r["autoattack_accuracy"]) for r in rows
              if r["phi"] is not None and r["autoattack_accuracy"] is not None]
    if points:
        path, rho = figures.plot_phi_vs_accuracy(points, out_dir / f"phi-vs-autoattack-{dataset}.png",
                                                 title=f"Φ vs AutoAttack accuracy, {dataset}")
        out.append(("Φ vs AutoAttack accuracy", path,
                    f"Every entry with both numbers, whatever its defense (Spearman ρ = {rho:.2f} over "
                    f"{len(points)} entries); higher Φ is flatter."))
    falls = [(r["name"], r["clean_accuracy"] if r["clean_accuracy"] is not None else 1.0, r["by_attack"])
             for r in rows if r.get("by_attack")]
    if falls:
        out.append(("AutoAttack, attack by attack", figures.plot_waterfalls(falls, out_dir / f"waterfalls-{dataset}.png"),
                    "Accuracy on clean images, then after each attack of AutoAttack standard; each attack runs only "
                    "on the images still robust, and the numbers under a bar are the points it took."))
    curves = []
    for r in rows:
        try:
            curves.append(stored_curve(zoo, r["name"]))
        except KerasllError:  # an entry without an ε-curve
            continue
    norms = {c.norm for c in curves}
    if curves and len(norms) == 1:
        info = dataset_info(dataset)
        eval_eps = info.preset_eps(curves[0].norm)
        path = figures.plot_eps_curves([(c.label, c.curve) for c in curves], out_dir / f"eps-curves-{dataset}.png",
                                       eval_eps=eval_eps, norm=curves[0].norm)
        out.append(("Robust accuracy vs ε", path, "Entries evaluated with `kerasll eval NAME --eps-curve …` ("
                    + ", ".join(sorted({c.attack for c in curves})) + "); ε = 0 is the clean accuracy."))
    return out


def entry_figures(zoo, rows, out_dir, compute=True, source="auto", data_dir=None, progress=None, notes=None):
    """Each entry's landscapes and histogram: {name: [(title, path)]}, the entry's own when it has them, else
    (unless not `compute`) drawn into `out_dir/figures/NAME/`, so the zoo is not changed. Where the data set
    cannot be found and `source` is "auto", they are drawn on the bundled subset's images, and `notes` says so."""
    from kerasll.datasets import DataNotFoundError

    def draw(name, missing, folder):
        from kerasll.zoo.figures import histogram_figure, landscape_figures  # TensorFlow, only to draw

        inputs = Inputs(source=source, data_dir=data_dir)
        for directions in ("random", "fgsm"):
            if f"landscape-{directions}-sample0.png" in missing:
                landscape_figures(zoo, name, inputs, folder=folder, directions=directions)
        if "histogram.png" in missing:
            histogram_figure(zoo, name, inputs, folder=folder)

    out = {}
    for i, r in enumerate(rows):
        if progress is not None:
            progress(i, len(rows), f"figures: {r['name']}")
        entry, folder = zoo.get(r["name"]), Path(out_dir) / "figures" / r["name"]
        where = lambda f: entry.figures_dir / f if (entry.figures_dir / f).is_file() else folder / f  # noqa: E731
        missing = [f for f in ENTRY_FIGURES.values() if not where(f).is_file()]
        if missing and compute:
            try:
                draw(r["name"], missing, folder)
            except DataNotFoundError:
                if source != "auto" or data_dir is not None:
                    raise
                source = "embedded"
                if notes is not None:
                    notes.append(f"{r['dataset']} was not found on this machine, so the landscapes and histograms were "
                                 "drawn on the bundled subset's test images; pass --data-dir or --source to use the "
                                 "full set")
                draw(r["name"], missing, folder)
        out[r["name"]] = [(title, where(f)) for title, f in ENTRY_FIGURES.items() if where(f).is_file()]
    if progress is not None and rows:
        progress(len(rows), len(rows), "figures")
    return out


def entry_certified_figures(certified, out_dir):
    """{entry: path}: each certified entry's curves at all its σ on one axis, drawn into out_dir/figures/NAME/."""
    out = {}
    for name in dict.fromkeys(c.label for c in certified):
        mine = [c for c in certified if c.label == name and c.radii is not None]
        if mine:
            out[name] = figures.plot_certified_curves(
                [(f"σ = {c.sigma:g}", c.radii) for c in mine], Path(out_dir) / "figures" / name / "certified.png",
                title=f"{name}: certified accuracy vs L2 radius")
    return out


def report(zoo, dataset=None, out_dir=None, html=False, compute=True, source="auto", data_dir=None, progress=None):
    """Write report-<dataset>.md (and .html with `html`) and their figures for the complete entries.

    The HTML page also shows every evaluated entry's landscapes and histogram: the entry's own, or
    drawn (with `progress(done, total, what)`) into `out_dir/figures/` when missing, unless not
    `compute`. Nothing is written into the zoo.
    Returns (paths written, notes): each note says once what was skipped and why.
    """
    from kerasll.zoo.report_html import write_html

    rows = report_rows(zoo, dataset)
    out_dir = Path(out_dir or ".")  # never inside the zoo: a folder there would read as a damaged entry
    out_dir.mkdir(parents=True, exist_ok=True)
    written, notes = [], []
    for ds in sorted({r["dataset"] for r in rows}):
        ds_rows = [r for r in rows if r["dataset"] == ds]
        part = DatasetReport(ds, ds_rows, fig4(ds_rows, ds, out_dir))
        if part.fig4.note:
            notes.append(part.fig4.note)
        part.certified = certificates(zoo, ds_rows)
        part.overview = overview_figures(ds_rows, ds, out_dir, zoo) + certified_figures(ds_rows, part.certified, ds,
                                                                                       out_dir)
        written.append(write_markdown(ds_rows, ds, out_dir, part.fig4, [(t, p) for t, p, _ in part.overview]))
        if html:
            shown = [r for r in ds_rows if evaluated(r)]  # an entry never evaluated gets a line, not panels
            part.entry_figures = entry_figures(zoo, shown, out_dir, compute, source, data_dir, progress, notes)
            for name, figs in entry_certified_figures(part.certified, out_dir).items():
                part.entry_figures.setdefault(name, []).append(("certified accuracy vs L2 radius", figs))
            if not compute and any(len(v) < len(ENTRY_FIGURES) for v in part.entry_figures.values()):
                notes.append("entries without landscapes or histograms were left without them (--no-compute); "
                             "drop --no-compute, or run `kerasll eval NAME --landscape`, to draw them")
            written.append(write_html(part, out_dir, zoo.path))
        written += [p for p in (part.fig4.path, *(p for _, p, _ in part.overview)) if p is not None]
    return written, notes
