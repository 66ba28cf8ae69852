"""Stored results of an entry, by what they are: each carries its identity (`ResultId`: the kind of
computation, its settings as numbers, how many images and which), written here and queried here. The
eval.json key is a name built from the identity, never read back. Plain Python over eval.json: `zoo
list`, `zoo show` and the report use it without importing TensorFlow.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasll._files import read_json
from kerasll.defenses.registry import get_defense, list_defenses
from kerasll.errors import KerasllError
from kerasll.evaluation.kinds import (
    SETTINGS, CertifySettings, CurveSettings, EvalSettings, FlatnessSettings, SweepSettings, VerifySettings,
)

# What a stored result computed.
ATTACK, SWEEP, CURVE, FLATNESS, CERTIFY, VERIFY = (t.KIND for t in (EvalSettings, SweepSettings, CurveSettings,
                                                                   FlatnessSettings, CertifySettings, VerifySettings))
KINDS = tuple(SETTINGS)
TENSORFLOW = "tensorflow"  # the backend every result was computed on before the port, whose keys stay as they were
OFFICIAL = ""  # the data tag of a data set's own test split ('-embedded': the bundled subset; '-data<hash>': a user's)


def running_backend():
    """The Keras backend computing now ("tensorflow", "jax", "torch")."""
    import keras

    return keras.backend.backend()


@dataclass(frozen=True)
class ResultId:
    """What a stored result is: its `settings` (one of `kerasll.evaluation.kinds`' types, which says the kind),
    the number of test images, which images (`data_tag`) and the Keras backend that computed it.

    A result is reused only on the backend that computed it: JAX's float32 draws and each backend's own
    smoothing noise make results agree within sampling noise, not digit for digit (docs/backends.md).
    TensorFlow's results keep the keys they always had; another backend's carry it in the key ('…-on-jax')."""

    settings: object
    samples: int
    data_tag: str = OFFICIAL
    backend: str = field(default_factory=running_backend)

    @property
    def kind(self):
        return self.settings.KIND

    @classmethod
    def of(cls, result):
        """The identity a stored result carries (its fields; see `fields`)."""
        settings = SETTINGS[result["kind"]].from_dict(result["settings"])
        return cls(settings, result["samples"], result.get("data_tag", OFFICIAL), result.get("backend", TENSORFLOW))

    def fields(self):
        """The identity as a stored result's fields (the backend only where it is not TensorFlow)."""
        backend = {} if self.backend == TENSORFLOW else {"backend": self.backend}
        return {"kind": self.kind, "settings": self.settings.to_dict(), "samples": self.samples,
                "data_tag": self.data_tag} | backend

    def key(self):
        """The eval.json key: a readable name, unique per identity, e.g. 'pgd-linf-eps25/255-steps10-step6.25/255-r1-n10000',
        'autoattack-standard-linf-eps25/255-n10000-embedded', 'phi-pairs2-grid5-radius25/255-mean-n1000'."""
        seed = f"-seed{self.settings.seed}" if self.settings.seed else ""
        on = "" if self.backend == TENSORFLOW else f"-on-{self.backend}"
        return f"{self.settings.name()}-n{self.samples}{seed}{self.data_tag}{on}"


def identified(results):
    """[(ResultId, result)] of an eval.json "results" mapping (or a `--json` file's), skipping anything that
    carries no identity."""
    return [(ResultId.of(r), r) for r in (results.values() if isinstance(results, dict) else ())
            if isinstance(r, dict) and r.get("kind") in KINDS]


def find(results, kind, data_tag=None, **settings):
    """The stored results of `kind` whose settings include `settings` (None: any value), on the images
    tagged `data_tag` (None: any), most images first, then the newest."""
    found = [(rid, r) for rid, r in identified(results) if rid.kind == kind
             and (data_tag is None or rid.data_tag == data_tag)
             and all(v is None or rid.settings.to_dict().get(k) == v for k, v in settings.items())]
    found.sort(key=lambda f: (f[0].samples, f[1].get("created", "")), reverse=True)
    return [r for _, r in found]


def best(results, kind, data_tag=None, **settings):
    """The first of `find`, or None."""
    return next(iter(find(results, kind, data_tag, **settings)), None)


def matching(results, settings, data_tag=OFFICIAL):
    """The attack results computed with `settings` (an `EvalSettings`; seed aside) on `data_tag`'s images,
    most images first."""
    want = _compared(settings.to_dict())
    return [r for r in find(results, ATTACK, data_tag) if _compared(ResultId.of(r).settings.to_dict()) == want]


ADAPTIVE_FIELDS = ("budget_check", "transfer")  # settings that add checks to a plan (`kerasll.attacks.adaptive`)


def _compared(settings, ignore=()):
    """The stored settings two results are compared on: all but the seed (and `ignore`)."""
    return {k: v for k, v in settings.items() if k != "seed" and k not in ignore}


def adaptive_matching(results, settings, data_tag=OFFICIAL):
    """The attack results of `settings` plus adaptive checks (`--check-budget`, `--transfer-from`), most
    images first."""
    want = _compared(settings.to_dict())
    stored = [(ResultId.of(r).settings, r) for r in find(results, ATTACK, data_tag)]
    return [r for s, r in stored if _compared(s.to_dict(), ADAPTIVE_FIELDS) == want
            and (s.budget_check or s.transfer)]


def adaptive_summary(result):
    """One line of what a result's adaptive checks found, e.g. 'budget ×2 broke 0/95; transfer from
    fmnist-lenet-none broke 3/95'."""
    parts, found = [], result.get("adaptive", {})
    if "budget_check" in found:
        parts.append(f"budget ×2 broke {found['budget_check']['broken']}/{found['budget_check']['robust_before']}")
    if "transfer" in found:
        parts.append(f"transfer from {ResultId.of(result).settings.transfer} broke {found['transfer']['broken']}/"
                     f"{found['transfer']['robust_before']}")
    return "; ".join(parts)


def curve_points(result):
    """{ε: accuracy} of a stored ε-curve or sweep (its `budgets` and `accuracy` lists)."""
    return dict(zip(result["budgets"], result["accuracy"]))


def strength_label(meta):
    """An entry's defense strength alone (no name, no variant), e.g. 'ε=4/255' or 'μ=0.3 ε=10/255'."""
    if meta["defense"] not in list_defenses():
        return ""
    return get_defense(meta["defense"]).strength_of(meta.get("defense_params", {}))


def describe(meta):
    """A short label of an entry's defense, e.g. 'AT ε=10/255' or 'AMSReg λ=0.5 (exact)'."""
    if meta["defense"] not in list_defenses():  # an entry from a defense this install does not know
        return meta["defense"]
    return get_defense(meta["defense"]).describe(meta.get("defense_params", {}))


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

    @property
    def settings(self):
        """The certification's `CertifySettings`."""
        return CertifySettings.from_dict(self.result["settings"])


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
    for result in find(results, CERTIFY):
        s = ResultId.of(result).settings
        sigma, rank = s.sigma, (result["samples"], s.n, result.get("created", ""))
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
    found = certifications(results)
    if sigmas:
        found = {s: r for s, r in found.items() if any(abs(s - t) < 1e-9 for t in sigmas)}
    if not found:
        at = f" at σ={','.join(f'{s:g}' for s in sigmas)}" if sigmas else ""
        raise KerasllError(f"{name!r} has no certification{at} yet: run `kerasll certify {name} --sigma "
                           f"{','.join(f'{s:g}' for s in sigmas) if sigmas else '0.25'}`")
    return [StoredCertificate(label, sigma, result, _radii(result, root)) for sigma, result in found.items()]


def robustbench_fields(result):
    """RobustBench's names for a stored AutoAttack result (an `EvalResult.to_dict()` or an eval.json
    entry): clean_acc, autoattack_acc, eps, threat_model, n_examples. The one place they are spelled."""
    settings = EvalSettings.from_dict(result["settings"])
    return {"clean_acc": result["clean_accuracy"], "autoattack_acc": result["robust_accuracy"],
            "eps": settings.eps, "threat_model": {"linf": "Linf", "l2": "L2", "l1": "L1"}[settings.norm],
            "n_examples": result["samples"]}
