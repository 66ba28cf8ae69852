"""Evaluate zoo entries: accuracy under attack, Φ, landscape figures — cached in eval.json."""

import time

import numpy as np

from kerasll import figures
from kerasll.datasets import dataset_info, load_dataset
from kerasll.defenses import get_defense, list_defenses
from kerasll.errors import KerasllError
from kerasll.attacks.autoattack import eps_sweep
from kerasll.evaluation import attack_settings, check_labels, evaluate
from kerasll.flatness import DEFAULT_GRID, DEFAULT_PAIRS, flatness
from kerasll.landscape import likelihood_histogram, likelihood_surface
from kerasll.zoo.metadata import now

FLATNESS_SAMPLES = 1000  # test images for Φ unless --limit is smaller


def _fmt(v, norm="linf"):
    return f"{v * 255:g}/255" if norm == "linf" else f"{v:g}"


def data_tag(source):
    """Key suffix naming the images: the embedded subset's differ from the official split's first N."""
    return "-embedded" if source == "embedded" else ""


def attack_key(settings, samples):
    """eval.json key of an attack evaluation, e.g. 'pgd-linf-eps25/255-steps10-step6.25/255-r1-n10000'
    or 'autoattack-standard-linf-eps25/255-n10000'."""
    attack, norm = settings["attack"], settings["norm"]
    if attack == "autoattack":
        return f"autoattack-{settings['version']}-{norm}-eps{_fmt(settings['eps'], norm)}-n{samples}"
    key = f"{attack}-{norm}-eps{_fmt(settings['eps'], norm)}"
    if attack == "pgd":
        key += f"-steps{settings['steps']}-step{_fmt(settings['step_size'], norm)}-r{settings['restarts']}"
    elif "steps" in settings:
        key += f"-steps{settings['steps']}-r{settings['restarts']}"
    elif "queries" in settings:
        key += f"-q{settings['queries']}"
    return f"{key}-n{samples}"


def flatness_key(settings, directions="random"):
    """'phi-…' for random directions, 'phifgsm-…' along the FGSM direction."""
    prefix = "phi" if directions == "random" else "phifgsm"
    return (f"{prefix}-pairs{settings['pairs']}-grid{settings['grid']}-radius{_fmt(settings['radius'])}"
            f"-{settings['reduction']}-n{settings['samples']}")


def test_data(meta, data_dir=None, source="auto", limit=None):
    x, y = load_dataset(meta["dataset"], "test", data_dir=data_dir, source=source)
    if limit is not None:
        if limit < 1:
            raise KerasllError(f"--limit must be ≥ 1, got {limit}")
        x, y = x[:limit], y[:limit]
    return x, check_labels(y, dataset_info(meta["dataset"]).num_classes)


def check_fits(model, meta):
    """Refuse a model whose input shape or number of outputs does not match the data set."""
    info = dataset_info(meta["dataset"])
    shape = tuple(info.input_shape)
    try:
        takes = tuple(getattr(model, "classifier", model).input_shape[1:])
    except (AttributeError, ValueError):
        takes = None
    if takes is not None and takes != shape:
        raise KerasllError(f"{meta['name']!r} takes inputs {takes}, but {meta['dataset']} images are {shape}")
    outputs = tuple(model(np.zeros((1, *shape), np.float32), training=False).shape)
    if outputs != (1, info.num_classes):
        raise KerasllError(f"{meta['name']!r} returns outputs of shape {outputs[1:]}, but {meta['dataset']} "
                           f"has {info.num_classes} classes: expected logits of shape ({info.num_classes},)")


def load_model_file(path, dataset):
    """A Keras classifier from a .keras file, checked against `dataset`; one clear error if it is not one."""
    import keras
    from pathlib import Path

    import kerasll.defenses  # noqa: F401  (registers the defense classes)

    path = Path(path)
    if not path.is_file():
        raise KerasllError(f"{path} does not exist")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise KerasllError(f"{path} is not a loadable Keras model ({reason[:200]})") from None
    check_fits(model, {"name": str(path), "dataset": dataset})
    return model


