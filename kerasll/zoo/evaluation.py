"""Evaluate zoo entries and model files: accuracy under attack, ε-curves, Φ, figures — cached and resumable.

`EvalRequest` is what `kerasll eval` asks for, built once by the CLI. `evaluate_entry`
and `evaluate_file` load the model and the test data, resolve the request into
library settings, and run each evaluation with a chunk store, so an interrupted
run continues where it stopped: in the entry's `records/` folder, or next to
`--json` for a file. An entry's results land in its eval.json, keyed by the
settings they were computed with.
"""

import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from kerasll.datasets import dataset_info
from kerasll.datasets.sources import load_data
from kerasll.errors import KerasllError
from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.evaluation import check_labels, evaluate, flatness_records
from kerasll.evaluation.core import reusable
from kerasll.evaluation.chunks import Context
from kerasll.distribution.spread import unpack
from kerasll.evaluation.curves import eps_curve, eps_sweep
from kerasll.evaluation.kinds import CurveSettings, FlatnessSettings, SweepSettings
from kerasll.landscapes.flatness import DEFAULT_GRID, DEFAULT_PAIRS
from kerasll.zoo.metadata import now
from kerasll.zoo.results import ResultId

FLATNESS_SAMPLES = 1000  # test images for Φ unless --limit is smaller
RECORDS_DIR = "records"


def test_data(inputs, dataset, image_shape=None):
    """The images of `inputs` (`kerasll.zoo.requests.Inputs`): `--data`, or `dataset`'s test split; `--limit`
    applied."""
    if inputs.data is None:
        if dataset is None:
            raise KerasllError("name the test data with --data (a .npz, an image folder, tfds:NAME[:SPLIT]) "
                               "or a registered data set with --dataset")
        return load_data(dataset, "test", data_dir=inputs.data_dir, where=inputs.source, limit=inputs.limit)
    return load_data(inputs.data, keys=inputs.data_keys, image_shape=image_shape, data_dir=inputs.data_dir,
                     limit=inputs.limit)


def model_input_shape(model):
    try:
        shape = tuple(getattr(model, "classifier", model).input_shape[1:])
    except (AttributeError, ValueError):
        return None
    return shape if all(d is not None for d in shape) else None


def check_fits(model, data, name):
    """Refuse a model whose input shape or outputs do not match the images and labels, or that returns
    probabilities kerasll cannot turn back into logits."""
    from kerasll.logits import as_logits

    shape, takes = tuple(data.x.shape[1:]), model_input_shape(model)
    if takes is not None and takes != shape:
        raise KerasllError(f"{name!r} takes inputs {takes}, but the images of {data.name} are {shape}")
    outputs = tuple(model(data.x[:1], training=False).shape)
    if len(outputs) != 2:
        raise KerasllError(f"{name!r} returns outputs of shape {outputs[1:]}: expected one logit per class")
    if data.dataset is not None and outputs[1] != dataset_info(data.dataset).num_classes:
        classes = dataset_info(data.dataset).num_classes
        raise KerasllError(f"{name!r} returns outputs of shape {outputs[1:]}, but {data.dataset} has {classes} "
                           f"classes: expected logits of shape ({classes},)")
    check_labels(data.y, outputs[1])
    as_logits(model, data.x, name)  # loading removed a final softmax; anything else returning probabilities stops here
    return outputs[1]


def with_input_scale(model, scale):
    """`model` behind a ×`scale` layer: attacks work on [0,1] images, the model sees [0, scale]."""
    if scale == 1:
        return model
    import keras

    inputs = keras.Input(model_input_shape(model) or model.input_shape[1:])
    return keras.Model(inputs, model(keras.layers.Rescaling(float(scale))(inputs)))


def images_tag(data, inputs):
    """The suffix naming which images a stored result used: the data's tag, and the input scale if not 1."""
    return data.tag + (f"-x{inputs.input_scale:g}" if inputs.input_scale != 1 else "")


def computed_on():
    """The Keras backend, its library's version and Keras's, recorded with every stored result."""
    import importlib

    import keras

    name = keras.backend.backend()
    return {"backend": name, "version": importlib.import_module(name).__version__, "keras": keras.__version__}


def _slug(key):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key)


