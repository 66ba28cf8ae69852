"""ε-curves stored by `kerasll eval --eps-curve`, gathered from zoo entries or --json files for one plot."""

from dataclasses import dataclass
from pathlib import Path

from kerasll._files import read_json
from kerasll.datasets import dataset_info
from kerasll.errors import KerasllError
from kerasll.evaluation.kinds import CurveSettings
from kerasll.zoo.results import ATTACK, CURVE, VERIFY, best as find_best, curve_points, identified


@dataclass(frozen=True)
class StoredCurve:
    """One model's robust accuracy by ε, as stored: `curve` {ε: accuracy}, `eval_eps` its data set's budget."""

    label: str
    curve: dict
    norm: str
    attack: str
    samples: int
    eval_eps: float | None = None


def _from_result(label, result, dataset):
    settings = CurveSettings.from_dict(result["settings"]).attack
    name = {"autoattack": "AutoAttack"}.get(settings.attack, settings.attack.upper())
    attack = name + (f" {settings.version}" if settings.version else "")
    eval_eps = None
    if dataset is not None:
        info = dataset_info(dataset)
        eval_eps = info.preset_eps(settings.norm)
    return StoredCurve(label, curve_points(result), settings.norm, attack, result["samples"], eval_eps)


def stored_curve(zoo, name):
    """The ε-curve of entry `name` (the one on the most images, then the newest), or of a `--json` file."""
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        out = read_json(path)
        if not isinstance(out, dict) or "curve" not in out:
            raise KerasllError(f"{path} has no ε-curve: write one with `kerasll eval MODEL --eps-curve … --json {path}`")
        return _from_result(path.stem, out["curve"], None)
    entry = zoo.get(name)
    meta = entry.metadata()
    best = find_best(entry.evaluations(), CURVE)
    if best is None:
        raise KerasllError(f"entry {name!r} has no ε-curve yet: run `kerasll eval {name} --eps-curve 0,4,8,16,25/255`")
    return _from_result(name, best, meta["dataset"])


def stored_curves(zoo, names):
    """`stored_curve` for every name; the curves must share a norm to share an axis."""
    curves = [stored_curve(zoo, n) for n in names]
    norms = {c.norm for c in curves}
    if len(norms) > 1:
        raise KerasllError(f"the curves mix norms ({', '.join(sorted(norms))}); plot one norm at a time")
    return curves


@dataclass(frozen=True)
class StoredBounds:
    """One entry's two ends in L∞: AutoAttack accuracy {ε: accuracy} (standard results and ε-curves) and
    verified accuracy {ε: (accuracy, method)}, each point the stored run on the most images at that ε (the
    verified one: then the tightest method, as the report's `verified_at` takes it)."""

    label: str
    attacked: dict
    verified: dict


def stored_bounds(zoo, name):
    """`StoredBounds` of entry `name` from its eval.json; one line if it has no verified result."""
    from kerasll.zoo.report import verified_at

    results = zoo.get(name).evaluations()
    attacked, verified = {}, {}
    for rid, result in sorted(identified(results), key=lambda f: f[0].samples):
        if rid.kind == ATTACK and rid.settings.attack == "autoattack" and rid.settings.norm == "linf":
            attacked[round(rid.settings.eps, 9)] = result["robust_accuracy"]
        elif rid.kind == CURVE and rid.settings.attack.attack == "autoattack" and rid.settings.attack.norm == "linf":
            for eps, accuracy in curve_points(result).items():
                attacked.setdefault(round(eps, 9), accuracy)
    for eps, tag in {(rid.settings.eps, rid.data_tag) for rid, _ in identified(results) if rid.kind == VERIFY}:
        found = verified_at(results, eps, tag)
        if found is not None:
            verified[round(eps, 9)] = (found["verified_accuracy"], found["method"])
    if not verified:
        raise KerasllError(f"entry {name!r} has no verified accuracy yet: run `kerasll verify {name} --eps 0.05,0.1`")
    return StoredBounds(name, attacked, verified)
