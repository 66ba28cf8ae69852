"""Stored results of an entry: which ones were computed with given settings on which images, and how an
entry's defense is described. Plain Python over eval.json: `zoo list`, `zoo show` and the report use it
without importing TensorFlow.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasll._files import read_json
from kerasll.defenses.registry import get_defense, list_defenses
from kerasll.errors import KerasllError

KIND_CERTIFY = "certify"  # a certification's "kind": what finds certifications among an entry's results


def describe(meta):
    """A short label of an entry's defense, e.g. 'AT ε=10/255' or 'AMSReg λ=0.5 (exact)'."""
    if meta["defense"] not in list_defenses():  # an entry from a defense this install does not know
        return meta["defense"]
    return get_defense(meta["defense"]).describe(meta.get("defense_params", {}))


def data_tag_of(key, result):
    """Which images a stored result used: its `data_tag` ('' the official test split, '-embedded' the
    bundled subset, '-data<hash>' a user's data); results stored before the field existed say so in the key."""
    return result.get("data_tag", "-embedded" if key.endswith("-embedded") else "")


def results_with(entry, settings, data_tag=""):
    """An entry's stored results computed with `settings` (seed aside) on the images tagged `data_tag`."""
    want = {k: v for k, v in settings.to_dict().items() if k != "seed"}
    found = []
    for key, result in entry.evaluations().items():
        stored = result.get("settings", {})
        tag = data_tag_of(key, result)
        if {k: v for k, v in stored.items() if k != "seed"} == want and tag == data_tag:
            found.append(result)
    return found


@dataclass(frozen=True)
class StoredCertificate:
    """One stored certification: its σ, images and samples, the summary, and the per-image radii if kept.

    `radii` is per test image the certified radius of a correct prediction and −1 otherwise (wrong or
    abstained), from the records; None when the records are gone (the summary still holds)."""

    label: str
    sigma: float
    result: dict
    radii: np.ndarray | None = None

    @property
    def mean_radius(self):
        return self.result["mean_radius"]


def _radii(result, root):
    path = result.get("records")
    if not path or not (Path(root) / path).is_file():
        return None
    with np.load(Path(root) / path) as records:
        return np.where(records["correct"], records["radius"], -1.0)


def certifications(results):
    """{σ: the best stored certification result}: the one on the most images, then the most samples, then
    the newest. `results`: an eval.json "results" mapping (or a `certify --json` file's)."""
    found = {}
    for result in results.values():
        if not isinstance(result, dict) or result.get("kind") != KIND_CERTIFY:
            continue
        sigma, rank = result["settings"]["sigma"], (result["samples"], result["settings"]["n"], result.get("created", ""))
        if sigma not in found or rank > found[sigma][0]:
            found[sigma] = (rank, result)
    return {sigma: result for sigma, (_, result) in sorted(found.items())}


def stored_certificates(zoo, name, sigmas=None):
    """The certifications of entry `name` (or of a `kerasll certify --json` file), one per σ, as
    `StoredCertificate`s; `sigmas` keeps only those σ. Nothing stored → one line saying how to make it."""
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        results, root, label = read_json(path), Path("."), path.stem
    else:
        entry = zoo.get(name)
        results, root, label = entry.evaluations(), entry.path, name
    found = certifications(results if isinstance(results, dict) else {})
    if sigmas:
        found = {s: r for s, r in found.items() if any(abs(s - t) < 1e-9 for t in sigmas)}
    if not found:
        at = f" at σ={','.join(f'{s:g}' for s in sigmas)}" if sigmas else ""
        raise KerasllError(f"{name!r} has no certification{at} yet: run `kerasll certify {name} --sigma "
                           f"{','.join(f'{s:g}' for s in sigmas) if sigmas else '0.25'}`")
    return [StoredCertificate(label, sigma, result, _radii(result, root)) for sigma, result in found.items()]
