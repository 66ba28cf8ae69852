"""The paper's claims, judged on a reproduction's numbers, with thresholds fixed before the runs.

Data in (`Summary` values, flatness changes, Fig. 4's Spearman ρ), typed results out:
a `Claim` per claim, a `Sweeps` verdict for Fig. 4, a `GoalVerdict` per adflat variant.
"""

from dataclasses import dataclass

from kerasll.zoo.paper.runs import ADFLAT
from kerasll.zoo.report import pct

PHI_RATIO = 2.0  # claim 1, "well above": Φ at least halved in magnitude
SAME_POINTS = 5.0  # claim 3b, "≈": within 5 points
MIN_RHO = 0.8  # claim 4, "rise together": Spearman ρ ≥ 0.8
MIN_STRENGTHS = 3  # claim 4: a pair of strengths is not a sweep
FLATTER = 2.0  # claim 5, "much flatter": at least 2× smaller
GOAL_AA_POINTS, GOAL_CLEAN, GOAL_COST = 5.0, 0.80, 1 / 3  # adflat's goal: AA within 5 points of AT, clean ≥ 80%, ≤ ⅓ AT's step


@dataclass(frozen=True)
class Claim:
    """One claim: its number (`key`, e.g. '3b'), text, verdict (None: not evaluated yet) and numbers."""

    key: str
    text: str
    holds: bool | None
    detail: str

    @property
    def line(self):
        return f"{self.key}. {self.text}"


@dataclass(frozen=True)
class Change:
    """Mean |Δlog p| over a lattice around test images, along random directions and along FGSM + random."""

    random: float
    fgsm: float

    @property
    def ratio(self):
        return self.fgsm / self.random


@dataclass(frozen=True)
class Sweeps:
    """Claim 4's inputs: ρ of the families with ≥ `MIN_STRENGTHS` points, their sizes, the families with
    fewer (`pending`), those below `MIN_RHO` (`failing`)."""

    rhos: dict
    sizes: dict
    pending: list
    failing: list


def sweeps(rhos, points):
    """The `Sweeps` of Fig. 4's per-family ρ (`rhos`) over its `points`."""
    sizes = {f: sum(p["family"] == f for p in points) for f in rhos}
    kept = {f: v for f, v in rhos.items() if sizes[f] >= MIN_STRENGTHS}
    return Sweeps(kept, sizes, sorted(f for f in rhos if sizes[f] < MIN_STRENGTHS),
                  sorted(f for f, v in kept.items() if v < MIN_RHO))


def pgd_gap(stats):
    """|JacReg − AMSReg| PGD accuracy in points (`stats`: role → `Summary`)."""
    return abs(stats["jacreg"].robust - stats["amsreg"].robust) * 100


