"""Robustness figures: Φ against robustness (paper Fig. 4), ε-curves, certified-accuracy curves, and the
AutoAttack waterfalls. Each function writes one file and returns its path."""

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot, no global backend, nothing to close

from kerasll.errors import KerasllError
from kerasll.figures.canvas import save as _save
from kerasll.stats import rank_correlation


def plot_flatness_vs_robustness(records, path, title=None):
    """Φ against robust accuracy per defense family, labelled by strength (Fig. 4).

    Args:
        records: dicts with "family", "label" (e.g. "ε=4/255"), "phi" and
            "robust_accuracy" (a fraction).
        path: output file.

    Returns:
        (path, {family: Spearman ρ between Φ and robust accuracy}).
    """
    families = sorted({r["family"] for r in records})
    cols = min(len(families), 4)  # wrap into rows of at most four panels
    rows_n = -(-len(families) // cols)
    fig = Figure(figsize=(4.6 * cols, 3.8 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False)
    for ax in axes.flat[len(families):]:
        ax.set_visible(False)
    rhos = {}
    for ax, family in zip(axes.flat, families):
        rows = sorted((r for r in records if r["family"] == family), key=lambda r: r["phi"])
        phi = [r["phi"] for r in rows]
        acc = [100 * r["robust_accuracy"] for r in rows]
        rhos[family] = rank_correlation(phi, acc)
        ax.plot(phi, acc, "o-", color="tab:purple")
        for r, p, a in zip(rows, phi, acc):
            ax.annotate(r["label"], (p, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_title(f"{family}: Spearman ρ = {rhos[family]:.2f}", fontsize=10)
        ax.set_xlabel("Φ flatness (higher = flatter)")
        ax.set_ylabel("PGD accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(title or "Flatness Φ vs adversarial accuracy", fontsize=11)
    fig.tight_layout()
    return _save(fig, path), rhos


def plot_eps_curves(curves, path, eval_eps=None, norm="linf", title=None):
    """Robust accuracy against ε for several models on one axis (RobustBench's first plot).

    Args:
        curves: [(label, {ε: accuracy})], accuracies as fractions; ε = 0 is the clean accuracy.
        path: the file to write (.png, .pdf or .svg).
        eval_eps: the evaluation budget, marked with a dashed line.
        norm: "linf" (ε shown in /255 units) or "l2".
    """
    if not curves:
        raise KerasllError("no ε-curves to plot")
    scale, unit = (255, "ε (/255)") if norm == "linf" else (1, "ε (L2)")
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    markers = "osD^vP*X<>"
    for i, (label, curve) in enumerate(curves):
        eps = sorted(curve)
        ax.plot([e * scale for e in eps], [100 * curve[e] for e in eps], marker=markers[i % len(markers)],
                label=label, linewidth=1.6, markersize=5)
    if eval_eps is not None:
        ax.axvline(eval_eps * scale, color="0.4", linestyle="--", linewidth=1)
        ax.annotate(f"evaluation ε = {eval_eps * scale:g}" + ("/255" if norm == "linf" else ""),
                    (eval_eps * scale, 98), textcoords="offset points", xytext=(4, 0), fontsize=8, color="0.3",
                    va="top")
    ax.set_xlabel(unit + "   (ε = 0: clean accuracy)")
    ax.set_ylabel("robust accuracy %")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)  # never over a curve
    ax.set_title(title or "Robust accuracy vs ε")
    return _save(fig, path)


def plot_bounds(entries, path, title=None):
    """Both ends of L∞ robust accuracy against ε, per model: AutoAttack's (solid, an upper bound) and the
    verified accuracy (dashed, a lower bound; its method in the legend, or at each point where they differ),
    the truth between.

    Args:
        entries: [(label, {ε: attacked accuracy}, {ε: (verified accuracy, method)})], accuracies as fractions.
        path: the file to write (.png, .pdf or .svg).
    """
    if not entries:
        raise KerasllError("no verified results to plot")
    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(10)]
    for i, (label, attacked, verified) in enumerate(entries):
        color = colors[i % len(colors)]
        if attacked:
            eps = sorted(attacked)
            ax.plot([e * 255 for e in eps], [100 * attacked[e] for e in eps], color=color, marker="o",
                    markersize=4, linewidth=1.6, label=f"{label}: AutoAttack (upper)")
        eps = sorted(verified)
        methods = sorted({verified[e][1] for e in eps})
        ax.plot([e * 255 for e in eps], [100 * verified[e][0] for e in eps], color=color, marker="s", markersize=4,
                linewidth=1.6, linestyle="--", label=f"{label}: verified (lower, {', '.join(methods)})")
        if len(methods) > 1:  # each point's method, only where they differ along the line
            for e in eps:
                ax.annotate(verified[e][1], (e * 255, 100 * verified[e][0]), textcoords="offset points",
                            xytext=(3, -9), fontsize=6, color=color)
    ax.set_xlabel("ε (/255), L∞")
    ax.set_ylabel("accuracy %")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_title(title or "Robust accuracy from both sides: verified ≤ truth ≤ AutoAttack")
    return _save(fig, path)


def plot_phi_vs_accuracy(points, path, ylabel="AutoAttack accuracy (%)", title=None, percent=True):
    """Φ against robust accuracy (or another per-model number) for every model, one labelled point each.

    Args:
        points: [(label, Φ, accuracy as a fraction)] (with `percent=False`: any number, drawn as is,
            e.g. the mean certified radius).
    Returns:
        (path, Spearman ρ over all points).
    """
    if not points:
        raise KerasllError("no models with both Φ and a robust accuracy to plot")
    scale = 100 if percent else 1
    phi = [p for _, p, _ in points]
    acc = [scale * a for _, _, a in points]
    rho = rank_correlation(phi, acc) if len(points) > 1 else float("nan")
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    ax.scatter(phi, acc, s=36, color="tab:purple", zorder=3)
    ax.set_xlabel("Φ flatness (higher = flatter)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.set_title((title or "Flatness Φ vs robust accuracy") + (f"  (Spearman ρ = {rho:.2f})" if len(points) > 1 else ""),
                 fontsize=11)
    ax.margins(x=0.18, y=0.12)
    _label_points(fig, ax, [(label, p, scale * a) for label, p, a in points])
    return _save(fig, path), rho


# Where a point's label may go, in points from the point, tried in turn until it overlaps no other label or point.
LABEL_OFFSETS = [(5, 4), (5, -11), (-5, 4), (-5, -11), (5, 13), (5, -20), (-5, 13), (-5, -20), (5, 22), (5, -29)]


def _label_points(fig, ax, points):
    """Annotate each (label, x, y) beside its point, moving a label that would overlap one already placed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    ax.set_xlim(ax.get_xlim())  # the autoscaled limits, fixed now: the labels are measured in them
    ax.set_ylim(ax.get_ylim())
    placed = [ax.transData.transform((x, y)) for _, x, y in points]
    taken = [(px - 3, py - 3, px + 3, py + 3) for px, py in placed]  # the markers themselves
    for label, x, y in sorted(points, key=lambda p: -p[2]):
        for dx, dy in LABEL_OFFSETS:
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=8,
                               ha="left" if dx > 0 else "right")
            box = text.get_window_extent(renderer)
            box = (box.x0, box.y0, box.x1, box.y1)
            if not any(box[0] < t[2] and t[0] < box[2] and box[1] < t[3] and t[1] < box[3] for t in taken):
                break
            text.remove()
        else:  # crowded everywhere: the first place
            text = ax.annotate(label, (x, y), textcoords="offset points", xytext=LABEL_OFFSETS[0], fontsize=8)
            box = text.get_window_extent(renderer)
            box = (box.x0, box.y0, box.x1, box.y1)
        taken.append(box)


def plot_certified_curves(curves, path, title=None):
    """Certified accuracy against the L2 radius, one line per model (Cohen et al.'s Fig. 2).

    Args:
        curves: [(label, radii)], `radii` per test image: the certified radius of a correctly classified
            image, and −1 (or any negative) for an image classified wrongly or abstained on. The line at r
            is the share of images with radius ≥ r; it starts at the smoothed classifier's accuracy.
        path: the file to write (.png, .pdf or .svg).
    """
    if not curves:
        raise KerasllError("no certified radii to plot")
    top = max([float(np.max(r)) for _, r in curves if len(r)] + [0.25])
    grid = np.linspace(0, top * 1.05, 400)
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    for label, radii in curves:
        radii = np.sort(np.asarray(radii, float))
        share = 1 - np.searchsorted(radii, grid, side="left") / max(len(radii), 1)
        ax.plot(grid, 100 * share, label=label, linewidth=1.6)
    ax.set_xlabel("L2 radius (pixels in [0, 1])")
    ax.set_ylabel("certified accuracy %")
    ax.set_ylim(0, 100)
    ax.set_xlim(0, grid[-1])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_title(title or "Certified accuracy vs L2 radius (randomized smoothing)")
    return _save(fig, path)


def plot_waterfalls(entries, path, title=None):
    """AutoAttack's waterfall per model: accuracy on clean images, then after each attack in turn.

    Args:
        entries: [(label, clean accuracy, {attack: accuracy after it})], accuracies as fractions.
    """
    if not entries:
        raise KerasllError("no AutoAttack results to draw")
    cols = min(len(entries), 3)
    rows_n = -(-len(entries) // cols)
    fig = Figure(figsize=(4.4 * cols, 3.2 * rows_n))
    axes = fig.subplots(rows_n, cols, squeeze=False)
    for ax in axes.flat[len(entries):]:
        ax.set_visible(False)
    for ax, (label, clean, stages) in zip(axes.flat, entries):
        names = ["clean", *stages]
        values = [100 * clean, *(100 * v for v in stages.values())]
        colors = ["tab:gray"] + ["tab:blue"] * (len(values) - 2) + ["tab:red"]
        bars = ax.bar(range(len(values)), values, color=colors[:len(values)])
        for i, (bar, v) in enumerate(zip(bars, values)):
            drop = f"\n−{values[i - 1] - v:.1f}" if i and values[i - 1] - v >= 0.05 else ""
            ax.annotate(f"{v:.1f}{drop}", (bar.get_x() + bar.get_width() / 2, v), textcoords="offset points",
                        xytext=(0, 2), ha="center", fontsize=7)
        pretty = {"clean": "clean", "square": "Square", "fab": "FAB"}
        ax.set_xticks(range(len(values)), [pretty.get(n, n.upper()) for n in names], fontsize=7)
        ax.set_ylim(0, 112)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "AutoAttack, attack by attack (each runs on the images still robust)", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
