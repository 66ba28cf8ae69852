"""Φ and randomized smoothing's certificates per image, over resumable chunks like `evaluate`.

Each runs in the run's `Context` (`kerasll.evaluation.chunks`): finished chunks, and
finished stages of a few hundred images within a chunk, are kept under a `checkpoint`
folder, so an interrupted run resumes and a spread run gives the one-process records.
"""

import numpy as np

from kerasll.attacks.driver import num_classes
from kerasll.attacks.noise import image_keys
from kerasll.evaluation.chunks import Context, StageId, concat
from kerasll.evaluation.core import check_labels

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


def flatness_records(model, x, y, pairs, grid, radius, seed, directions, checkpoint=None, context=None, **environment):
    """Per-image φ (Φ's terms) over chunks, resumable like `evaluate`: returns (φ (N,), seconds)."""
    from kerasll.landscapes.flatness import flatness

    ctx = context or Context.of(**environment)
    all_keys = image_keys(np.asarray(x, np.float32))
    label = "flatness" if directions == "random" else "flatness (FGSM)"

    def compute(a, b, stages):
        def part(lo, hi):
            report = (lambda done, total: ctx.progress(label, lo - a + done, b - a, None)) if ctx.progress else None
            return {"phi": flatness(model, x[lo:hi], y[lo:hi], pairs=pairs, grid=grid, radius=radius, seed=seed,
                                    directions=directions, keys=all_keys[lo:hi], progress=report).per_sample}
        records, took = in_stages(a, b, FLATNESS_STAGE, stages, part)
        return records, {"flatness": took}

    what = {"kind": "flatness", "pairs": pairs, "grid": grid, "radius": radius, "seed": seed,
            "directions": directions}
    line = lambda r: f"Φ {r['phi'].mean():.4f} over {len(r['phi'])} images so far"  # noqa: E731
    records, seconds = ctx.run(compute, model, x, y, checkpoint, what, line)
    return records["phi"], seconds


def certify_records(model, x, y, sigma, n0, n, alpha, seed=0, checkpoint=None, context=None, **environment):
    """Randomized smoothing's CERTIFY per image over chunks (`kerasll.smoothing.certify`), resumable like
    `evaluate`, each chunk's images kept `CERTIFY_STAGE` at a time: returns (records, seconds) with
    ``prediction`` (−1: abstain), ``radius``, ``correct``, ``p_lower`` and ``counts_top`` per image."""
    from kerasll.smoothing import certify

    ctx = context or Context.of(**environment)
    y = check_labels(y, num_classes(model, x))
    x = np.asarray(x, np.float32)
    all_keys = image_keys(x)

    def compute(a, b, stages):
        def part(lo, hi):
            report = (lambda done, total: ctx.progress(f"certify σ={sigma:g}", lo - a + done * (hi - lo) / total,
                                                       b - a, None)) if ctx.progress else None
            return certify(model, x[lo:hi], y[lo:hi], sigma, n0, n, alpha, seed, ctx.batch_size, all_keys[lo:hi],
                           report).arrays()
        records, took = in_stages(a, b, CERTIFY_STAGE, stages, part)
        return records, {"certify": took}

    what = {"kind": "certify", "sigma": float(sigma), "n0": int(n0), "n": int(n), "alpha": float(alpha),
            "seed": int(seed)}
    line = lambda r: (f"smoothed clean accuracy {100 * np.mean(r['correct']):.1f}% (certified at r > 0), "  # noqa: E731
                      f"abstained on {100 * np.mean(r['prediction'] < 0):.1f}%, of {len(r['radius'])} images so far")
    return ctx.run(compute, model, x, y, checkpoint, what, line)
