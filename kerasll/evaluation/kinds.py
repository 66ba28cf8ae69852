"""What a stored result computed, one frozen type per kind: its settings as the zoo stores them
(`to_dict`/`from_dict`, the eval.json "settings" field) and its readable name (`name`, the start of the
eval.json key, `kerasll.zoo.results.ResultId.key`). Nothing reads a key or a name back: the identity is
always these fields.

- `EvalSettings` ("attack"): one attack or AutoAttack at one ε, with its adaptive checks;
- `CurveSettings` ("curve"): an attack at several ε;
- `SweepSettings` ("sweep"): AutoAttack at ε × 1, 2, 4, 8 and unbounded;
- `FlatnessSettings` ("flatness"): Φ along random or FGSM directions;
- `CertifySettings` ("certify"): randomized smoothing's certified radii at one σ;
- `VerifySettings` ("verify"): verified L∞ accuracy at one ε by IBP, CROWN or the exact MILP.

Plain Python: `zoo list`, `zoo show` and the report read stored results without TensorFlow.
"""

from dataclasses import asdict, dataclass, fields

from kerasll.evaluation.settings import EvalSettings, fmt_budget

SWEEP_FACTORS = (1, 2, 4, 8)


def _json(value):
    """Tuples as lists: the stored (JSON) form."""
    return [_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def _tuple(value):
    return tuple(_tuple(v) for v in value) if isinstance(value, (tuple, list)) else value


class _Stored:
    """to_dict/from_dict of a frozen dataclass of plain values: None fields left out, lists ↔ tuples."""

    def to_dict(self):
        return {k: _json(v) for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        return cls(**{k: _tuple(v) for k, v in d.items() if k in names})


@dataclass(frozen=True)
class CurveSettings(_Stored):
    """An attack (`EvalSettings`, its own ε aside) at each of `budgets`."""

    KIND = "curve"
    attack: EvalSettings
    budgets: tuple

    def to_dict(self):
        return self.attack.to_dict() | {"eps": sorted(self.budgets)}

    @classmethod
    def from_dict(cls, d):
        budgets = tuple(d["eps"])
        return cls(EvalSettings.from_dict(d | {"eps": max(budgets)}), budgets)

    @property
    def seed(self):
        return self.attack.seed

    @property
    def norm(self):
        return self.attack.norm

    def name(self):
        a, norm = self.attack, self.attack.norm
        what = f"autoattack-{a.version}" if a.attack == "autoattack" else a.attack
        return f"curve-{what}-{norm}-eps{','.join(fmt_budget(e, norm) for e in sorted(self.budgets))}"


@dataclass(frozen=True)
class SweepSettings(_Stored):
    """AutoAttack `version` from `eps` through `factors` (× ε, then "unbounded": the whole pixel box)."""

    KIND = "sweep"
    eps: float
    norm: str = "linf"
    version: str = "fast"
    factors: tuple = (*SWEEP_FACTORS, "unbounded")
    seed: int = 0

    def name(self):
        return f"sweep-{self.norm}-eps{fmt_budget(self.eps, self.norm)}"


@dataclass(frozen=True)
class FlatnessSettings(_Stored):
    """Φ on `samples` images: `pairs` direction pairs, a `grid` × `grid` landscape of `radius`, along
    `directions` ("random" or "fgsm"), reduced by `reduction`."""

    KIND = "flatness"
    pairs: int
    grid: int
    radius: float
    reduction: str
    samples: int
    seed: int = 0
    clip: bool = False
    directions: str = "random"

    def name(self):
        prefix = "phi" if self.directions == "random" else "phifgsm"
        return f"{prefix}-pairs{self.pairs}-grid{self.grid}-radius{fmt_budget(self.radius)}-{self.reduction}"


@dataclass(frozen=True)
class CertifySettings(_Stored):
    """Randomized smoothing at noise `sigma`: `n0` selection and `n` estimation draws, confidence 1 − `alpha`,
    on `samples` images."""

    KIND = "certify"
    sigma: float
    n0: int
    n: int
    alpha: float
    seed: int = 0
    samples: int | None = None

    def name(self):
        return f"certify-sigma{self.sigma:g}-n{self.n}-select{self.n0}-alpha{self.alpha:g}"


@dataclass(frozen=True)
class VerifySettings(_Stored):
    """Verified L∞ accuracy at radius `eps` by `method` ("ibp", "crown", "milp" with a `time_limit` per image),
    on `samples` images (`kerasll.verification.verify`)."""

    KIND = "verify"
    eps: float
    method: str
    time_limit: float | None = None
    seed: int = 0  # PGD's, the MILP's first look for counterexamples
    samples: int | None = None

    def name(self):
        limit = f"-t{self.time_limit:g}" if self.time_limit is not None else ""
        return f"verify-{self.method}-linf-eps{fmt_budget(self.eps)}{limit}"


SETTINGS = {cls.KIND: cls for cls in (EvalSettings, SweepSettings, CurveSettings, FlatnessSettings, CertifySettings,
                                      VerifySettings)}
