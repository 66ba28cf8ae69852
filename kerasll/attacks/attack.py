"""An attack is one typed value: its options are its fields, each declared once with its default, valid
range and help (`option`); how a call runs (batch size, progress, stages, draw keys) is a separate
`Runtime`, since it never changes what the attack finds.

    >>> APGD(steps=20, restarts=2)(model, x, y, eps=8/255, norm="l2", seed=0)

The registry (`kerasll.attacks.registry`), the evaluation settings, the CLI's help and the adaptive
checks read an attack's options from its declaration. Plain Python: declaring, checking and listing
attacks imports no TensorFlow; an attack's TensorFlow code (`implementation`) is imported on its first call.
"""

import importlib
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar

from kerasll.errors import KerasllError
from kerasll.options import Options


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
class Attack(Options):
    """Base of every attack: a frozen dataclass whose fields are its options (`option`).

    A subclass sets `norms`, `gradient_free` and either `implementation` ("module:function",
    called as `function(attack, model, x, y, eps, norm, seed, runtime)`) or overrides `run`.
    """

    norms: ClassVar[tuple] = ("linf", "l2")
    gradient_free: ClassVar[bool] = False  # needs only the model's outputs (the flags treat it as a black box)
    implementation: ClassVar[str] = ""

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