def run_evaluation(model, x, y, settings, seed=0, progress=None, log=None, batch_size=1000):
    """`evaluate` plus the fields eval.json has always had (clean_accuracy, robust_accuracy, samples)."""
    start = time.perf_counter()
    result = evaluate(model, x, y, settings, seed=seed, progress=progress, log=log, batch_size=batch_size)
    if isinstance(result.get("seconds"), dict):
        result["seconds_by_attack"] = result.pop("seconds")
    return {"settings": settings, "samples": len(x), "clean_accuracy": result["clean_acc"],
            "robust_accuracy": result["robust_acc"], **result,
            "seconds": round(time.perf_counter() - start, 1), "created": now()}


def sweep_key(settings, samples):
    return f"sweep-{settings['norm']}-eps{_fmt(settings['eps'], settings['norm'])}-n{samples}"


def run_sweep(model, x, y, settings, seed=0, progress=None, batch_size=1000):
    """AutoAttack "fast" at ε × 1, 2, 4, 8 and an unbounded ε, with the sweep's flag."""
    start = time.perf_counter()
    accuracies, flag = eps_sweep(model, x, y, settings["eps"], settings["norm"], seed=seed, progress=progress,
                                 batch_size=batch_size)
    return {"settings": {"eps": settings["eps"], "norm": settings["norm"], "version": "fast",
                         "factors": [1, 2, 4, 8, "unbounded"]},
            "samples": len(x), "accuracy_by_eps": {f"{e:.6g}": a for e, a in accuracies.items()},
            "flags": [flag.to_dict()] if flag else [], "seconds": round(time.perf_counter() - start, 1),
            "created": now()}


def evaluate_entry(zoo, name, attack="pgd", eps=None, steps=None, step_size=None, restarts=1,
                   with_flatness=False, limit=None, force=False, data_dir=None, source="auto",
                   progress=None, seed=0, norm="linf", version="standard", queries=None, sweep=False, log=None,
                   batch_size=1000):
    """Clean and robust accuracy (and Φ, and an ε sweep) of entry `name`, reusing cached results.

    `progress(name, done, total, robust_accuracy)` is called as each attack (and Φ) runs.
    Returns a dict of the results (each with its settings and whether it was cached).
    """
    entry = zoo.get(name)
    meta = entry.metadata()
    settings = attack_settings(meta["dataset"], attack, eps, steps, step_size, restarts, norm, version, queries)
    x, y = test_data(meta, data_dir, source, limit)
    tag = data_tag(source)
    loaded = []

    def model():
        if not loaded:
            loaded.append(entry.load_model())
            check_fits(loaded[0], meta)
        return loaded[0]

    def cached_or_run(key, compute):
        nonlocal entry
        cached = entry.evaluations()
        if key in cached and not force:
            return dict(cached[key], cached=True, key=key)
        result = compute()
        entry = zoo.writable(entry)
        entry.write_evaluation(key, result)
        return dict(result, cached=False, key=key)

    out = {"attack": cached_or_run(attack_key(settings, len(x)) + tag, lambda: run_evaluation(
        model(), x, y, settings, seed=seed, progress=progress, log=log, batch_size=batch_size))}
    if sweep:
        out["sweep"] = cached_or_run(sweep_key(settings, len(x)) + tag, lambda: run_sweep(
            model(), x, y, settings, seed=seed, progress=progress, batch_size=batch_size))
    if with_flatness:
        n = min(len(x), FLATNESS_SAMPLES)
        fsettings = {"pairs": DEFAULT_PAIRS, "grid": DEFAULT_GRID, "radius": dataset_info(meta["dataset"]).landscape_radius,
                     "reduction": "mean", "samples": n, "seed": seed, "clip": False}

        def phi(directions):
            start = time.perf_counter()
            label = "flatness" if directions == "random" else "flatness (FGSM)"
            res = flatness(model(), x[:n], y[:n], pairs=fsettings["pairs"], grid=fsettings["grid"],
                           radius=fsettings["radius"], seed=seed, directions=directions,
                           progress=(lambda done, total: progress(label, done, total, None)) if progress else None)
            return {"settings": res.settings, "phi": res.phi, "phi_sum": res.phi * fsettings["grid"] ** 2,
                    "phi_std": float(np.std(res.per_sample)), "seconds": round(time.perf_counter() - start, 1),
                    "created": now()}

        out["flatness"] = cached_or_run(flatness_key(fsettings) + tag, lambda: phi("random"))
        out["flatness_fgsm"] = cached_or_run(flatness_key(fsettings, "fgsm") + tag, lambda: phi("fgsm"))
    return out