class Results:
    """Where a run's results go: an entry's eval.json and records/, or (for a file) only a records folder.

    Only the process the run's `Context` lets write (the chief) reads and writes them, and it
    tells the other workers which results it already has, so that all of them run the same work.
    A `Context` with `fresh` recomputes what is stored (--force).
    """

    def __init__(self, context, records_root, entry=None, zoo=None):
        self.context, self.records_root, self.entry, self.zoo = context, records_root, entry, zoo

    def cached(self, rid):
        """The stored result with identity `rid`, unless `--force` or another attack revision computed it."""
        found = None
        if self.context.writes and self.entry is not None and not self.context.fresh:
            found = self.entry.evaluations().get(rid.key())
            if found is not None and found.get("attacks_revision", 1) != ATTACKS_REVISION:
                found = None  # its random draws were keyed otherwise: recompute
        found = json.loads(self.context.spread.share(json.dumps(found).encode()))
        return None if found is None else dict(found, cached=True, key=rid.key())

    def records_of(self, rid):
        """The per-image records of the stored result `rid` (as `cached` finds it), on every worker; or None."""
        found, blob = self.cached(rid), b""
        if found is not None and found.get("records") and self.entry is not None and self.context.writes:
            path = self.entry.path / found["records"]
            blob = path.read_bytes() if path.is_file() else b""
        blob = self.context.spread.share(blob)
        return unpack(blob)[0] if blob else None

    def folder(self, rid):
        if self.records_root is None or not self.context.writes:
            return None
        if self.entry is not None:  # a bundled entry is copied into the active zoo before anything is written
            self.entry = self.zoo.writable(self.entry)
            self.records_root = self.entry.path / RECORDS_DIR
        return self.records_root / _slug(rid.key())

    def get(self, rid, compute):
        """The result with identity `rid` (a `ResultId`): cached, or `compute(records folder)` stored with it."""
        found = self.cached(rid)
        if found is not None:
            return found
        return self.store(rid, compute(self.folder(rid)) | rid.fields())

    def store(self, rid, result):
        out = dict(result, created=now(), computed_on=computed_on())
        folder = self.folder(rid)
        found = sorted(folder.glob("*/records.npz"), key=lambda p: p.stat().st_mtime) if folder else []
        if found:  # the per-image records; relative to the entry, so an exported entry keeps them
            out["records"] = str(found[-1].relative_to(self.entry.path) if self.entry else found[-1])
        if self.entry is not None and self.context.writes:
            self.entry.write_evaluation(rid.key(), out)
            for stale in found[:-1]:  # finished runs of this key (older attack code) eval.json no longer names
                shutil.rmtree(stale.parent, ignore_errors=True)
        return dict(out, cached=False, key=rid.key())


def load_surrogate(request, zoo=None, log=None):
    """(name, model) of `--transfer-from`: a zoo entry, or a .keras classifier file (named by its file name
    and the start of its content hash, so a changed file is a new surrogate)."""
    from kerasll.zoo.entry import load_classifier

    path, inputs = request.surrogate_file(zoo), request.inputs
    if path is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        model = load_classifier(path, log, inputs.unsafe)
        return f"{path.name}@{digest}", with_input_scale(model, inputs.input_scale)
    model = zoo.get(request.transfer_from).load_model(inputs.unsafe, log)
    return request.transfer_from, with_input_scale(model, inputs.input_scale)


def stored_stages(results, settings, n, tag):
    """The records of a stored run that an adaptive evaluation (`--check-budget`, `--transfer-from`) can start
    from: the same AutoAttack with fewer checks (the most checks first), on the same images; or None."""
    if not (settings.budget_check or settings.transfer):
        return None
    bases = [replace(settings, budget_check=None), replace(settings, transfer=None),
             replace(settings, budget_check=None, transfer=None)]
    for base in dict.fromkeys(b for b in bases if b != settings):
        records = results.records_of(ResultId(base, n, tag))
        if records is not None and reusable(records, settings, n):
            return records
    return None


