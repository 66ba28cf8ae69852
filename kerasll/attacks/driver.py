"""The scaffold every attack runs in: its prologue, its runs (targets × restarts) over the images still
robust, each run's seed, and the model queries between runs.

An attack supplies only what one run does to one batch; `over_runs` keeps per image
the best example so far (the lowest score: APGD's margin, FAB's norm), drops images
that are done from later runs, reports progress, and runs each run as a stage an
evaluation can keep, so an interrupted evaluation resumes at its first unfinished run.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from keras import ops

from kerasll import backend
from kerasll._tensors import as_float, batches
from kerasll.attacks import noise
from kerasll.attacks.catalog import AUTOATTACK_TARGETS
from kerasll.attacks.compiled import batch_spec, compiled, spec
from kerasll.attacks.losses import labels_of, margin
from kerasll.errors import KerasllError


@dataclass(frozen=True)
class Prologue:
    """An attack's inputs made uniform: float images, integer labels (numpy), a seed, the images' keys."""

    x: object  # a float tensor of the running backend
    y: np.ndarray
    seed: int
    keys: np.ndarray

    @property
    def n(self):
        return int(self.x.shape[0])


def prologue(x, y, seed=None, keys=None):
    """`Prologue` of an attack's arguments: `seed` None draws one; `keys` None takes the images' content keys."""
    x = as_float(x)
    y = backend.to_numpy(labels_of(ops.convert_to_tensor(np.asarray(y) if isinstance(y, (list, tuple)) else y)))
    seed = int(np.random.randint(2**31 - 1)) if seed is None else seed
    return Prologue(x, y, seed, noise.keys_of(backend.to_numpy(x), keys))



class Batch(NamedTuple):
    """What one compiled call of an attack gets per batch: images, integer labels, the target class per
    image (the label where untargeted), the images' draw keys and the run's seed."""

    x: object
    y: object
    target: object
    keys: object  # `noise.key_words` of the images' keys
    seed: object

    @classmethod
    def signature(cls, x):
        """The `Batch` of `TensorSpec`s for images like `x` (the batch axis open; TensorFlow only)."""
        return cls(batch_spec(x), spec("int32", [None]), spec("int32", [None]), spec("int64", [None]),
                   spec("int64"))

    @classmethod
    def of(cls, p, ids, target, seed):
        """The batch of images `ids` of the `Prologue` `p`, aimed at `target` (numpy, per image)."""
        return cls(ops.take(p.x, ids, axis=0), ops.convert_to_tensor(np.asarray(p.y[ids], np.int32)),
                   ops.convert_to_tensor(np.asarray(target, np.int32)),
                   ops.convert_to_tensor(noise.key_words(p.keys[ids])), seed)


def restart_seed(seed, restart):
    """A 31-bit seed for restart `restart` of an attack seeded with `seed`."""
    return (int(seed) * 1_000_003 + int(restart) * 7_919) % (2**31 - 1)


def runs_of(targeted, target_classes, restarts):
    """The (rank, restart) pairs an attack runs: each of the `target_classes` highest-scoring wrong classes
    (rank 1, 2, …) × each restart when `targeted`, else (None, restart) per restart."""
    ranks = range(1, int(target_classes) + 1) if targeted else [None]
    return [(rank, restart) for rank in ranks for restart in range(int(restarts))]


def run_seed(seed, rank, restart):
    """The seed of one run (an int64 scalar tensor): distinct per (rank, restart)."""
    return ops.convert_to_tensor(np.asarray(restart_seed(seed, restart + 1000 * (rank or 0)), backend.ops().WORD))


def _plain_stage(name, fn):
    return fn(), 0.0


def over_runs(x, runs, attack, done, batch_size, progress=None, stage=None):
    """Run `attack` over `runs`, each run on the images not yet `done`, in batches.

    Args:
        x: the clean images (a float tensor).
        runs: (rank, restart) pairs (`runs_of`).
        attack: `attack(ids, rank, restart)` → (adversarial images, scores) for the images `ids`
            (numpy); a lower score is a better example.
        done: `done(scores)` → bool per image: no later run needs to try it.
        batch_size: images per `attack` call.
        progress: `progress(done, total, finished)` after each batch, `finished` the images done so far.
        stage: `stage(name, fn)` runs each run (see `kerasll.evaluation.chunks.Stages`); a stage's result
            is the examples that run improved, so a kept run is restored, not recomputed.

    Returns:
        (x_adv, scores): per image the best example found and its score (inf and the clean image
        where no run produced one).
    """
    n = int(x.shape[0])
    stage = stage or _plain_stage
    x_adv = backend.to_numpy(x).copy()
    scores = np.full(n, np.inf)
    count, total = 0, len(runs) * n
    for run, (rank, restart) in enumerate(runs):
        todo = np.flatnonzero(~done(scores))
        total -= n - len(todo)

        def one_run(todo=todo, rank=rank, restart=restart):
            nonlocal count
            changed = []
            for s in batches(len(todo), batch_size):
                ids = todo[s]
                adv, score = attack(ids, rank, restart)
                take = score < scores[ids]
                x_adv[ids[take]], scores[ids[take]] = adv[take], score[take]
                changed.append(ids[take])
                count += len(ids)
                if progress is not None:
                    progress(count, total, int(done(scores).sum()))
            ids = np.concatenate(changed) if changed else np.zeros(0, np.int64)
            return {"ids": ids, "adv": x_adv[ids], "score": scores[ids]}

        found, _ = stage(f"run {run + 1}/{len(runs)}", one_run)  # a kept run (after an interruption) is reused
        x_adv[found["ids"]], scores[found["ids"]] = found["adv"], found["score"]
    return x_adv, scores


def _margin_fooled(model, x, y):
    m = margin(y, model(x, training=False))
    return m, m < 0


def margin_and_fooled(model, x, y):
    """(z_y − max_{i≠y} z_i, fooled) per image, as numpy arrays; `y` integer labels."""
    fn = compiled(model, "margin", _margin_fooled, [batch_spec(x), spec("int32", [None])])
    return tuple(backend.to_numpy(t) for t in fn(ops.convert_to_tensor(x), ops.cast(y, "int32")))


def _ranked(model, x):
    return ops.argsort(-ops.cast(model(x, training=False), "float32"), axis=-1)


def ranked_classes(model, x):
    """Classes per image from the highest logit to the lowest, (B, C) numpy."""
    return backend.to_numpy(compiled(model, "ranked", _ranked, [batch_spec(x)])(ops.convert_to_tensor(x)))


def num_classes(model, x):
    """The number of classes `model` scores, from one image of `x`."""
    return int(model(x[:1], training=False).shape[-1])


def targets_of(model, x, target_classes):
    """(ranked classes per image, how many targets): the model's classes from the highest logit down, and
    `target_classes` (None: AutoAttack's, capped at the model's C − 1 wrong classes; more is refused)."""
    ranked = ranked_classes(model, x)
    classes = ranked.shape[1]
    if target_classes is None:
        return ranked, min(AUTOATTACK_TARGETS, classes - 1)
    if not 1 <= int(target_classes) <= classes - 1:
        raise KerasllError(f"target_classes must be in [1, {classes - 1}] for {classes} classes, "
                           f"got {target_classes}")
    return ranked, int(target_classes)


def _forward(model, x):
    return ops.cast(model(x, training=False), "float32")


def logits_of(model, x, batch_size=2000):
    """The model's float32 logits on `x` (inference mode, in batches), numpy."""
    x = ops.convert_to_tensor(x)
    fn = compiled(model, "forward", _forward, [batch_spec(x)])
    return np.concatenate([backend.to_numpy(fn(x[i:i + batch_size])) for i in range(0, int(x.shape[0]), batch_size)])


def predict_classes(model, x, batch_size=2000):
    """The model's predicted class per image, (N,) numpy."""
    return np.argmax(logits_of(model, x, batch_size), -1)
