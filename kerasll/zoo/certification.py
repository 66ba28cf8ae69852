"""Certify zoo entries and model files with randomized smoothing: cached in eval.json, resumable, spread.

`kerasll certify` builds a `CertifyRequest`: the smoothing settings, one or more σ,
and an `EvalRequest` for everything an evaluation shares (the test data, `--limit`,
the seed, batch size, strategy, `--force`). Each σ is one result, stored under its
own eval.json key and computed by `kerasll.evaluation.certify_records` in chunks
and stages, so an interrupted run resumes and a spread run gives the one-process
result.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.errors import KerasllError
from kerasll.evaluation import certify_records
from kerasll.certification.smoothing import RADII, CertifyResult, check_settings
from kerasll.zoo.requests import Inputs
from kerasll.evaluation.kinds import CertifySettings
from kerasll.zoo.results import ResultId
from kerasll.zoo.evaluation import context_of, images_tag, prepared


@dataclass(frozen=True)
class CertifyRequest:
    """One `kerasll certify` call: the noise levels, CERTIFY's budgets, and the shared evaluation settings."""

    sigmas: tuple = (0.25,)
    n0: int = 100
    n: int = 100_000
    alpha: float = 0.001
    radii: tuple = RADII
    inputs: Inputs = field(default_factory=Inputs)

    def check(self):
        """Refuse values no certification can use, before anything is loaded."""
        if not self.sigmas:
            raise KerasllError("--sigma needs at least one noise level, e.g. 0.12,0.25,0.5")
        for sigma in self.sigmas:
            check_settings(sigma, self.n0, self.n, self.alpha)
        if any(not np.isfinite(r) or r < 0 for r in self.radii):
            raise KerasllError(f"radii must be numbers ≥ 0, got {', '.join(map(str, self.radii))}")
        self.inputs.check()
        return self


def summarize(records, settings, radii=RADII):
    """The stored result of one σ from its per-image records."""
    result = CertifyResult.from_arrays(records, settings)
    s = result.summary(radii)
    return {"settings": settings | {"samples": s["samples"]}, "samples": s["samples"], "certified_accuracy": {f"{r:g}": a for r, a in s["certified_accuracy"].items()},
            "abstention_rate": s["abstention_rate"], "clean_accuracy": s["clean_accuracy"],
            "mean_radius": s["mean_radius"], "attacks_revision": ATTACKS_REVISION}


def run(model, data, request, results):
    """Each σ's result, cached or computed: {sigma: result}."""
    tag = images_tag(data, request.inputs)
    out = {}
    for sigma in request.sigmas:
        settings = CertifySettings(float(sigma), request.n0, request.n, request.alpha, request.inputs.seed)

        def compute(folder, settings=settings):
            records, seconds = certify_records(model, data.x, data.y, settings, folder, results.context)
            return summarize(records, settings.to_dict(), request.radii) | {"seconds": seconds.get("certify", 0.0),
                                                                            "data": data.name}

        rid = ResultId(replace(settings, samples=len(data.x)), len(data.x), tag)
        out[float(sigma)] = results.get(rid, compute)
    return out


def certify_entry(zoo, name, request, context=None):
    """Certify entry `name` at each σ of `request`, reusing eval.json's results unless `--force`;
    `context` (`kerasll.zoo.evaluation.context_of`): the callbacks and where the chunks run."""
    request.check()
    model, data, _, results = prepared(zoo, name, request.inputs, context or context_of(request.inputs))
    return run(model, data, request, results)


def certify_file(path, request, records_root=None, context=None):
    """The same for a .keras classifier file; nothing is written to a zoo (records beside --json)."""
    request.check()
    model, data, _, results = prepared(None, path, request.inputs, context or context_of(request.inputs),
                                       records_root)
    return run(model, data, request, results)