def paper_claims(labels, stats, change, sweep, collapsed=(), beyond=()):
    """The claims as `Claim`s. `labels`, `stats` (`Summary`) and `change` (`Change`) are by role;
    `sweep` is a `Sweeps`; `beyond` the fast-AT and adflat roles present (claim 5′ needs one)."""
    phi = {k: stats[k].phi for k in ("none", "at", "jacreg", "amsreg")}
    regs = ("at", "jacreg", "amsreg")
    claims = []
    ratios = {k: phi["none"] / phi[k] for k in regs}
    claims.append(Claim("1", "Every defense raises Φ well above no defense (here: Φ at least halved in magnitude)",
                        all(r >= PHI_RATIO for r in ratios.values()),
                        ", ".join(f"{labels[k]}: Φ = {phi[k]:.3f} ({r:.1f}× flatter than {phi['none']:.3f})"
                                  for k, r in ratios.items())))
    flattest = max(regs, key=lambda k: phi[k])
    claims.append(Claim("2", "AMSReg gives the highest Φ", flattest == "amsreg",
                        f"highest Φ: {labels[flattest]} ({phi[flattest]:.3f}); "
                        + ", ".join(f"{labels[k]} {phi[k]:.3f}" for k in regs)))
    most_robust = max(regs, key=lambda k: stats[k].robust)
    claims.append(Claim("3a", "AT is the most robust", most_robust == "at",
                        ", ".join(f"{labels[k]} {pct(stats[k].robust)}% PGD" for k in regs)))
    gap = pgd_gap(stats)
    aa = stats["jacreg"].autoattack, stats["amsreg"].autoattack
    aa_gap = abs(aa[0] - aa[1]) * 100 if None not in aa else None
    claims.append(Claim("3b", "JacReg ≈ AMSReg in PGD accuracy (within 5 points)", gap <= SAME_POINTS,
                        f"JacReg and AMSReg differ by {gap:.2f} points under PGD-10"
                        + (f" and by {aa_gap:.2f} under AutoAttack" if aa_gap is not None else "")))
    ok4 = all(v >= MIN_RHO for v in sweep.rhos.values()) if sweep.rhos else None
    if ok4 and sweep.pending:  # it can already fail, but holds only once every family is swept
        ok4 = None
    claims.append(Claim(
        "4", "Within each family, Φ and PGD accuracy rise together (Spearman ρ ≥ 0.8)", ok4,
        "; ".join([", ".join(f"{f}: ρ = {v:.2f} over {sweep.sizes[f]} models" for f, v in sorted(sweep.rhos.items()))
                   or "no family has 3 strengths yet (run the sweeps)"]
                  + ([f"fewer than 3 usable strengths on this budget (no ρ yet): {', '.join(sweep.pending)}"]
                     if sweep.pending else [])
                  + ([f"left out as collapsed to a constant model: {', '.join(collapsed)}"] if collapsed else []))))
    reg_fgsm = min(change["jacreg"].fgsm, change["amsreg"].fgsm)
    claims.append(Claim("5", "Along the FGSM direction AT is much flatter than the regularisers (≥ 2× smaller mean "
                        "|Δlog p|)", change["at"].fgsm * FLATTER <= reg_fgsm,
                        f"AT {change['at'].fgsm:.3f} vs JacReg {change['jacreg'].fgsm:.3f}, "
                        f"AMSReg {change['amsreg'].fgsm:.3f}"))
    if beyond:
        trained = [k for k in ("at", "fastat", *ADFLAT) if k in change]
        claims.append(Claim(
            "5′", "(beyond the paper) Every defense trained on attack directions (AT, fast AT, adflat) is flatter "
            "along FGSM *relative to random directions* than both regularisers (lower FGSM ÷ random)",
            max(change[k].ratio for k in trained) < min(change["jacreg"].ratio, change["amsreg"].ratio),
            ", ".join(f"{labels[k]} {change[k].ratio:.2f}" for k in [*trained, "jacreg", "amsreg"])))
    return claims


@dataclass(frozen=True)
class GoalVerdict:
    """An adflat variant against the goal: AutoAttack points below AT (`gap`), clean accuracy, step cost ÷
    AT's (`cost_ratio`), and whether all three conditions hold. None where not measured."""

    key: str
    label: str
    gap: float | None
    clean: float | None
    cost_ratio: float | None
    reached: bool


def goal_verdicts(labels, stats, cost):
    """A `GoalVerdict` for each adflat role present in `stats` (role → `Summary`); `cost`: role → step × plain."""
    verdicts = []
    for k in ADFLAT:
        if k not in stats:
            continue
        aa, aa_at = stats[k].autoattack, stats["at"].autoattack
        gap = None if aa is None or aa_at is None else 100 * (aa_at - aa)
        rel = None if cost.get(k) is None or cost.get("at") is None else cost[k] / cost["at"]
        ok = (gap is not None and gap <= GOAL_AA_POINTS and stats[k].clean >= GOAL_CLEAN
              and rel is not None and rel <= GOAL_COST)
        verdicts.append(GoalVerdict(k, labels[k], gap, stats[k].clean, rel, ok))
    return verdicts