def run(model, data, request, dataset, results, zoo=None):
    """Every evaluation the request asks for, each cached or computed: {"attack": …, "sweep": …, …}
    ("attack" is left out for an ε-curve alone)."""
    surrogate_name, surrogate = None, None
    if request.transfer_from is not None and request.single:
        surrogate_name, surrogate = load_surrogate(request, zoo, results.context.log)
    settings = request.settings(dataset, curve=not request.single, surrogate=surrogate_name)
    tag = images_tag(data, request.inputs)
    x, y, n = data.x, data.y, len(data.x)
    ctx = results.context

    out = {}
    if request.single:
        out["attack"] = results.get(ResultId(settings, n, tag), lambda folder: dict(
            evaluate(model, x, y, settings, folder, ctx, surrogate=surrogate,
                     reuse=stored_stages(results, settings, n, tag)).to_dict(), data=data.name))
    if request.sweep:
        sweep = SweepSettings(settings.eps, settings.norm, seed=settings.seed)
        out["sweep"] = results.get(ResultId(sweep, n, tag), lambda folder: eps_sweep(
            model, x, y, settings.eps, settings.norm, context=ctx, seed=settings.seed, checkpoint=folder).to_dict() | {
                "settings": sweep.to_dict()})
    if request.curve:
        cs = request.settings(dataset, curve=True)
        result = lambda folder: eps_curve(model, x, y, cs, request.curve, folder, ctx).to_dict()  # noqa: E731
        out["curve"] = results.get(ResultId(CurveSettings(cs, tuple(sorted(request.curve))), n, tag), result)
    if request.flatness:
        n = min(len(x), FLATNESS_SAMPLES)
        radius = dataset_info(dataset).landscape_radius if dataset else settings.eps  # no preset: the attack's ε
        fs = FlatnessSettings(DEFAULT_PAIRS, DEFAULT_GRID, radius, "mean", n, settings.seed)

        def phi(directions, folder):
            per_image, seconds = flatness_records(model, x[:n], y[:n], replace(fs, directions=directions), folder,
                                                  ctx)
            return {"phi": float(per_image.mean()), "phi_sum": float(per_image.mean()) * fs.grid ** 2,
                    "phi_std": float(np.std(per_image)), "seconds": seconds.get("flatness", 0.0),
                    "attacks_revision": ATTACKS_REVISION}

        for name, directions in (("flatness", "random"), ("flatness_fgsm", "fgsm")):
            out[name] = results.get(ResultId(replace(fs, directions=directions), n, tag),
                                    lambda folder, d=directions: phi(d, folder))
    return out


def context_of(inputs, progress=None, log=None, strategy=None):
    """The run's `Context`: the batch size and --force of `inputs` (a request's `Inputs`), the CLI's
    callbacks, and `strategy` (`kerasll.distribution.strategies.evaluation_strategy`) spreading the chunks over devices or
    workers."""
    return Context.of(progress, log, inputs.batch_size, inputs.force, strategy)


def prepared(zoo, name, inputs, context, records_root=None):
    """What every measure of a model starts from: (classifier behind `inputs.input_scale`, its test images
    checked to fit it, the data set's name, the `Results` that keep what is computed). `name`: an entry of
    `zoo` (results in its eval.json and records), or a .keras file when `zoo` is None (records in
    `records_root`, if given; nothing else written)."""
    from kerasll.zoo.entry import load_classifier

    entry = None if zoo is None else zoo.get(name)
    if entry is None:
        model, dataset = load_classifier(name, context.log, inputs.unsafe), inputs.dataset
    else:
        model, dataset = entry.load_model(inputs.unsafe, context.log), entry.metadata()["dataset"]
    model = with_input_scale(model, inputs.input_scale)
    data = test_data(inputs, dataset, model_input_shape(model))
    check_fits(model, data, str(name))
    folder = records_root if entry is None else entry.path / RECORDS_DIR
    return model, data, dataset or data.dataset, Results(context, folder, entry, zoo)


def evaluate_entry(zoo, name, request, context=None):
    """Clean and robust accuracy (and Φ, sweeps, curves) of entry `name`, reusing cached results.

    `context` (`context_of`) carries the progress and log callbacks and where the chunks run.
    Returns {"attack": result, …}, each result with its settings, its eval.json key and
    whether it was cached.
    """
    request.check()
    context = context or context_of(request.inputs)
    model, data, dataset, results = prepared(zoo, name, request.inputs, context)
    return run(model, data, request, dataset, results, zoo)


def evaluate_file(path, request, records_root=None, context=None, zoo=None):
    """The same for a .keras classifier file; nothing is written to a zoo. With `records_root`
    (the CLI's: next to --json), finished chunks are kept there and a re-run resumes; `zoo`, where a
    --transfer-from entry is found."""
    request.check()
    context = context or context_of(request.inputs)
    model, data, dataset, results = prepared(None, path, request.inputs, context, records_root)
    return run(model, data, request, dataset, results, zoo)
