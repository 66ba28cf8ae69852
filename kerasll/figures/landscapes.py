"""Landscapes and likelihood histograms (paper Fig. 1–3, 5): each function writes one file, returns its path."""

import textwrap

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot, no global backend, nothing to close

from kerasll.errors import KerasllError
from kerasll.figures.canvas import save as _save
TITLE_CHARACTERS = 44  # a landscape's title wraps here, so a long entry name never widens its figure


def _direction(surface):
    """The first direction's name: 'FGSM direction' or 'random direction'."""
    return "FGSM direction" if surface.metadata.get("directions") == "fgsm" else "random direction"


def _describe(surface):
    m = surface.metadata
    return f"{_direction(surface)} d", f"radius {255 * m.get('radius', 0):.3g}/255, {m.get('grid', '?')}²\u00a0grid"


def _draw_surface(ax, surface, zlim, title):
    e1, e2 = np.meshgrid(surface.offsets * 255, surface.offsets * 255, indexing="ij")
    lo, hi = zlim if zlim else (surface.values.min(), surface.values.max())
    floor = lo - 0.25 * max(hi - lo, 1e-6)
    ax.plot_surface(e1, e2, surface.values, cmap="viridis", vmin=lo, vmax=hi,
                    linewidth=0, antialiased=True, alpha=0.95)
    ax.contour(e1, e2, surface.values, zdir="z", offset=floor, cmap="viridis", levels=12, vmin=lo, vmax=hi)
    ax.scatter([0], [0], [0], color="red", s=25, depthshade=False, label="clean sample")
    ax.set_zlim(floor, hi + 0.05 * max(hi - lo, 1e-6))
    ax.set_xlabel(f"ε₁ along {_direction(surface)} (/255)", fontsize=10)  # sizes readable at ~550 px wide,
    ax.set_ylabel("ε₂ along random d⊥ (/255)", fontsize=10)              # as the HTML report shows them
    ax.set_zlabel("Δ log p(x′)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.set_title(title, fontsize=11)


def plot_landscape(surface, path, title=None):
    """One landscape: a 3D surface of Δlog p with its contour beneath (paper Fig. 1)."""
    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot(projection="3d")
    d1, extent = _describe(surface)
    label = surface.metadata.get("label", "model")
    title = title or f"{label}\nΔ log p along {d1} and d⊥, {extent}"
    _draw_surface(ax, surface, None, "\n".join(w for line in title.split("\n")
                                                for w in textwrap.wrap(line, TITLE_CHARACTERS)))
    ax.legend(loc="upper left", fontsize=9)
    return _save(fig, path)


def plot_landscape_grid(surfaces, titles, path, suptitle=None, ncols=None):
    """Several models' landscapes side by side with one shared z scale (Fig. 2 and 5)."""
    if len(surfaces) != len(titles) or not surfaces:
        raise KerasllError("plot_landscape_grid needs one title per surface and at least one surface")
    lo = min(float(s.values.min()) for s in surfaces)
    hi = max(float(s.values.max()) for s in surfaces)
    ncols = ncols or min(len(surfaces), 4)
    nrows = -(-len(surfaces) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.9 * nrows))
    for i, (surface, title) in enumerate(zip(surfaces, titles)):
        _draw_surface(fig.add_subplot(nrows, ncols, i + 1, projection="3d"), surface, (lo, hi), title)
    d1, extent = _describe(surfaces[0])
    fig.suptitle(suptitle or f"Δ log p along {d1} and random d⊥ ({extent}, shared z scale)", fontsize=11)
    return _save(fig, path)


def plot_histograms(histograms, titles, path, bins=60, suptitle=None):
    """log p̃ of clean vs randomly perturbed samples, one panel per model (Fig. 3)."""
    fig = Figure(figsize=(4.0 * len(histograms), 3.2))
    axes = fig.subplots(1, len(histograms), squeeze=False)
    for ax, hist, title in zip(axes[0], histograms, titles):
        both = np.concatenate([hist.clean, hist.perturbed])
        edges = np.linspace(both.min(), both.max(), bins + 1)
        ax.hist(hist.clean, edges, alpha=0.6, density=True, label="clean", color="tab:blue")
        ax.hist(hist.perturbed, edges, alpha=0.6, density=True,
                label=f"perturbed (±{255 * hist.radius:.3g}/255)", color="tab:orange")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("log p̃(x) = logsumexp f(x)")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
    fig.suptitle(suptitle or "log-likelihood of clean and randomly perturbed test images", fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
