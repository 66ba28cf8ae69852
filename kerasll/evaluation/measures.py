"""Φ and randomized smoothing's certificates per image, over resumable chunks like `evaluate`.

Each is a `Measure` run in the run's `Context` (`kerasll.evaluation.measure`): finished chunks, and
finished stages of a few hundred images within a chunk, are kept under a `checkpoint`
folder, so an interrupted run resumes and a spread run gives the one-process records.
"""

import numpy as np

from kerasll.attacks.noise import image_keys
from kerasll.evaluation.chunks import StageId, concat
from kerasll.evaluation.measure import Images, Measure, run

FLATNESS_STAGE = 200  # images per saved stage of Φ within a chunk
CERTIFY_STAGE = 100  # images per saved stage of certification within a chunk


def in_stages(a, b, size, stages, part):
    """`part(lo, hi)` ({name: (hi − lo,) array}) for every `size` images of the chunk [a, b), each a kept stage
    (Ctrl-C keeps what is done): the parts joined, and their seconds."""
    parts, took = [], 0.0
    for lo in range(a, b, size):
        hi = min(lo + size, b)
        found, t = stages(StageId("images", f"{lo}-{hi}"), lambda lo=lo, hi=hi: part(lo, hi))
        parts.append(found)
        took += t
    return concat(parts), round(took, 2)


class FlatnessMeasure(Measure):
    """Per-image φ (Φ's terms) of `settings` (a `FlatnessSettings`): `flatness_records`' measure."""

    def __init__(self, model, images, settings):
        self.model, self.images, self.settings = model, images, settings

    def what(self):
        s = self.settings
        return {"kind": "flatness", "pairs": s.pairs, "grid": s.grid, "radius": s.radius, "seed": s.seed,
                "directions": s.directions}

    def compute(self, ctx, a, b, stages):
        from kerasll.landscapes.flatness import flatness

        s, im = self.settings, self.images
        label = "flatness" if s.directions == "random" else "flatness (FGSM)"

        def part(lo, hi):
            report = (lambda done, total: ctx.progress(label, lo - a + done, b - a, None)) if ctx.progress else None
            return {"phi": flatness(self.model, im.x[lo:hi], im.y[lo:hi], pairs=s.pairs, grid=s.grid,
                                    radius=s.radius, seed=s.seed, directions=s.directions, keys=im.keys[lo:hi],
                                    progress=report).per_sample}
        records, took = in_stages(a, b, FLATNESS_STAGE, stages, part)
        return records, {"flatness": took}

    def line(self, records):
        return f"Φ {records['phi'].mean():.4f} over {len(records['phi'])} images so far"


def flatness_records(model, x, y, settings, checkpoint=None, context=None):
    """Per-image φ (Φ's terms) of `settings` (a `kerasll.evaluation.kinds.FlatnessSettings`: pairs, grid, radius,
    seed, directions) over chunks, resumable like `evaluate`: returns (φ (N,), seconds)."""
    x = np.asarray(x, np.float32)
    images = Images(x, np.asarray(y), image_keys(x), 0)
    records, seconds = run(FlatnessMeasure(model, images, settings), model, images, checkpoint, context)
    return records["phi"], seconds


class CertifyMeasure(Measure):
    """Randomized smoothing's CERTIFY per image under `settings` (a `CertifySettings`): `certify_records`'
    measure."""

    def __init__(self, model, images, settings):
        self.model, self.images, self.settings = model, images, settings

    def what(self):
        s = self.settings
        return {"kind": "certify", "sigma": float(s.sigma), "n0": int(s.n0), "n": int(s.n), "alpha": float(s.alpha),
                "seed": int(s.seed)}

    def compute(self, ctx, a, b, stages):
        from kerasll.smoothing import certify

        s, im = self.settings, self.images

        def part(lo, hi):
            report = (lambda done, total: ctx.progress(f"certify σ={s.sigma:g}", lo - a + done * (hi - lo) / total,
                                                       b - a, None)) if ctx.progress else None
            return certify(self.model, im.x[lo:hi], im.y[lo:hi], s.sigma, s.n0, s.n, s.alpha, s.seed,
                           batch_size=ctx.batch_size, keys=im.keys[lo:hi], progress=report).arrays()
        records, took = in_stages(a, b, CERTIFY_STAGE, stages, part)
        return records, {"certify": took}

    def line(self, records):
        return (f"smoothed clean accuracy {100 * np.mean(records['correct']):.1f}% (certified at r > 0), "
                f"abstained on {100 * np.mean(records['prediction'] < 0):.1f}%, of {len(records['radius'])} images "
                "so far")


def certify_records(model, x, y, settings, checkpoint=None, context=None):
    """Randomized smoothing's CERTIFY per image (`kerasll.smoothing.certify`) under `settings` (a
    `kerasll.evaluation.kinds.CertifySettings`: sigma, n0, n, alpha, seed) over chunks, resumable like
    `evaluate`, each chunk's images kept `CERTIFY_STAGE` at a time: returns (records, seconds) with
    ``prediction`` (−1: abstain), ``radius``, ``correct``, ``p_lower`` and ``counts_top`` per image."""
    images = Images.of(model, x, y)
    return run(CertifyMeasure(model, images, settings), model, images, checkpoint, context)
