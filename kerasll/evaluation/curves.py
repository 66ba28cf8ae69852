"""Robust accuracy as a function of the budget: ε-curves and the sweep to an unbounded ε.

`eps_curve` runs an attack (any `EvalSettings`) at each budget, in resumable
chunks like `evaluate`. `eps_sweep` is the sanity check of Carlini et al. (2019):
AutoAttack at ε × (1, 2, 4, 8) and at an unbounded ε (the whole pixel box), where
accuracy must reach 0; the CLI's `--sweep` stores exactly this result.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from kerasll.attacks import checks
from kerasll.attacks.budgets import unbounded_eps
from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.errors import KerasllError
from kerasll.evaluation.chunks import StageId
from kerasll.evaluation.core import autoattack_images, predictions
from kerasll.evaluation.measure import Images, Measure, run
from kerasll.evaluation.kinds import SWEEP_FACTORS
from kerasll.evaluation.settings import EvalSettings, attack_settings



@dataclass(frozen=True)
class CurveResult:
    """Robust accuracy at several budgets: `accuracy_by_eps` {ε: accuracy} with ε = 0 the clean accuracy.

    The curve is monotone: an image counts as robust at ε only if it is robust at every
    smaller budget too. `records` holds ``robust@k`` per image at the k-th budget, as the attack found it.
    """

    settings: EvalSettings
    samples: int
    accuracy_by_eps: dict
    flags: tuple = ()
    seconds: float = 0.0
    records: dict = field(default_factory=dict, repr=False, compare=False)
    attacks_revision: int = ATTACKS_REVISION

    @property
    def budgets(self):
        return sorted(self.accuracy_by_eps)

    def to_dict(self):
        budgets = self.budgets
        return {"settings": self.settings.to_dict() | {"eps": budgets}, "samples": self.samples,
                "budgets": budgets, "accuracy": [self.accuracy_by_eps[e] for e in budgets],
                "flags": [f.to_dict() for f in self.flags], "seconds": self.seconds,
                "attacks_revision": self.attacks_revision}


class CurveMeasure(Measure):
    """`settings`' attack at each of `budgets` on every image: `eps_curve`'s measure."""

    def __init__(self, model, images, settings, budgets):
        self.model, self.images, self.settings, self.budgets = model, images, settings, budgets

    def what(self):
        return {"kind": "curve", "settings": self.settings.to_dict(), "budgets": self.budgets}

    def compute(self, ctx, a, b, stages):
        s, im = self.settings, self.images
        records, seconds = {}, {}
        correct = predictions(self.model, im.x[a:b]) == im.y[a:b]
        for k, e in enumerate(self.budgets):
            def robust_at(e=e):
                if e == 0:
                    return {"robust": correct}
                _, found, _ = autoattack_images(self.model, im.x[a:b], im.y[a:b], s.with_eps(e), ctx,
                                                keys=im.keys[a:b])
                return {"robust": found["robust"]}

            found, seconds[f"eps={e:.6g}"] = stages(StageId("eps", f"{e:.6g}"), robust_at)
            records[robust_at_budget(k)] = found["robust"]
        return records, seconds

    def line(self, records):
        return ", ".join(f"{100 * records[robust_at_budget(k)].mean():.1f}%" for k in range(len(self.budgets)))


def robust_at_budget(k):
    """The record name of the per-image flags "robust at the k-th budget" of an ε-curve."""
    return f"robust@{k}"


def eps_curve(model, x, y, settings, budgets, checkpoint=None, context=None, **options):
    """Robust accuracy under `settings`' attack at each ε in `budgets` (ε = 0: clean), with the sweep flag.

    An image counts as robust at ε only if it is robust at every smaller budget too,
    so the curve never rises; where the attack alone made it rise, the ``eps-sweep``
    flag says so (and, with `must_reach_zero`, where the largest budget, meant to be
    unbounded, leaves more than 1% accuracy). Where the largest budget leaves the accuracy above
    `chance` (default 1/classes), the ``eps-unbounded`` flag says the curve never showed the attack
    reaching chance. Resumable like `evaluate`, whose `checkpoint` and `context` it takes.

    Args:
        **options: must_reach_zero (default False), keys (the images' draw keys), chance.
    """
    must_reach_zero, chance = options.pop("must_reach_zero", False), options.pop("chance", None)
    images = Images.of(model, x, y, options.pop("keys", None))
    if options:
        raise KerasllError(f"eps_curve has no option {sorted(options)[0]!r}; its options: must_reach_zero, keys, "
                           "chance")
    budgets = sorted({float(e) for e in budgets})
    if not budgets or budgets[0] < 0:
        raise KerasllError(f"ε-curve budgets must be ≥ 0, got {budgets}")
    start = time.perf_counter()
    records, _ = run(CurveMeasure(model, images, settings, budgets), model, images, checkpoint, context)
    robust = np.stack([records[robust_at_budget(k)] for k in range(len(budgets))])
    raw = {e: float(robust[k].mean()) for k, e in enumerate(budgets)}
    flag = checks.check_sweep(raw, **({} if must_reach_zero else {"limit": 1.0}))
    monotone = np.logical_and.accumulate(robust, axis=0)
    curve = {e: float(monotone[k].mean()) for k, e in enumerate(budgets)}
    bound = 1.0 / images.classes if chance is None else float(chance)
    flags = [f for f in (flag, None if must_reach_zero else checks.check_unbounded(curve, bound)) if f is not None]
    return CurveResult(settings, len(images), curve, tuple(flags), round(time.perf_counter() - start, 1),
                       records, attacks_revision=ATTACKS_REVISION)


def sweep_budgets(eps, norm, image_shape, factors=SWEEP_FACTORS):
    """The sweep's budgets: ε × `factors`, capped at, and followed by, an unbounded ε (the whole box)."""
    unbounded = unbounded_eps(norm, image_shape)
    return sorted({min(eps * f, unbounded) for f in factors} | {unbounded})


def eps_sweep(model, x, y, eps, norm="linf", version="fast", context=None, **options):
    """AutoAttack (`version`, "fast" by default) at ε × (1, 2, 4, 8) and at an unbounded ε, with the sweep flag.

    Accuracy must fall to 0: an attack that cannot reach 0% with the whole pixel box to
    move in is failing (the ``eps-sweep`` flag). Returns a `CurveResult` (monotone, as
    every ε-curve); the CLI's `kerasll eval --sweep` stores this same result. `options`: seed (default 0),
    checkpoint and keys, as for `eps_curve`.
    """
    settings = attack_settings(None, "autoattack", eps, norm=norm, version=version, seed=options.pop("seed", 0))
    budgets = sweep_budgets(settings.eps, norm, np.shape(x)[1:])
    return eps_curve(model, x, y, settings, budgets, options.pop("checkpoint", None), context, must_reach_zero=True,
                     **options)
