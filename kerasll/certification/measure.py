"""Randomized smoothing's certificates per image, over resumable chunks like `evaluate`: a `Measure`
(`kerasll.evaluation.measure`) whose chunks keep stages of `CERTIFY_STAGE` images, so an interrupted run
resumes and a spread run gives the one-process records."""

import numpy as np

from kerasll.evaluation.measure import Images, Measure, in_stages, run

CERTIFY_STAGE = 100  # images per saved stage of certification within a chunk


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
        from kerasll.certification.smoothing import certify

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
    """Randomized smoothing's CERTIFY per image (`kerasll.certification.certify`) under `settings` (a
    `kerasll.evaluation.kinds.CertifySettings`: sigma, n0, n, alpha, seed) over chunks, resumable like
    `evaluate`, each chunk's images kept `CERTIFY_STAGE` at a time: returns (records, seconds) with
    ``prediction`` (−1: abstain), ``radius``, ``correct``, ``p_lower`` and ``counts_top`` per image."""
    images = Images.of(model, x, y)
    return run(CertifyMeasure(model, images, settings), model, images, checkpoint, context)
