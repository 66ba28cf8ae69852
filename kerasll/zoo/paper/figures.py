"""The results document's figures (Fig. 1–6) and the FGSM-vs-random flatness measurements of claim 5."""

import numpy as np

from kerasll import figures
from kerasll.landscapes.landscape import likelihood_histogram, likelihood_surface
from kerasll.zoo.paper.claims import Change

FGSM_IMAGES = 200  # test images for the FGSM-vs-random direction comparison (claim 5)
FGSM_GRID = 11
HISTOGRAM_IMAGES = 2000


def mean_abs_change(model, x, y, directions, dataset, grid=FGSM_GRID):
    """Mean |Δlog p| over a grid×grid lattice of radius ε, averaged over the images `x`."""
    return float(np.mean([np.abs(likelihood_surface(model, x[i], y[i], directions=directions, grid=grid,
                                                    dataset=dataset, seed=i).values).mean() for i in range(len(x))]))


def changes(models, x, y, dataset, images=FGSM_IMAGES):
    """{role: `Change`} on the first `images` of (x, y)."""
    x, y = x[:images], y[:images]
    return {k: Change(mean_abs_change(m, x, y, "random", dataset), mean_abs_change(m, x, y, "fgsm", dataset))
            for k, m in models.items()}


def draw(runs, models, x, y, figdir, points):
    """Draw Fig. 1–6 into `figdir`; returns ({figure key: path}, Fig. 4's {family: Spearman ρ})."""
    main = ["none", "at", "jacreg", "amsreg"]
    labels, dataset = runs.labels, runs.dataset

    def surface(k, sample=0, directions="random"):
        return likelihood_surface(models[k], x[sample], y[sample], directions=directions, seed=0, dataset=dataset)

    paths = {}
    for sample in (0, 1):
        paths[f"fig2-{sample}"] = figures.plot_landscape_grid(
            [surface(k, sample) for k in main], [labels[k] for k in main],
            figdir / f"landscapes-random-sample{sample}.png",
            suptitle=f"Δ log p around test image {sample} (LeNet, Fashion-MNIST): same random signed "
                     f"directions, radius 25/255, shared z scale")
    paths["fig5"] = figures.plot_landscape_grid(
        [surface(k, directions="fgsm") for k in main], [labels[k] for k in main], figdir / "landscapes-fgsm-sample0.png",
        suptitle="Δ log p along each model's FGSM direction (ε₁) and a random orthogonal one (ε₂), "
                 "test image 0, radius 25/255")
    none = surface("none")
    none.metadata["label"] = "LeNet, no defense"
    paths["fig1"] = figures.plot_landscape(none, figdir / "landscape-none-sample0.png")
    hists = [likelihood_histogram(models[k], x[:HISTOGRAM_IMAGES], seed=0, dataset=dataset) for k in main]
    paths["fig3"] = figures.plot_histograms(hists, [labels[k] for k in main], figdir / "histograms.png",
                                            suptitle="log p̃(x) of 2,000 clean test images and of copies "
                                                     "with random ±25/255 noise")
    if runs.beyond:
        shown = ["at", *runs.beyond]
        paths["fig6"] = figures.plot_landscape_grid(
            [surface(k) for k in shown], [labels[k] for k in shown], figdir / "landscapes-beyond-random-sample0.png",
            suptitle="Beyond the paper, test image 0: the same random signed directions, radius 25/255, shared z scale")
        paths["fig6-fgsm"] = figures.plot_landscape_grid(
            [surface(k, directions="fgsm") for k in shown], [labels[k] for k in shown],
            figdir / "landscapes-beyond-fgsm-sample0.png",
            suptitle="Beyond the paper, test image 0: each model's FGSM direction (ε₁) and a random orthogonal one (ε₂)")
    paths["fig4"], rhos = figures.plot_flatness_vs_robustness(
        points, figdir / "flatness-vs-robustness.png",
        title=f"Φ vs PGD accuracy across defense strengths (LeNet, Fashion-MNIST, {runs.epochs} epochs)")
    return paths, rhos
