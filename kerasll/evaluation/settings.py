"""What an evaluation measures, as one frozen value: the attack, its budget and its seed.

`attack_settings` fills in a data set's presets (or kerasll's defaults when the
data has none) and checks every value once. The chunk fingerprint and the stored
"settings" (and so a stored result's identity, `kerasll.zoo.results.ResultId`)
are derived from an `EvalSettings`.
"""

from dataclasses import asdict, dataclass, replace

from kerasll.attacks.adaptive import budget_stage
from kerasll.attacks.budgets import NORMS, check_budget
from kerasll.attacks.catalog import PGD
from kerasll.attacks.registry import VERSIONS, check_norm, list_attacks, plan_of
from kerasll.errors import KerasllError, check_choice
from kerasll.options import known



def attack_names():
    """Every attack an evaluation can name: the registered ones and "autoattack"."""
    return [*list_attacks(), "autoattack"]


def fmt_budget(value, norm="linf"):
    """A budget as people write it: 25/255 for L∞, 1.5 for L2."""
    return f"{value * 255:g}/255" if norm == "linf" else f"{value:g}"  # L2 and L1: plain numbers


def parse_number(value, what="value"):
    """A float from a number or a fraction string such as "8/255"."""
    if value is None or isinstance(value, (int, float)):
        return value
    try:
        if "/" in str(value):
            num, den = str(value).split("/")
            return float(num) / float(den)
        return float(value)
    except (ValueError, ZeroDivisionError):
        raise KerasllError(f"{what} must be a number or a fraction like 8/255, got {value!r}") from None


@dataclass(frozen=True)
class EvalSettings:
    """One attack evaluation's settings (budgets in [0,1] pixel units).

    Fields that do not apply to the attack are None: `version` for AutoAttack only
    ("custom" when `attacks` names its own sequence), `step_size` for PGD only,
    `queries` for Square.
    """

    attack: str
    norm: str
    eps: float
    version: str | None = None
    steps: int | None = None
    step_size: float | None = None
    restarts: int | None = None
    queries: int | None = None
    seed: int = 0
    attacks: tuple | None = None  # AutoAttack "custom": these registered attacks in turn, each at its defaults
    budget_check: bool | None = None  # True: rerun the strongest white-box stage at twice its budget (`--check-budget`)
    transfer: str | None = None  # the surrogate (its name) whose white-box examples are also tried (`--transfer-from`)

    def plan(self):
        """The (attack, options) sequence the evaluation runs, each on the images still robust."""
        if self.attack != "autoattack":
            return ((self.attack, self.options()),)
        return plan_of(self.version, self.attacks, self.norm)

    def options(self):
        """The attack's own options for `run_attack` (steps, restarts, …)."""
        return {k: v for k, v in (("steps", self.steps), ("step_size", self.step_size),
                                  ("restarts", self.restarts), ("queries", self.queries)) if v is not None}

    KIND = "attack"  # what a stored result of these settings is (`kerasll.evaluation.kinds`)

    def to_dict(self):
        """The settings as eval.json stores them (the fields that apply, and the seed)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d):
        """The settings of a stored result's "settings" field."""
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d | ({"attacks": tuple(d["attacks"])} if d.get("attacks") else {}))

    def name(self):
        """A readable name, unique per settings (seed aside), e.g. 'pgd-linf-eps25/255-steps10-step6.25/255-r1',
        'autoattack-standard-linf-eps25/255-budget2x'."""
        eps = fmt_budget(self.eps, self.norm)
        if self.attack == "autoattack":
            name = f"autoattack-{self.version}-{self.norm}-eps{eps}"
        else:
            name = f"{self.attack}-{self.norm}-eps{eps}"
            if self.step_size is not None:
                name += f"-steps{self.steps}-step{fmt_budget(self.step_size, self.norm)}-r{self.restarts}"
            elif self.steps is not None:
                name += f"-steps{self.steps}-r{self.restarts}"
            elif self.queries is not None:
                name += f"-q{self.queries}"
        if self.attacks:  # AutoAttack "custom": its attacks in turn
            name += "-" + "+".join(self.attacks)
        name += "-budget2x" if self.budget_check else ""
        name += f"-transfer-{self.transfer}" if self.transfer else ""
        return name

    def with_eps(self, eps):
        """The same attack at another ε, PGD's step scaled in proportion."""
        step = None if self.step_size is None else self.step_size * eps / self.eps
        return replace(self, eps=float(eps), step_size=step)


