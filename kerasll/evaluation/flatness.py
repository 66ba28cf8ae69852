"""Φ per image, over resumable chunks like `evaluate`.

It is a `Measure` run in the run's `Context` (`kerasll.evaluation.measure`): finished chunks, and
finished stages of a few hundred images within a chunk, are kept under a `checkpoint`
folder, so an interrupted run resumes and a spread run gives the one-process records.
"""

import numpy as np

from kerasll.attacks.noise import image_keys
from kerasll.evaluation.measure import Images, Measure, in_stages, run

FLATNESS_STAGE = 200  # images per saved stage of Φ within a chunk


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
