"""ε-curves stored by `kerasll eval --eps-curve`, gathered from zoo entries or --json files for one plot."""

from dataclasses import dataclass
from pathlib import Path

from kerasll._files import read_json
from kerasll.datasets import dataset_info
from kerasll.errors import KerasllError
from kerasll.evaluation.kinds import CurveSettings
from kerasll.zoo.results import CURVE, best as find_best, curve_points


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
