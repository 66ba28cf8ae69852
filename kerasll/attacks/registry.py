"""The attacks the CLI and evaluations can name: one registry, one signature.

Every registered attack is called as
`attack(model, x, y, eps, norm, seed, keys, progress, batch_size, **settings)` and returns
adversarial images. `settings` are the attack's own options (steps, restarts…);
`defaults` fills in the ones the caller left out.

Plain Python: each attack's module is imported when it first runs, so naming and
checking attacks (the CLI's help, an evaluation's settings) imports no TensorFlow.
"""

from dataclasses import dataclass, field

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
    name: str
    run: callable
    description: str
    defaults: dict = field(default_factory=dict)
    norms: tuple = ("linf", "l2")
    gradient_free: bool = False
    staged: bool = False  # its `run` takes `stage=`: each restart or target is a stage an evaluation keeps
                          # (the attacks that run through `driver.over_runs`)


_ATTACKS = Registry("attack")
ALL_NORMS = ("linf", "l2", "l1")


def register_attack(spec, overwrite=False):
    """Add an `AttackSpec`; an existing name is refused unless `overwrite`."""
    return _ATTACKS.add(spec.name, spec, overwrite)


def list_attacks():
    """Names of the registered attacks."""
    return _ATTACKS.names()


def get_attack(name):
    """The `AttackSpec` called `name`; an unknown name lists the valid ones."""
    return _ATTACKS.get(name)


def _fgsm(model, x, y, eps, norm, seed, keys, progress, batch_size):
    from kerasll.attacks.pgd import fgsm

    return fgsm(model, x, y, eps, batch_size=batch_size)


def _pgd(model, x, y, eps, norm, seed, keys, progress, batch_size, steps, step_size, restarts):
    from kerasll.attacks.pgd import pgd

    return pgd(model, x, y, eps, step_size, steps, restarts=restarts, norm=norm, seed=seed, batch_size=batch_size,
               keys=keys)


def _apgd(loss, targeted):
    def run(model, x, y, eps, norm, seed, keys, progress, batch_size, steps=100, restarts=1, target_classes=9,
            eot_iter=1, large_reps=None, stage=None):
        from kerasll.attacks.apgd import apgd
        from kerasll.attacks.driver import num_classes

        if targeted:
            target_classes = min(target_classes, num_classes(model, x) - 1)
        return apgd(model, x, y, eps, norm=norm, steps=steps, loss=loss, targeted=targeted,
                    target_classes=target_classes, restarts=restarts, seed=seed, keys=keys, progress=progress,
                    batch_size=batch_size, eot_iter=eot_iter, stage=stage,
                    large_reps=norm == "l1" if large_reps is None else large_reps)
    return run


def _fab(targeted):
    def run(model, x, y, eps, norm, seed, keys, progress, batch_size, steps=100, restarts=1, target_classes=9,
            stage=None):
        from kerasll.attacks.driver import num_classes
        from kerasll.attacks.fab import fab

        if targeted:
            target_classes = min(target_classes, num_classes(model, x) - 1)
        return fab(model, x, y, eps, norm=norm, steps=steps, targeted=targeted, target_classes=target_classes,
                   restarts=restarts, seed=seed, keys=keys, progress=progress, batch_size=batch_size, stage=stage)
    return run


def _square(variant):
    def run(model, x, y, eps, norm, seed, keys, progress, batch_size, queries=5000, p_init=0.8):
        from kerasll.attacks.square import square_attack

        return square_attack(model, x, y, eps, norm=norm, queries=queries, p_init=p_init, seed=seed, keys=keys,
                             progress=progress, batch_size=batch_size, variant=variant)
    return run


register_attack(AttackSpec("pgd", _pgd, "PGD with random start (Madry et al.)",
                           {"steps": None, "step_size": None, "restarts": 1}))
register_attack(AttackSpec("fgsm", _fgsm, "FGSM, one signed gradient step (L∞ only)", norms=("linf",)))
register_attack(AttackSpec("apgd-ce", _apgd("ce", False), "APGD on the cross-entropy, 100 steps",
                           {"steps": 100, "restarts": 1, "eot_iter": 1, "large_reps": None}, staged=True,
                           norms=ALL_NORMS))
register_attack(AttackSpec("apgd-dlr", _apgd("dlr", False), "APGD on the DLR loss, 100 steps",
                           {"steps": 100, "restarts": 1, "eot_iter": 1, "large_reps": None}, staged=True,
                           norms=ALL_NORMS))
register_attack(AttackSpec("apgd-t", _apgd("ce", True), "APGD-T: targeted DLR over the top 9 wrong classes",
                           {"steps": 100, "restarts": 1, "target_classes": 9, "eot_iter": 1, "large_reps": None},
                           staged=True, norms=ALL_NORMS))
register_attack(AttackSpec("fab-t", _fab(True), "FAB-T: minimum-norm boundary attack over the top 9 wrong classes",
                           {"steps": 100, "restarts": 1, "target_classes": 9}, staged=True, norms=ALL_NORMS))
register_attack(AttackSpec("fab", _fab(False), "FAB: untargeted minimum-norm boundary attack (AutoAttack plus)",
                           {"steps": 100, "restarts": 1}, staged=True, norms=ALL_NORMS))
register_attack(AttackSpec("square", _square("reference"), "Square: score-based black-box search, 5,000 queries "
                           "(the reference's: windows shared by the batch, schedule unscaled)",
                           {"queries": 5000, "p_init": 0.8}, gradient_free=True, norms=ALL_NORMS))
register_attack(AttackSpec("square-strong", _square("strong"), "Square with windows drawn per image and the schedule "
                           "stretched over the queries: stronger than the reference's on small models",
                           {"queries": 5000, "p_init": 0.8}, gradient_free=True, norms=ALL_NORMS))


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


def run_attack(name, model, x, y, eps, norm="linf", seed=0, keys=None, progress=None, batch_size=1000, stage=None,
               **settings):
    """Run the registered attack `name` with its defaults where `settings` leave a value out; a staged
    attack runs its restarts and targets through `stage(name, fn)` (see `apgd`)."""
    spec = check_norm(name, norm)
    unknown = set(settings) - set(spec.defaults)
    if unknown:
        raise KerasllError(f"attack {name!r} has no setting {sorted(unknown)[0]!r}; "
                           f"its settings: {', '.join(spec.defaults) or 'none'}")
    staged = {"stage": stage} if spec.staged and stage is not None else {}
    return spec.run(model, x, y, eps, norm, seed, keys, progress, batch_size, **(spec.defaults | settings), **staged)
