"""An attack is one typed value: its options are its fields, each declared once with its default, valid
range and help (`option`); how a call runs (batch size, progress, stages, draw keys) is a separate
`Runtime`, since it never changes what the attack finds.

    >>> APGD(steps=20, restarts=2)(model, x, y, eps=8/255, norm="l2", seed=0)

The registry (`kerasll.attacks.registry`), the evaluation settings, the CLI's help and the adaptive
checks read an attack's options from its declaration. Plain Python: declaring, checking and listing
attacks imports no TensorFlow; an attack's TensorFlow code (`implementation`) is imported on its first call.
"""

import importlib
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, ClassVar

from kerasll.errors import KerasllError, check_choice

_RULE = "kerasll.option"


@dataclass(frozen=True)
class Rule:
    """An option's help text and the values it accepts: numbers in a range (`low`/`high`, open where
    `open_low`/`open_high`), or one of `choices`."""

    help: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple | None = None

    def check(self, name, value):
        """`value`, or a one-line error naming it and what `name` accepts."""
        if self.choices is not None:
            return check_choice(name, value, self.choices)
        if value is None:
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number) or (self.low is not None and (number < self.low or self.open_low and number == self.low)) \
                or (self.high is not None and (number > self.high or self.open_high and number == self.high)):
            raise KerasllError(f"{name} must be {self.accepts()}, got {value!r}")
        return value

    def accepts(self):
        """The valid values in words: '≥ 1', 'in (0, 1)', 'in [0, 1]'."""
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if self.high is None:
            return f"{'>' if self.open_low else '≥'} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


def option(default, help, *, low=None, high=None, open_low=False, open_high=False, choices=None):
    """A dataclass field declaring one attack option: its default, help text and valid values (see `Rule`)."""
    rule = Rule(help, low, high, open_low, open_high, None if choices is None else tuple(choices))
    return field(default=default, metadata={_RULE: rule})


@dataclass(frozen=True)
class Runtime:
    """How one call of an attack runs, not what it finds: results are the same for any value of these.

    Attributes:
        keys: the images' random-draw keys (default: from their content, `noise.image_keys`), so an image
            gets the same draws in any batch or order.
        batch_size: images per compiled batch.
        progress: `progress(done, total, fooled)` as the attack goes.
        stage: `stage(name, fn)` runs each restart, target (PGD, APGD, FAB) or segment of queries (Square) as
            a stage an evaluation keeps (`kerasll.evaluation.chunks.Stages`), so an interrupted run resumes
            inside the attack.
    """

    keys: Any = None
    batch_size: int = 1000
    progress: Callable | None = None
    stage: Callable | None = None


RUNTIME_FIELDS = tuple(f.name for f in fields(Runtime))


@dataclass(frozen=True)
class Attack:
    """Base of every attack: a frozen dataclass whose fields are its options (`option`).

    A subclass sets `norms`, `gradient_free` and either `implementation` ("module:function",
    called as `function(attack, model, x, y, eps, norm, seed, runtime)`) or overrides `run`.
    """

    norms: ClassVar[tuple] = ("linf", "l2")
    gradient_free: ClassVar[bool] = False  # needs only the model's outputs (the flags treat it as a black box)
    implementation: ClassVar[str] = ""

    def __post_init__(self):
        for name, rule in self.rules().items():
            rule.check(name, getattr(self, name))

    @classmethod
    def rules(cls):
        """{option: Rule} in declaration order."""
        return {f.name: f.metadata[_RULE] for f in fields(cls) if _RULE in f.metadata}

    @classmethod
    def defaults(cls):
        """{option: default} in declaration order."""
        return {f.name: f.default for f in fields(cls) if _RULE in f.metadata}

    @classmethod
    def create(cls, **options):
        """The attack with `options`; an unknown name is one line listing the valid ones."""
        return cls(**cls._known(options))

    @classmethod
    def _known(cls, options):
        unknown = sorted(set(options) - set(cls.rules()))
        if unknown:
            raise KerasllError(f"{cls.__name__} has no option {unknown[0]!r}; its options: "
                               f"{', '.join(cls.rules()) or 'none'}")
        return options

    def settings(self):
        """{option: value}: everything that, with the budget and seed, decides what this attack finds."""
        return {name: getattr(self, name) for name in self.rules()}

    def with_options(self, **options):
        """A copy with `options` changed (checked as at creation)."""
        return replace(self, **self._known(options))

    def __call__(self, model, x, y, eps, norm="linf", seed=None, runtime=None):
        """Adversarial images for `x` (labels `y`) within `eps` in `norm` (a float tensor shaped like `x`)."""
        if norm not in self.norms:
            raise KerasllError(f"{type(self).__name__} supports norm {', '.join(self.norms)}, not {norm!r}")
        return self.run(model, x, y, eps, norm, seed, runtime or Runtime())

    def run(self, model, x, y, eps, norm, seed, runtime):
        module, name = self.implementation.split(":")
        return getattr(importlib.import_module(module), name)(self, model, x, y, eps, norm, seed, runtime)


def split_runtime(options):
    """(`Runtime` of the fields among `options`, the other options): how the functional API and `run_attack`
    tell an attack's options from how it runs."""
    runtime = Runtime(**{k: v for k, v in options.items() if k in RUNTIME_FIELDS})
    return runtime, {k: v for k, v in options.items() if k not in RUNTIME_FIELDS}


def call_with(attack_class, model, x, y, eps, norm, seed, options):
    """Call `attack_class` as the functional API does (`kerasll.apgd(…, steps=20, batch_size=500)`):
    `options` holds the attack's options and `Runtime`'s fields, told apart by name."""
    runtime, options = split_runtime(options)
    return attack_class.create(**options)(model, x, y, eps, norm, seed, runtime)
