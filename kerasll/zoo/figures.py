"""Figures of zoo entries and model files: likelihood landscapes and histograms (Fig. 1–3, 5).

Entry figures are written into the entry's figures/ folder (a bundled entry is copied into
the active zoo first), or into a folder the caller names (the report's, which leaves the zoo
as it is); a model file's into the folder the caller names.
"""

from dataclasses import replace
from pathlib import Path

from kerasll import figures
from kerasll.errors import KerasllError
from kerasll.landscapes.landscape import Surface, likelihood_histogram, likelihood_surface
from kerasll.zoo.evaluation import (
    FLATNESS_SAMPLES, check_fits, model_input_shape, test_data, with_input_scale,
)
from kerasll.zoo.requests import Inputs
from kerasll.zoo.results import describe


def _entry_data(entry, meta, inputs):
    model = entry.load_model()
    test = test_data(inputs, meta["dataset"], model_input_shape(model))
    check_fits(model, test, meta["name"])
    return model, test


def _target_folder(zoo, entry, folder):
    """Where an entry's figures go: `folder` if given (the zoo is not touched), else the entry's figures/."""
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    target = zoo.writable(entry)
    target.figures_dir.mkdir(exist_ok=True)
    return target.figures_dir


def landscape_figures(zoo, name, inputs=None, sample=0, compare=(), fmt="png", folder=None, **surface):
    """Landscape figure(s) of `name` (and `compare` entries) on test image `sample` of the request's data
    (`inputs`: a request's `Inputs`, whose data, data_dir and source are read; default: the data set's test
    split).

    `surface`: the landscape's options (`kerasll.landscapes.landscape.Surface`: directions, grid, radius,
    seed). All models use the same image and, for random directions, the same directions (same seed); for
    "fgsm" each model's own FGSM direction is used. Writes into the entry's figures/ folder, or into
    `folder` when given (surfaces saved as .npz too), and returns the paths written.
    """
    inputs = inputs or Inputs()
    directions = Surface.create(**surface).directions
    entries = [zoo.get(n) for n in (name, *compare)]
    metas = [e.metadata() for e in entries]
    if len({m["dataset"] for m in metas}) != 1:
        raise KerasllError("--compare entries must use the same dataset as " + repr(name))
    surfaces = []
    for entry, meta in zip(entries, metas):
        model, test = _entry_data(entry, meta, replace(inputs, limit=None))
        if not 0 <= sample < len(test.x):
            raise KerasllError(f"--sample must be in [0, {len(test.x) - 1}], got {sample}")
        s = likelihood_surface(model, test.x[sample], test.y[sample], dataset=meta["dataset"], **surface)
        s.metadata.update(label=f"{meta['name']} ({describe(meta)})", entry=meta["name"], sample=sample)
        surfaces.append(s)
    target = _target_folder(zoo, entries[0], folder)
    stem = f"landscape-{directions}-sample{sample}" + ("" if inputs.data is None else test.tag)
    paths = [surfaces[0].save(target / f"{stem}.npz")]
    if compare:
        stem += "-vs-" + "-".join(compare)
        titles = [s.metadata["label"] for s in surfaces]
        paths.append(figures.plot_landscape_grid(surfaces, titles, target / f"{stem}.{fmt}"))
    else:
        paths.append(figures.plot_landscape(surfaces[0], target / f"{stem}.{fmt}"))
    return paths


def histogram_figure(zoo, name, inputs=None, seed=0, fmt="png", folder=None):
    """Fig. 3 for one entry: log p̃ of clean vs randomly perturbed test images of `inputs` (as in
    `landscape_figures`, --limit applied), into `folder` if given."""
    inputs = inputs or Inputs()
    entry = zoo.get(name)
    meta = entry.metadata()
    model, test = _entry_data(entry, meta, inputs)
    h = likelihood_histogram(model, test.x[:FLATNESS_SAMPLES], seed=seed, dataset=meta["dataset"])
    target = _target_folder(zoo, entry, folder)
    suffix = "" if inputs.data is None else test.tag
    return figures.plot_histograms([h], [f"{name} ({describe(meta)})"], target / f"histogram{suffix}.{fmt}")


def file_figures(path, request, folder):
    """`--landscape` for a .keras file: its landscapes (random, FGSM) on test image 0 and its likelihood
    histogram, written into `folder` (radius: the data set's preset, else the request's ε)."""
    from kerasll.zoo.entry import load_classifier

    inputs = request.inputs
    model = with_input_scale(load_classifier(path, unsafe=inputs.unsafe), inputs.input_scale)
    test = test_data(inputs, inputs.dataset, model_input_shape(model))
    check_fits(model, test, str(path))
    dataset = inputs.dataset or test.dataset
    radius = None if dataset else request.settings(None).eps
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    label = Path(path).stem
    paths = []
    for directions in ("random", "fgsm"):
        s = likelihood_surface(model, test.x[0], test.y[0], directions=directions, radius=radius, dataset=dataset)
        s.metadata.update(label=label, sample=0)
        paths.append(figures.plot_landscape(s, folder / f"landscape-{directions}-sample0.png"))
    h = likelihood_histogram(model, test.x[:FLATNESS_SAMPLES], radius=radius, dataset=dataset)
    paths.append(figures.plot_histograms([h], [label], folder / "histogram.png"))
    return paths