def describe(meta):
    """A short label of an entry's defense, e.g. 'AT ε=10/255' or 'AMSReg λ=0.5 (exact)'."""
    if meta["defense"] not in list_defenses():  # an entry from a defense this install does not know
        return meta["defense"]
    return get_defense(meta["defense"]).describe(meta.get("defense_params", {}))


def landscape_figures(zoo, name, sample=0, directions="random", grid=21, radius=None, compare=(),
                      data_dir=None, source="auto", seed=0, fmt="png"):
    """Landscape figure(s) of `name` (and `compare` entries) on one test image.

    All models use the same image and, for random directions, the same
    directions (same seed); for "fgsm" each model's own FGSM direction is used.
    Writes into the entry's figures/ folder (surfaces saved as .npz too) and
    returns the paths written.
    """
    entries = [zoo.get(n) for n in (name, *compare)]
    metas = [e.metadata() for e in entries]
    if len({m["dataset"] for m in metas}) != 1:
        raise KerasllError("--compare entries must use the same dataset as " + repr(name))
    x, y = test_data(metas[0], data_dir, source)
    if not 0 <= sample < len(x):
        raise KerasllError(f"--sample must be in [0, {len(x) - 1}], got {sample}")
    surfaces = []
    for entry, meta in zip(entries, metas):
        model = entry.load_model()
        check_fits(model, meta)
        s = likelihood_surface(model, x[sample], y[sample], directions=directions, grid=grid,
                               radius=radius, seed=seed, dataset=meta["dataset"])
        s.metadata.update(label=f"{meta['name']} ({describe(meta)})", entry=meta["name"], sample=sample)
        surfaces.append(s)
    target = zoo.writable(entries[0])
    target.figures_dir.mkdir(exist_ok=True)
    stem = f"landscape-{directions}-sample{sample}"
    paths = [surfaces[0].save(target.figures_dir / f"{stem}.npz")]
    if compare:
        stem += "-vs-" + "-".join(compare)
        titles = [s.metadata["label"] for s in surfaces]
        paths.append(figures.plot_landscape_grid(surfaces, titles, target.figures_dir / f"{stem}.{fmt}"))
    else:
        paths.append(figures.plot_landscape(surfaces[0], target.figures_dir / f"{stem}.{fmt}"))
    return paths


def histogram_figure(zoo, name, data_dir=None, source="auto", limit=None, seed=0, fmt="png"):
    """Fig. 3 for one entry: log p̃ of clean vs randomly perturbed test images."""
    entry = zoo.get(name)
    meta = entry.metadata()
    x, _ = test_data(meta, data_dir, source, limit)
    model = entry.load_model()
    check_fits(model, meta)
    h = likelihood_histogram(model, x[:FLATNESS_SAMPLES], seed=seed, dataset=meta["dataset"])
    target = zoo.writable(entry)
    target.figures_dir.mkdir(exist_ok=True)
    return figures.plot_histograms([h], [f"{name} ({describe(meta)})"], target.figures_dir / f"histogram.{fmt}")
