"""Two AutoAttack runs on the same images, compared stage by stage and image by image.

Used by scripts/benchmark_reference.py to hold kerasll's AutoAttack against the
reference implementation (fra31/auto-attack): after each stage, how many images
each left robust, and which images only one of them broke.
"""

from dataclasses import dataclass

import numpy as np

from kerasll.attacks.registry import VERSIONS

STAGES = tuple(name for name, _ in VERSIONS["standard"])  # AutoAttack standard, in order


@dataclass(frozen=True)
class StageComparison:
    """One stage: images still robust after it (and every stage before) in each run, of `n`, and the
    images only ours broke (`only_ours`) or only theirs broke (`only_theirs`) by then."""

    stage: str
    n: int
    ours: int
    theirs: int
    only_ours: int
    only_theirs: int


def compare_stages(ours, theirs, stages=STAGES):
    """A `StageComparison` per stage from per-image robust flags {stage: (N,) bool} of two runs."""
    rows = []
    for stage in stages:
        a, b = np.asarray(ours[stage], bool), np.asarray(theirs[stage], bool)
        rows.append(StageComparison(stage, len(a), int(a.sum()), int(b.sum()), int(np.sum(~a & b)),
                                    int(np.sum(a & ~b))))
    return rows


PARITY_MARGIN = 0.2  # points: each stage's mean robust accuracy over seeds may exceed the reference's by this much


def parity_gaps(runs, stages=STAGES):
    """Per stage, kerasll's mean robust accuracy minus the reference's, in points, over `runs`
    (lists of `StageComparison` rows, one list per seed); positive means kerasll is weaker."""
    gaps = {}
    for stage in stages:
        rows = [r for run in runs for r in run if r.stage == stage]
        gaps[stage] = 100 * sum((r.ours - r.theirs) / r.n for r in rows) / len(rows)
    return gaps


def at_parity(gaps):
    """Is every stage at most `PARITY_MARGIN` points weaker than the reference's? (Gaps are means of image
    counts: compared to 1e-9 points, so that a gap of exactly the margin passes.)"""
    return all(gap <= PARITY_MARGIN + 1e-9 for gap in gaps.values())


def fill_skipped(flags, seconds, clean, stages=STAGES):
    """Per-stage robust flags and seconds with the stages a driver skipped filled in: the reference's stops
    once no image is left robust, so a stage it never ran broke nothing and took no time."""
    flags, seconds, last = dict(flags), dict(seconds), np.asarray(clean, bool)
    for stage in stages:
        flags.setdefault(stage, last)
        seconds.setdefault(stage, 0.0)
        last = flags[stage]
    return flags, seconds


def pack_flags(flags):
    """Per-image bools as a hex string (one bit an image), to store a run's robust flags in JSON."""
    return np.packbits(np.asarray(flags, bool)).tobytes().hex()


def unpack_flags(text, n):
    """The inverse of `pack_flags` for `n` images."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8))[:n].astype(bool)


PORT_LOGITS, PORT_GRADIENT = 1e-4, 1e-3  # the port agrees: logits to 1e-4, gradients to 1e-3 of their largest value


def port_check(model, x, y, logits, grad):
    """Does another framework's copy of `model` compute the same thing? Compares its `logits` and its
    input gradients of the summed cross-entropy (`grad`, NHWC) on (x, y) with this model's; a dict."""
    import keras
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        ours = model(x, training=False)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, ours, from_logits=True))
    ours_grad = tape.gradient(loss, x).numpy()
    logit_diff = float(np.max(np.abs(ours.numpy() - logits)))
    grad_diff = float(np.max(np.abs(ours_grad - grad)) / max(np.max(np.abs(ours_grad)), 1e-12))
    return {"logits_max_diff": logit_diff, "gradient_max_rel_diff": grad_diff,
            "ok": logit_diff <= PORT_LOGITS and grad_diff <= PORT_GRADIENT}
