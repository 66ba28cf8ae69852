"""`kerasll verify`'s wiring: a zoo entry or a .keras file, its test images, `kerasll.verify` per ε — cached in
the entry's eval.json by its settings, and set beside the entry's stored AutoAttack result on the same images
(verified ≤ true robust accuracy ≤ AutoAttack's)."""

from dataclasses import dataclass

import numpy as np

from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.evaluation.kinds import VerifySettings
from kerasll.zoo.entry import load_classifier
from kerasll.zoo.evaluation import RECORDS_DIR, Results, check_fits, context_of, images_tag, model_input_shape, test_data
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
    """The stored form of a `VerifyResult`: its numbers and, per image, its status."""
    out = result.summary()
    out["margin_lower_mean"] = float(np.mean(np.clip(result.margin_lower, -1e6, 1e6))) if len(result.verified) else 0.0
    out["status"] = [str(s) for s in result.status]
    out["correct"] = [bool(c) for c in result.correct]
    out["attacks_revision"] = ATTACKS_REVISION  # the MILP's first look is PGD's: its draws are keyed as the attacks'
    if time_limit is not None:
        out["time_limit"] = time_limit
    return out


def verify_model(zoo, name, inputs, eps_values, method, progress=None, log=None, time_limit=60.0):
    """The images and {ε: stored result} for entry (or .keras file) `name` on the images `inputs` names, each
    from eval.json when it has it (unless --force); `progress(done, total, description)` after each pass."""
    from pathlib import Path

    from kerasll.verification import verify

    entry = None
    if Path(name).suffix == ".keras" or Path(name).is_file():
        model, dataset = load_classifier(name, log, inputs.unsafe), inputs.dataset
    else:
        entry = zoo.get(name)
        model, dataset = entry.load_model(inputs.unsafe, log), entry.metadata()["dataset"]
    data = test_data(inputs, dataset, model_input_shape(model))
    check_fits(model, data, name)
    context = context_of(inputs, log=log)
    results = Results(context, entry.path / RECORDS_DIR if entry else None, entry, zoo)
    limit = time_limit if method == "milp" else None
    out = {}
    for eps in eps_values:
        settings = VerifySettings(float(eps), method, limit, inputs.seed)
        step = None if progress is None else (lambda done, e=eps: progress(done, len(data.y), f"ε = {e:g}"))

        def compute(folder, eps=eps, step=step):
            import time

            start = time.perf_counter()
            found = verify(model, data.x, data.y, eps, method, progress=step, time_limit=time_limit)
            return summarize(found, limit) | {"seconds": time.perf_counter() - start, "data": data.name}

        rid = ResultId(settings, len(data.x), images_tag(data, inputs))
        out[float(eps)] = results.get(rid, compute)
    intervals = {eps: interval(results, result, eps, images_tag(data, inputs)) for eps, result in out.items()}
    return data, out, intervals


def interval(results, verified, eps, tag):
    """The `Interval` of a stored verification and the entry's AutoAttack (standard, L∞, this ε) on the same
    images: its per-image records, cut to the first `samples` images; None without such a result."""
    if results.entry is None:
        return None
    stored = results.entry.evaluations()
    n = verified["images"]
    for found in find(stored, ATTACK, tag, attack="autoattack", norm="linf", version="standard"):
        rid = ResultId.of(found)
        if rid.samples < n or not np.isclose(rid.settings.eps, eps, rtol=0, atol=1e-9):
            continue
        records = results.records_of(rid)
        if records is None or "robust" not in records:
            continue
        robust = np.asarray(records["robust"][:n], bool)
        status = np.asarray(verified["status"], object)
        proven = status == "verified"
        out = Interval(float(proven.mean()), float(robust.mean()), n, rid.key(), int(np.sum(proven & ~robust)))
        if verified["method"] == "milp":
            attackable = status == "attackable"
            out.missed = int(np.sum(attackable & robust))
            out.missed_by = {k.split(":", 1)[1]: int(np.sum(attackable & np.asarray(v[:n], bool)))
                             for k, v in records.items() if k.startswith("robust:")}
        return out
    return None

