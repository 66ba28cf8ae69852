"""Verification per image over resumable chunks, like `evaluate` and `certify_records`: a `Measure`
(`kerasll.evaluation.measure`) whose chunks keep stages of `STAGE[method]` images, so an interrupted run
resumes, and a run spread over devices or workers (`--strategy`) gives the one-process records."""

import numpy as np

from kerasll.errors import check_choice, check_positive
from kerasll.evaluation.measure import Images, Measure, in_stages, run
from kerasll.verification.milp import VERIFIED, check_size

STAGE = {"ibp": 1000, "crown": 20, "milp": 50}  # images per kept stage of a chunk: Ctrl-C loses at most one


def records_of(result):
    """A `VerifyResult`'s per-image arrays, as records.npz holds them (the exact method's counterexamples too:
    NaN where an image has none)."""
    out = {"status": np.asarray(result.status, str), "correct": np.asarray(result.correct, bool),
           "margin_lower": np.asarray(result.margin_lower, np.float64)}
    if result.counterexamples is not None:
        out["counterexamples"] = np.asarray(result.counterexamples, np.float32)
    return out


def result_of(records, method, eps):
    """The `VerifyResult` whose per-image arrays are `records` (`records_of`'s inverse)."""
    from kerasll.verification.verify import VerifyResult

    status = np.asarray(records["status"], str).astype(object)
    correct = np.asarray(records["correct"], bool)
    return VerifyResult(method, float(eps), (status == VERIFIED) & correct, np.asarray(records["margin_lower"]),
                        correct, status, records.get("counterexamples"))


class VerifyMeasure(Measure):
    """`kl.verify` per image under `settings` (a `VerifySettings`: eps, method, time_limit): `verify_records`'
    measure. Every image is decided on its own, so any split into chunks gives the same records."""

    def __init__(self, model, images, settings):
        from kerasll.verification.verify import network_of

        check_choice("verification method", settings.method, tuple(STAGE))
        check_positive("eps", settings.eps, 0.1)
        self.model, self.images, self.settings = model, images, settings
        steps, _ = network_of(model)  # an unsupported layer stops here, before any chunk is kept
        if settings.method == "milp":
            check_size(steps)

    def what(self):
        s = self.settings
        return {"kind": "verify", "eps": float(s.eps), "method": s.method, "time_limit": s.time_limit}

    def compute(self, ctx, a, b, stages):
        from kerasll.verification.verify import verify

        s, im = self.settings, self.images
        time_limit = 60.0 if s.time_limit is None else s.time_limit
        name = f"{s.method} ε={s.eps:g}"

        def part(lo, hi):
            report = (lambda done: ctx.progress(name, lo - a + done, b - a, None)) if ctx.progress else None
            return records_of(verify(self.model, im.x[lo:hi], im.y[lo:hi], s.eps, s.method, progress=report,
                                     time_limit=time_limit))
        records, took = in_stages(a, b, STAGE[s.method], stages, part, report=False)  # the bar shows them
        return records, {s.method: took}

    def line(self, records):
        verified = (records["status"] == VERIFIED) & records["correct"].astype(bool)
        return f"verified {100 * np.mean(verified):.1f}% of {len(verified)} images so far"


def verify_records(model, x, y, settings, checkpoint=None, context=None):
    """`kl.verify` under `settings` (a `kerasll.evaluation.kinds.VerifySettings`) over chunks, resumable like
    `evaluate` and spread by the `context`'s strategy: returns (records, seconds), the records ``status``,
    ``correct``, ``margin_lower`` (and ``counterexamples`` for the exact method) per image; `result_of` turns
    them into a `VerifyResult`."""
    images = Images.of(model, x, y)
    return run(VerifyMeasure(model, images, settings), model, images, checkpoint, context)
