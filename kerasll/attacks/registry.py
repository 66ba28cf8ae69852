"""The attacks the CLI and evaluations can name: one registry of typed attacks (`kerasll.attacks.catalog`).

A registered name is an attack value with the options that make it that attack (APGD with the DLR loss is
"apgd-dlr"); its other options are the name's settings, with their defaults, ranges and help read from the
attack's declaration. `run_attack(name, …, **settings)` runs it.

Plain Python: naming and checking attacks (the CLI's help, an evaluation's settings) imports no TensorFlow.
"""

from dataclasses import dataclass

from kerasll.attacks.attack import Attack, split_runtime
from kerasll.attacks.catalog import AUTOATTACK_TARGETS, APGD, APGDT, FAB, FABT, FGSM, PGD, Square
from kerasll.errors import KerasllError, check_choice
from kerasll.registry import Registry


# Bumped whenever a change to an attack changes what it finds on the same images and seed. An
# interrupted evaluation resumes only chunks that the same revision computed, and stored results
# carry the revision that made them; a stored result of another revision is recomputed, not reused.
# 2: APGD's first checkpoint counts its first step against 0. 3: every per-image draw (attack starts,
# noise checks, Φ's directions) is keyed by the image's content, not its position in the set.
ATTACKS_REVISION = 3


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack: its `name`, the `attack` (an `Attack` value), a one-line `description`, and the
    options the name `fixes` (not settings a caller may change: "apgd-dlr" fixes APGD's loss)."""

    name: str
    attack: Attack
    description: str
    fixes: tuple = ()

    @property
    def defaults(self):
        """{setting: default} of the options a caller may set."""
        return {k: v for k, v in self.attack.settings().items() if k not in self.fixes}

    @property
    def rules(self):
        """{setting: `Rule`} (help text and valid values) of the options a caller may set."""
        return {k: v for k, v in self.attack.rules().items() if k not in self.fixes}

    norms = property(lambda self: self.attack.norms)
    gradient_free = property(lambda self: self.attack.gradient_free)

    def build(self, **settings):
        """The attack with `settings` changed; a setting the name does not have is one line naming its settings."""
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise KerasllError(f"attack {self.name!r} has no setting {unknown[0]!r}; "
                               f"its settings: {', '.join(self.defaults) or 'none'}")
        return self.attack.with_options(**settings)


_ATTACKS = Registry("attack")


def register_attack(spec, overwrite=False):
    """Add an `AttackSpec`; an existing name is refused unless `overwrite`."""
    return _ATTACKS.add(spec.name, spec, overwrite)


def list_attacks():
    """Names of the registered attacks."""
    return _ATTACKS.names()


def get_attack(name):
    """The `AttackSpec` called `name`; an unknown name lists the valid ones."""
    return _ATTACKS.get(name)


_STEPS, _QUERIES = APGD.defaults()["steps"], f"{Square.defaults()['queries']:,}"
register_attack(AttackSpec("pgd", PGD(), "PGD with random start (Madry et al.)"))
register_attack(AttackSpec("fgsm", FGSM(), "FGSM, one signed gradient step (L∞ only)"))
register_attack(AttackSpec("apgd-ce", APGD(loss="ce"), f"APGD on the cross-entropy, {_STEPS} steps", ("loss",)))
register_attack(AttackSpec("apgd-dlr", APGD(loss="dlr"), f"APGD on the DLR loss, {_STEPS} steps", ("loss",)))
register_attack(AttackSpec("apgd-t", APGDT(), f"APGD-T: targeted DLR over the top {AUTOATTACK_TARGETS} wrong classes"))
register_attack(AttackSpec("fab-t", FABT(), f"FAB-T: minimum-norm boundary attack over the top {AUTOATTACK_TARGETS} "
                           "wrong classes"))
register_attack(AttackSpec("fab", FAB(), "FAB: untargeted minimum-norm boundary attack (AutoAttack plus)"))
register_attack(AttackSpec("square", Square(variant="reference"), f"Square: score-based black-box search, {_QUERIES} "
                           "queries (the reference's: windows shared by the batch, schedule unscaled)",
                           ("variant", "rescale_schedule")))
register_attack(AttackSpec("square-strong", Square(variant="strong"), "Square with windows drawn per image and the "
                           "schedule stretched over the queries: stronger than the reference's on small models",
                           ("variant", "rescale_schedule")))


# Each version is a sequence of (registered attack, settings that differ from its defaults),
# with the reference implementation's settings (fra31/auto-attack, `set_version`).
VERSIONS = {
    "standard": (("apgd-ce", {}), ("apgd-t", {}), ("fab-t", {}), ("square", {})),
    "fast": (("apgd-ce", {}), ("apgd-t", {})),
    "plus": (("apgd-ce", {"restarts": 5}), ("apgd-dlr", {"restarts": 5}), ("fab", {"restarts": 5}),
             ("square", {}), ("apgd-t", {}), ("fab-t", {})),
    # For randomised defenses: each APGD step follows the mean of 20 gradients (expectation over transformation).
    "rand": (("apgd-ce", {"eot_iter": 20}), ("apgd-dlr", {"eot_iter": 20})),
}
VERSION_HELP = {
    "standard": "APGD-CE, APGD-T, FAB-T, Square: the field's number",
    "fast": "APGD-CE, APGD-T: quick checks and ε-curves",
    "plus": "APGD-CE and APGD-DLR ×5 restarts, FAB ×5, Square, APGD-T, FAB-T: a slower second opinion "
            "when a flag fires",
    "rand": "APGD-CE and APGD-DLR averaging 20 gradients per step (expectation over transformation): "
            "for randomised defenses",
}


# L1 (the reference's `set_version` for norm "L1"): APGD-CE with 5 restarts and APGD-T with 5 targets, both
# with the large-reps schedule (their default at L1), then FAB-T and Square as for L∞ and L2.
L1_VERSIONS = {
    "standard": (("apgd-ce", {"restarts": 5}), ("apgd-t", {"target_classes": 5}), ("fab-t", {}), ("square", {})),
    "fast": (("apgd-ce", {"restarts": 5}), ("apgd-t", {"target_classes": 5})),
}


def plan_of(version, attacks=None, norm="linf"):
    """The (attack, options) sequence AutoAttack runs: `version`'s for `norm`, or `attacks` (names, each at
    its defaults, or (name, options) pairs: `EvalSettings.plan`)."""
    if attacks:
        return tuple((a, {}) if isinstance(a, str) else (a[0], dict(a[1])) for a in attacks)
    if norm == "l1":
        if version not in L1_VERSIONS:
            raise KerasllError(f"AutoAttack version {version!r} has no L1 form; with --norm l1 use "
                               f"{', '.join(L1_VERSIONS)}")
        return L1_VERSIONS[version]
    return VERSIONS[check_choice("version", version, list(VERSIONS))]


def check_norm(name, norm):
    """Refuse a norm the attack `name` does not support, naming the ones it does."""
    spec = get_attack(name)
    if norm not in spec.norms:
        raise KerasllError(f"attack {name!r} supports norm {', '.join(spec.norms)}, not {norm!r}")
    return spec


def run_attack(name, model, x, y, eps, norm="linf", seed=0, **options):
    """Run the registered attack `name`: `options` are its settings changed from their defaults, and how the
    call runs (`Runtime`'s fields: keys, batch_size, progress, stage)."""
    runtime, settings = split_runtime(options)
    return check_norm(name, norm).build(**settings)(model, x, y, eps, norm, seed, runtime)
