"""One template for every evaluation over a set of images: AutoAttack and single attacks (`core`), ε-curves
(`curves`), Φ and certification (`measures`).

A `Measure` says what it computes (`what`: the identity its kept chunks are filed under), how one chunk of
images is computed (`compute`, with the chunk's `Stages`), and what a log line says of the records so far
(`line`). `run` does the rest for all of them, through the run's one `Context`: the checkpoint folder and its
fingerprint, the stages kept inside a chunk, the spread over devices and workers, progress and log lines.
"""

from dataclasses import dataclass

import numpy as np

from kerasll.attacks import noise
from kerasll.attacks.driver import num_classes
from kerasll.errors import KerasllError
from kerasll.evaluation.chunks import Context, StageId, concat


def as_labels(y):
    """Integer labels (N,) from (N,), (N, 1) or one-hot (N, C) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, -1)
    return y.reshape(-1).astype(np.int64)


def check_labels(y, classes):
    """Integer labels, refused with one line if any is outside 0..classes−1."""
    y = as_labels(y)
    if classes < 2:
        raise KerasllError(f"the model is not a classifier: it gives {classes} output per image, and kerasll needs "
                           "one score per class (at least 2)")
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = y[(y < 0) | (y >= classes)][0]
        raise KerasllError(f"label {bad} is out of range: the model has {classes} classes (0–{classes - 1})")
    return y


@dataclass(frozen=True)
class Images:
    """The images a measure runs on: float32 `x`, labels `y` checked against the model's classes, and the
    random-draw `keys` (from their content unless given: `noise.image_keys`)."""

    x: np.ndarray
    y: np.ndarray
    keys: np.ndarray
    classes: int

    @classmethod
    def of(cls, model, x, y, keys=None):
        classes = num_classes(model, x)
        y = check_labels(y, classes)
        x = np.asarray(x, np.float32)
        return cls(x, y, noise.keys_of(x, keys), classes)

    def __len__(self):
        return len(self.x)


class Measure:
    """What an evaluation computes over `Images`, chunk by chunk; see the module doc."""

    def what(self):
        """The computation's identity (JSON-ready): kept chunks are filed under its fingerprint."""
        raise NotImplementedError

    def compute(self, ctx, a, b, stages):
        """(records, seconds) of images a..b−1: one (b − a,) array per record, each stage through `stages`."""
        raise NotImplementedError

    def line(self, records):
        """A log line of the records so far."""
        raise NotImplementedError


def run(measure, model, images, checkpoint=None, context=None):
    """(records, seconds) of `measure` over every image of `images`, chunk by chunk under the run's `context`
    (default: one process, no callbacks), kept in `checkpoint` (a folder) so an interrupted run resumes."""
    ctx = context or Context()
    return ctx.run(lambda a, b, stages: measure.compute(ctx, a, b, stages), model, images.x, images.y, checkpoint,
                   measure.what(), measure.line)


def in_stages(a, b, size, stages, part, report=True):
    """`part(lo, hi)` ({name: (hi − lo,) array}) for every `size` images of the chunk [a, b), each a kept stage
    (Ctrl-C keeps what is done), logged as it is kept unless not `report`: the parts joined, and their seconds."""
    parts, took = [], 0.0
    for lo in range(a, b, size):
        hi = min(lo + size, b)
        found, t = stages(StageId("images", f"{lo}-{hi}"), lambda lo=lo, hi=hi: part(lo, hi), report)
        parts.append(found)
        took += t
    return concat(parts), round(took, 2)
