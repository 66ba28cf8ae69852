"""`kerasll verify`'s wiring: a zoo entry or a .keras file, its test images, `kerasll.verify` per ε — cached in
the entry's eval.json by its settings, and set beside the entry's stored AutoAttack result on the same images
(verified ≤ true robust accuracy ≤ AutoAttack's)."""

from dataclasses import dataclass

import shutil
import time

import numpy as np

from kerasll._files import atomic_write_bytes
from kerasll.distribution.spread import pack, unpack

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
    """The stored form of a `VerifyResult`: its numbers (the per-image arrays go to records.npz)."""
    out = result.summary()
    if time_limit is not None:
        out["time_limit"] = time_limit
    out["attacks_revision"] = ATTACKS_REVISION  # the MILP's first look is PGD's: its draws are keyed as the attacks'
    return out


def per_image(result):
    """A `VerifyResult`'s per-image arrays, as records.npz holds them (the exact method's counterexamples too:
    NaN where an image has none)."""
    out = {"status": np.asarray(result.status, str), "correct": np.asarray(result.correct, bool),
           "margin_lower": np.asarray(result.margin_lower, np.float64)}
    if result.counterexamples is not None:
        out["counterexamples"] = np.asarray(result.counterexamples, np.float32)
    return out


def verify_model(zoo, name, inputs, eps_values, method, progress=None, log=None, time_limit=60.0):
    """(the images, {ε: stored result}, {ε: `Interval` or None}) for entry (or .keras file) `name` on the images
    `inputs` names, each result from eval.json when it has it (unless --force), its per-image status in the
    entry's records; `progress(done, total, description)` after each pass."""
    from pathlib import Path

    entry = None
    if Path(name).suffix == ".keras" or Path(name).is_file():
        model, dataset = load_classifier(name, log, inputs.unsafe), inputs.dataset
    else:
        entry = zoo.get(name)
        model, dataset = entry.load_model(inputs.unsafe, log), entry.metadata()["dataset"]
    data = test_data(inputs, dataset, model_input_shape(model))
    check_fits(model, data, name)
    results = Results(context_of(inputs, log=log), entry.path / RECORDS_DIR if entry else None, entry, zoo)
    limit, tag = (time_limit if method == "milp" else None), images_tag(data, inputs)
    out, intervals = {}, {}
    for eps in eps_values:
        settings = VerifySettings(float(eps), method, limit, inputs.seed)
        step = None if progress is None else (lambda done, e=eps: progress(done, len(data.y), f"ε = {e:g}"))
        fresh = {}

        def compute(folder, eps=eps, step=step, fresh=fresh):
            start = time.perf_counter()
            found = verify_in_chunks(model, data, eps, method, time_limit, folder, step)
            fresh.update(per_image(found))
            if folder is not None:
                atomic_write_bytes(folder / "run" / "records.npz", pack(fresh))
                shutil.rmtree(folder / "run" / "chunks", ignore_errors=True)  # the records hold them all now
            return summarize(found, limit) | {"seconds": time.perf_counter() - start, "data": data.name}

        rid = ResultId(settings, len(data.x), tag)
        out[float(eps)] = results.get(rid, compute)
        records = fresh or results.records_of(rid)
        intervals[float(eps)] = interval(results, out[float(eps)], records, eps, tag) if records else None
    return data, out, intervals


CHUNK = {"ibp": 2000, "crown": 20, "milp": 50}  # images per saved chunk: an interrupted run resumes after the last


def verify_in_chunks(model, data, eps, method, time_limit, folder=None, progress=None):
    """`kl.verify` over `data` a chunk at a time, each chunk's per-image verdicts saved in `folder`/run/chunks
    and taken from there when a run was interrupted: the images are independent, so the result is the
    one-call result (a `VerifyResult`)."""
    from kerasll.verification import VerifyResult, verify

    size, parts = CHUNK[method], []
    chunks = None if folder is None else folder / "run" / "chunks"
    if chunks is not None:
        chunks.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(data.y), size):
        path = None if chunks is None else chunks / f"{start:08d}.npz"
        if path is not None and path.is_file():
            part, _ = unpack(path.read_bytes())
        else:
            stop = min(start + size, len(data.y))
            found = verify(model, data.x[start:stop], data.y[start:stop], eps, method, time_limit=time_limit,
                           progress=None if progress is None else (lambda done, s=start: progress(s + done)))
            part = per_image(found)
            if path is not None:
                atomic_write_bytes(path, pack(part))
        parts.append(part)
        if progress is not None:
            progress(min(start + size, len(data.y)))
    joined = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in ("status", "correct",
                                                                                             "margin_lower")}
    status = joined["status"].astype(object)
    verified = (status == "verified") & joined["correct"].astype(bool)
    found = None if method != "milp" else np.concatenate([p["counterexamples"] for p in parts])
    return VerifyResult(method, float(eps), verified, joined["margin_lower"], joined["correct"].astype(bool),
                        status, found)


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

