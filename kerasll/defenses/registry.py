"""The defenses the CLI, the zoo's configurations and the recipes can name: one registry.

A defense is one `DefenseSpec`: its name (the CLI's `--defense` choice and the
metadata's `defense`), the Keras model class that trains it, and how a training
configuration's fields become that class's arguments. Adding a defense is one
module with its model class plus one `register_defense(...)` call.
"""

from dataclasses import dataclass, field

from kerasll.registry import Registry


def fraction(value):
    """A budget in pixel units written as grey levels: 0.0392… → '10/255'."""
    return f"{value * 255:g}/255"


@dataclass(frozen=True)
class DefenseSpec:
    """One registered defense.

    Attributes:
        name: CLI and metadata name, e.g. "amsreg".
        title: display name in tables and figures, e.g. "AMSReg".
        summary: one line for `--help` and `kerasll zoo defenses`.
        model: the `DefenseModel` class, called as `model(classifier, **params, seed=seed)`;
            None for "none" (the plain classifier is trained).
        fields: the training configuration's fields the defense reads (`TrainConfig` names).
        params: `params(fields) -> dict`, the class's keyword arguments (recorded as the
            entry's `defense_params`) from those fields, defaults filled in.
        label: `label(params) -> str`, the strength as people write it, e.g. "λ=0.5".
        slug: `slug(params) -> str`, the part of a default entry name, e.g. "amsreg-0.5".
        holdout: training images the defense keeps out of training for its own checks.
    """

    name: str
    title: str
    summary: str
    model: type | None = None
    fields: tuple = ()
    params: callable = field(default=lambda fields: {})
    label: callable = field(default=lambda params: "")
    slug: callable = field(default=None)
    holdout: int = 0

    def build(self, classifier, params, seed=None):
        """The trainable model: `classifier` wrapped in the defense (or itself for "none")."""
        return classifier if self.model is None else self.model(classifier, **params, seed=seed)

    def describe(self, params):
        """A short label such as 'AT ε=10/255' or 'AMSReg λ=0.5 (exact)'."""
        return f"{self.title} {self.label(params)}".strip()

    def entry_part(self, params):
        return self.slug(params) if self.slug else self.name


_DEFENSES = Registry("defense")


def register_defense(spec, overwrite=False):
    """Add a `DefenseSpec`; an existing name is refused unless `overwrite`."""
    return _DEFENSES.add(spec.name, spec, overwrite)


def list_defenses():
    """Names of the registered defenses, in registration order."""
    return _DEFENSES.names()


def get_defense(name):
    """The `DefenseSpec` called `name`; an unknown name lists the valid ones."""
    return _DEFENSES.get(name)


def defenses_help():
    """'none (no defense), at (PGD adversarial training), …' for help texts."""
    return ", ".join(f"{n} ({_DEFENSES.get(n).summary})" for n in list_defenses())


register_defense(DefenseSpec("none", "no defense", "no defense"))
