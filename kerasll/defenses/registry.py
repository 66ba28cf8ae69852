"""The defenses the CLI, the zoo's configurations and the recipes can name: one registry.

A defense is one `DefenseSpec`: its name (the CLI's `--defense` choice and the
metadata's `defense`), the Keras model class that trains it, and how a training
configuration's fields become that class's arguments. The built-in ones are
declared at the end of this module with their classes named by import path, so
listing them (the CLI's help, `zoo list`) imports no TensorFlow. Adding a
defense is one module with its model class plus one `register_defense(...)` call.
"""

import importlib
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
        model: the `DefenseModel` class, called as `model(classifier, **params, seed=seed)`, or its
            import path "module:Class" (imported when first built); None for "none" (the plain
            classifier is trained).
        fields: the training configuration's fields the defense reads (`TrainConfig` names).
        params: `params(fields) -> dict`, the class's keyword arguments (recorded as the
            entry's `defense_params`) from those fields, defaults filled in.
        label: `label(params) -> str`, the strength as people write it, e.g. "λ=0.5".
        slug: `slug(params) -> str`, the part of a default entry name, e.g. "amsreg-0.5".
        strength: `strength(params) -> str`, the strength alone where `label` says more (adflat's variant):
            a figure's point label; default: `label`.
        holdout: training images the defense keeps out of training for its own checks.
    """

    name: str
    title: str
    summary: str
    model: type | str | None = None
    fields: tuple = ()
    params: callable = field(default=lambda fields: {})
    label: callable = field(default=lambda params: "")
    slug: callable = field(default=None)
    holdout: int = 0
    strength: callable = field(default=None)

    @property
    def model_class(self):
        """The `DefenseModel` class (imported on first use when `model` is a path), or None."""
        if isinstance(self.model, str):
            module, name = self.model.split(":")
            return getattr(importlib.import_module(module), name)
        return self.model

    def build(self, classifier, params, seed=None):
        """The trainable model: `classifier` wrapped in the defense (or itself for "none")."""
        cls = self.model_class
        return classifier if cls is None else cls(classifier, **params, seed=seed)

    def describe(self, params):
        """A short label such as 'AT ε=10/255' or 'AMSReg λ=0.5 (exact)'."""
        return f"{self.title} {self.label(params)}".strip()

    def strength_of(self, params):
        """The strength as people write it, without a variant: e.g. 'μ=0.3 ε=10/255'."""
        return (self.strength or self.label)(params)

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


# Defaults the built-in defenses' parameters share with their classes (one home each).
FGSM_STEP = 1.25  # the FGSM step α = 1.25·ε of fast AT and adflat (Wong, Rice & Kolter 2020)
DEFAULT_SIGMA = 0.25  # Gaussian noise: Cohen et al.'s middle noise level (0.12, 0.25, 0.5, 1.0 in their tables)


def fgsm_step(eps, step_size=None):
    """The FGSM step: `step_size` when given, else FGSM_STEP·ε."""
    return FGSM_STEP * eps if step_size is None else step_size


def _at_params(f):
    steps = int(f["attack_steps"])
    step = f["step_size"] if f["step_size"] is not None else 2.5 * f["eps"] / steps
    return {"eps": f["eps"], "step_size": step, "steps": steps}


def _projection(f):
    return {"projection": f["projection"]} if f["projection"] not in (None, "vjp") else {}


# The built-in defenses, in the order the CLI lists them: the paper's first, then the ones beyond it.
for _spec in (
    DefenseSpec("none", "no defense", "no defense"),
    DefenseSpec("at", "AT", "PGD adversarial training", "kerasll.defenses.adversarial:AdversarialTrainingModel",
                fields=("eps", "step_size", "attack_steps"), params=_at_params,
                label=lambda p: f"ε={fraction(p['eps'])}", slug=lambda p: f"at-eps{p['eps'] * 255:g}"),
    DefenseSpec("jacreg", "JacReg", "Jacobian regularisation", "kerasll.defenses.regularizers:JacobianRegModel",
                fields=("strength", "projections", "projection"),
                params=lambda f: {"strength": f["strength"], "projections": f["projections"], **_projection(f)},
                label=lambda p: f"λ={p['strength']:g}" + (" (jvp)" if p.get("projection") == "jvp" else ""),
                slug=lambda p: f"jacreg-{p['strength']:g}" + ("-jvp" if p.get("projection") == "jvp" else "")),
    DefenseSpec("amsreg", "AMSReg", "AMS regularisation, the paper's", "kerasll.defenses.regularizers:AMSRegModel",
                fields=("strength", "projections", "estimator", "projection"),
                params=lambda f: {"strength": f["strength"], "projections": f["projections"],
                                  "estimator": f["estimator"] or "bound", "probability_gradient": True,
                                  **_projection(f)},
                label=lambda p: f"λ={p['strength']:g}" + (" (exact)" if p.get("estimator") == "exact" else ""),
                slug=lambda p: f"amsreg-{p['strength']:g}" + ("-exact" if p.get("estimator") == "exact" else "")
                + ("-jvp" if p.get("projection") == "jvp" else "")),
    DefenseSpec("fastat", "FastAT", "FGSM adversarial training from a random start",
                "kerasll.defenses.fast:FastAdversarialTrainingModel", fields=("eps", "step_size"),
                params=lambda f: {"eps": f["eps"], "step_size": fgsm_step(f["eps"], f["step_size"])},
                label=lambda p: f"ε={fraction(p['eps'])}", slug=lambda p: f"fastat-eps{p['eps'] * 255:g}",
                holdout=512),
    DefenseSpec("adflat", "AdFlat", "flatten log p̃ along the FGSM direction (--variant gradient|difference|"
                "at-difference)", "kerasll.defenses.flattening:AttackFlatteningModel",
                fields=("strength", "variant", "eps", "step_size"),
                params=lambda f: {"strength": f["strength"], "variant": f["variant"] or "gradient", "eps": f["eps"],
                                  "step_size": fgsm_step(f["eps"], f["step_size"])},
                label=lambda p: f"{p['variant']} μ={p['strength']:g} ε={fraction(p['eps'])}",
                slug=lambda p: f"adflat-{p['variant']}-{p['strength']:g}",
                strength=lambda p: f"μ={p['strength']:g} ε={fraction(p['eps'])}"),
    DefenseSpec("gaussian", "Gaussian", "Gaussian noise augmentation, randomized smoothing's base classifier",
                "kerasll.defenses.gaussian:GaussianNoiseModel", fields=("sigma",),
                params=lambda f: {"sigma": DEFAULT_SIGMA if f["sigma"] is None else float(f["sigma"])},
                label=lambda p: f"σ={p['sigma']:g}", slug=lambda p: f"gaussian-{p['sigma']:g}"),
    DefenseSpec("ibp", "IBP", "certified training by interval bound propagation (verify with kerasll verify)",
                "kerasll.defenses.certified:IBPTrainingModel", fields=("eps",),
                params=lambda f: {"eps": f["eps"]},
                label=lambda p: f"ε={p['eps']:g}", slug=lambda p: f"ibp-eps{p['eps']:g}"),
    DefenseSpec("crown-ibp", "CROWN-IBP", "certified training by CROWN-IBP bounds, IBP's tighter start "
                "(verify with kerasll verify)", "kerasll.defenses.certified:CROWNIBPTrainingModel", fields=("eps",),
                params=lambda f: {"eps": f["eps"]},
                label=lambda p: f"ε={p['eps']:g}", slug=lambda p: f"crown-ibp-eps{p['eps']:g}"),
):
    register_defense(_spec)



def import_classes():
    """Import every registered defense's model class (so Keras can deserialize it)."""
    for name in list_defenses():
        _DEFENSES.get(name).model_class
