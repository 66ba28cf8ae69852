"""Options declared once: a frozen dataclass whose fields carry their default, valid values and help
(`option`), checked at creation (`Options`). Attacks (`kerasll.attacks.Attack`), Φ's and the landscapes'
lattices (`kerasll.landscapes`) and randomized smoothing (`kerasll.certification`) declare theirs this way;
their functional APIs take them as keywords (`kerasll.flatness(model, x, pairs=3)`), checked by name.
Plain Python, no TensorFlow.
"""

import math
from dataclasses import dataclass, field, fields, replace

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
    """A dataclass field declaring one option: its default, help text and valid values (see `Rule`)."""
    rule = Rule(help, low, high, open_low, open_high, None if choices is None else tuple(choices))
    return field(default=default, metadata={_RULE: rule})


def known(owner, options, valid):
    """`options`, or a one-line error naming the first one `owner` does not take and the `valid` ones."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise KerasllError(f"{owner} has no option {unknown[0]!r}; its options: {', '.join(valid) or 'none'}")
    return options


@dataclass(frozen=True)
class Options:
    """Base of a set of declared options: a frozen dataclass whose fields are made with `option`.
    Every value is checked at creation; `create` refuses an unknown name in one line."""

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
        """The value with `options`; an unknown name is one line listing the valid ones."""
        return cls(**cls._known(options))

    @classmethod
    def _known(cls, options):
        return known(cls.__name__, options, cls.rules())

    def settings(self):
        """{option: value}."""
        return {name: getattr(self, name) for name in self.rules()}

    def with_options(self, **options):
        """A copy with `options` changed (checked as at creation)."""
        return replace(self, **self._known(options))