SETTING_OPTIONS = {"steps": None, "step_size": None, "restarts": 1, "version": "standard", "queries": None,
                   "attacks": None, "budget_check": False, "transfer": None}


def attack_settings(dataset=None, attack="pgd", eps=None, norm="linf", seed=0, **options):
    """The `EvalSettings` of an attack: `dataset`'s preset (a registered name, or None for data
    without one), overridden where given (`options`: steps, step_size, restarts, version, queries,
    attacks, budget_check, transfer; None is the preset).

    PGD defaults to the paper's preset (Fashion-MNIST: 10 steps of 6.25/255 at ε = 25/255; without
    a preset 10 steps of ε/4); the other attacks to AutoAttack's (100 iterations, 5,000 queries).
    Data without a preset needs `eps`. AutoAttack with `attacks` runs those registered attacks
    in turn (version "custom"). `budget_check` and `transfer` (a surrogate's name) add the adaptive
    checks (`kerasll.attacks.adaptive`).
    """
    from kerasll.datasets.registry import dataset_info

    o = SETTING_OPTIONS | known("attack_settings", options, SETTING_OPTIONS)
    steps, step_size, restarts, version, queries, attacks, budget_check, transfer = o.values()
    check_choice("attack", attack, attack_names())
    check_choice("norm", norm, NORMS)
    info = dataset_info(dataset) if dataset is not None else None
    if eps is None:
        if info is None:
            raise KerasllError("--eps is required: this data has no preset budget (only the registered data "
                               "sets have one); e.g. --eps 8/255")
        eps = info.preset_eps(norm)
        if eps is None:
            raise KerasllError(f"--eps is required: {info.name} has no preset {norm} budget; e.g. --eps 10")
    eps = float(eps)
    fields = {"attack": attack, "norm": norm, "eps": eps, "seed": int(seed)}
    if attack == "autoattack" and attacks:
        fields.update(version="custom", attacks=tuple(check_norm(a, norm).name for a in attacks))
    elif attack == "autoattack":
        fields["version"] = check_choice("version", version, list(VERSIONS))
        for name, _ in plan_of(fields["version"], None, norm):
            check_norm(name, norm)
    elif attack == "pgd":
        check_norm(attack, norm)
        # Without a data-set preset: PGD's own defaults (10 steps of ε/4, the Fashion-MNIST preset's ratio).
        preset_steps = info.eval_steps if info else PGD.defaults()["steps"]
        preset_step = info.eval_step_size * eps / info.eval_eps if info else PGD.step_factor * eps
        fields.update(steps=preset_steps if steps is None else int(steps),
                      step_size=preset_step if step_size is None else float(step_size), restarts=int(restarts))
    else:
        spec = check_norm(attack, norm)
        if "steps" in spec.defaults:
            fields.update(steps=spec.defaults["steps"] if steps is None else int(steps), restarts=int(restarts))
        if "queries" in spec.defaults:
            fields["queries"] = spec.defaults["queries"] if queries is None else int(queries)
    fields.update(budget_check=True if budget_check else None, transfer=transfer or None)
    settings = EvalSettings(**fields)
    if budget_check:
        budget_stage(settings.plan())  # refuses a plan without a gradient-based attack, before any work
    check_budget(settings.eps, settings.step_size or 1.0, settings.steps or settings.queries or 1, norm,
                 settings.restarts or 1)
    if attack != "autoattack":
        check_norm(attack, norm).build(**settings.options())  # every option checked by its declaration
    return settings
