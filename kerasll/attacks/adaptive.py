"""The checks an adaptive evaluation adds to a plan of attacks (Carlini et al. 2019; Tramèr et al. 2020).

- **Budget check**: the plan's strongest white-box stage (APGD-T when the plan has it, else its first
  gradient-based attack) runs again with twice its iterations and restarts, fresh random starts, on
  the images the plan left robust. If that breaks more than noise, the attack had not converged.
- **Transfer**: APGD-CE and APGD-T (AutoAttack's budget) on a surrogate (the same architecture trained
  without the defense), their examples shown to the defended model. If they break images the
  white-box attacks left robust, the defended model's gradients are misleading.

Both run as further stages of `kerasll.evaluation.autoattack_images`, so an image is robust only if
every attack fails on it; `summarize` turns their finds into the `budget` and `transfer` flags (`checks`).
"""

from kerasll.attacks.registry import get_attack
from kerasll.errors import KerasllError

TRANSFER_PLAN = (("apgd-ce", {}), ("apgd-t", {}))  # run on the surrogate, at AutoAttack's settings
BUDGET_FACTOR = 2  # the budget check's iterations and restarts, in multiples of the stage's
BUDGET_SEED_OFFSET = 1  # the budget check draws fresh starts: the evaluation's seed plus this
BUDGET_STAGE = "budget"  # the budget check's stage (and record) name
TRANSFER_STAGES = tuple(f"transfer:{name}" for name, _ in TRANSFER_PLAN)  # the transfer check's, in order


def budget_stage(plan):
    """(attack, options) of the budget check for `plan`: its strongest white-box stage at twice the budget."""
    names = [name for name, _ in plan]
    white = [i for i, name in enumerate(names) if not get_attack(name).gradient_free]
    if not white:
        raise KerasllError(f"--check-budget needs a gradient-based attack in the plan; {', '.join(names)} has none")
    i = names.index("apgd-t") if "apgd-t" in names else white[0]
    name, options = plan[i]
    full = get_attack(name).defaults | dict(options)
    doubled = {k: full[k] * BUDGET_FACTOR for k in ("steps", "restarts") if full.get(k)}
    return name, dict(options) | doubled


def extra_stages(plan, budget_check=False, surrogate=False):
    """The stages an adaptive evaluation runs after `plan`: (record name, attack, options, on_surrogate, seed
    offset), in order (the budget check, then transfer)."""
    stages = []
    if budget_check:
        name, options = budget_stage(plan)
        stages.append((BUDGET_STAGE, name, options, False, BUDGET_SEED_OFFSET))
    if surrogate:
        stages += [(stage, name, options, True, 0) for stage, (name, options) in zip(TRANSFER_STAGES, TRANSFER_PLAN)]
    return stages
