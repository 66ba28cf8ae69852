"""The paper's figures with matplotlib (headless), each written to one file whose extension picks the
format (PNG by default; PDF or SVG on request): landscapes and histograms (`landscapes`), Φ against
robustness, ε-curves, certified radii and AutoAttack's waterfalls (`robustness`). The zoo's figures of
its entries (`kerasll.zoo.figures`) and the results document's (`kerasll.zoo.paper.figures`) compute
what to draw and call these."""

from kerasll.figures.canvas import FORMATS, save
from kerasll.figures.landscapes import plot_landscape, plot_landscape_grid, plot_histograms
from kerasll.figures.robustness import (
    plot_bounds, plot_flatness_vs_robustness, plot_eps_curves, plot_phi_vs_accuracy, plot_certified_curves,
    plot_waterfalls,
)

__all__ = ["FORMATS", "save", "plot_landscape", "plot_landscape_grid", "plot_histograms",
           "plot_bounds", "plot_flatness_vs_robustness", "plot_eps_curves", "plot_phi_vs_accuracy", "plot_certified_curves",
           "plot_waterfalls"]
