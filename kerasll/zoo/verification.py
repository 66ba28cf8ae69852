"""`kerasll verify`'s wiring: a zoo entry or a .keras file, its test images, `kerasll.verify` per ε — cached in
the entry's eval.json by its settings, and set beside the entry's stored AutoAttack result on the same images
(verified ≤ true robust accuracy ≤ AutoAttack's)."""

from dataclasses import dataclass

import time

import numpy as np

from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.evaluation.kinds import VerifySettings
from kerasll.verification.measure import result_of, verify_records
from kerasll.zoo.entry import is_model_file
from kerasll.zoo.evaluation import context_of, images_tag, prepared
from kerasll.zoo.results import ATTACK, ResultId, find


@dataclass
class Interval:
    """Verified and AutoAttack accuracy on the same images: the truth lies between.

    `unsound`: images verified yet broken by AutoAttack (0 unless something is wrong); with an exact method,
    `missed`: images the MILP proved attackable that AutoAttack left standing, and `missed_by` per stage."""

    verified: float
    autoattack: float
    images: int
    key: str
    unsound: int
    missed: int | None = None
    missed_by: dict | None = None

    @property
    def gap(self):
        return self.autoattack - self.verified


def summarize(result, time_limit):
    """The stored form of a `VerifyResult`: its numbers (the per-image arrays go to records.npz)."""
    out = result.summary()
    if time_limit is not None:
        out["time_limit"] = time_limit
    out["attacks_revision"] = ATTACKS_REVISION  # the MILP's first look is PGD's: its draws are keyed as the attacks'
    return out


def verify_model(zoo, name, inputs, eps_values, method, context=None, time_limit=60.0, records_root=None):
    """(the images, {ε: stored result}, {ε: `Interval` or None}) for entry (or .keras file) `name` on the images
    `inputs` names, each result from eval.json when it has it (unless --force), its per-image status in the
    entry's records (a file's: in `records_root`, if given), computed in resumable chunks spread by `context`
    (`kerasll.zoo.evaluation.context_of`: the progress and log callbacks, the chunk size, the strategy)."""
    context = context or context_of(inputs)
    model, data, _, results = prepared(None if is_model_file(name) else zoo, name, inputs, context, records_root)
    limit, tag = (time_limit if method == "milp" else None), images_tag(data, inputs)
    out, intervals = {}, {}
    for eps in eps_values:
        settings = VerifySettings(float(eps), method, limit, inputs.seed)
        fresh = {}

        def compute(folder, settings=settings, fresh=fresh):
            start = time.perf_counter()
            records, _ = verify_records(model, data.x, data.y, settings, folder, context)
            fresh.update(records)
            found = result_of(records, method, settings.eps)
            return summarize(found, limit) | {"seconds": time.perf_counter() - start, "data": data.name}

        rid = ResultId(settings, len(data.x), tag)
        out[float(eps)] = results.get(rid, compute)
        records = fresh or results.records_of(rid)
        intervals[float(eps)] = interval(results, out[float(eps)], records, eps, tag) if records else None
    return data, out, intervals


def interval(results, verified, records, eps, tag):
    """The `Interval` of a stored verification (`records`: its per-image status) and the entry's AutoAttack
    (standard, L∞, this ε) on the same images: its per-image records, cut to the first `samples` images; None
    without such a result."""
    if results.entry is None:
        return None
    stored = results.entry.evaluations()
    n = verified["images"]
    for found in find(stored, ATTACK, tag, attack="autoattack", norm="linf", version="standard"):
        rid = ResultId.of(found)
        if rid.samples < n or not np.isclose(rid.settings.eps, eps, rtol=0, atol=1e-9):
            continue
        attacked = results.records_of(rid)
        if attacked is None or "robust" not in attacked:
            continue
        robust = np.asarray(attacked["robust"][:n], bool)
        status = np.asarray(records["status"], str)
        proven = status == "verified"
        out = Interval(float(proven.mean()), float(robust.mean()), n, rid.key(), int(np.sum(proven & ~robust)))
        if verified["method"] == "milp":
            attackable = status == "attackable"
            out.missed = int(np.sum(attackable & robust))
            out.missed_by = {k.split(":", 1)[1]: int(np.sum(attackable & np.asarray(v[:n], bool)))
                             for k, v in attacked.items() if k.startswith("robust:")}
        return out
    return None

