"""What `kerasll eval` and `kerasll certify` ask for, as one value built by the CLI: checked, and its names
resolved, without TensorFlow, so a mistyped name is refused before TensorFlow's seconds-long start."""

from dataclasses import dataclass, field
from pathlib import Path

from kerasll.errors import KerasllError
from kerasll.evaluation.settings import attack_settings


@dataclass(frozen=True)
class Inputs:
    """What `kerasll eval` and `kerasll certify` share: the test images, how the model is loaded and read,
    and how the run goes (its seed, batch size, strategy and --force)."""

    data: str | None = None  # --data: a .npz, an image folder, tfds:NAME[:SPLIT]; None: the data set's test split
    data_keys: tuple = ("x", "y")
    dataset: str | None = None  # a model file's registered data set (its presets)
    data_dir: Path | None = None
    source: str = "auto"
    limit: int | None = None
    input_scale: float = 1.0
    unsafe: bool = False  # --unsafe: load models with Keras's safe_mode=False (Lambda layers' code runs)
    seed: int = 0
    batch_size: int = 1000
    strategy: str = "auto"  # where the chunks run: see kerasll.distribution.strategies
    force: bool = False

    def check(self):
        """Refuse values no run can use, before anything is loaded."""
        if not self.input_scale > 0:
            raise KerasllError(f"--input-scale must be > 0 (1 for [0,1] models, 255 for 0–255 models), "
                               f"got {self.input_scale:g}")
        if self.batch_size < 1:
            raise KerasllError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if self.data is None and self.data_keys != Inputs.data_keys:
            raise KerasllError(f"--data-keys {','.join(self.data_keys)} names the arrays of a --data file (or a tfds "
                               "set's features): give --data too, or drop --data-keys")
        return self


@dataclass(frozen=True)
class EvalRequest:
    """One `kerasll eval` call, as read from the command line (budgets parsed, presets not yet applied)."""

    attack: str | None = None  # None: PGD (the data set's preset); an ε-curve's: AutoAttack
    norm: str = "linf"
    version: str | None = None  # None: AutoAttack standard; an ε-curve's: fast
    eps: float | None = None
    steps: int | None = None
    step_size: float | None = None
    restarts: int = 1
    queries: int | None = None
    flatness: bool = False
    landscape: bool = False
    sweep: bool = False
    curve: tuple | None = None  # --eps-curve budgets
    check_budget: bool = False  # --check-budget
    transfer_from: str | None = None  # --transfer-from: a zoo entry or a .keras file
    inputs: Inputs = field(default_factory=Inputs)

    def settings(self, dataset, curve=False, surrogate=None):
        """The attack's `EvalSettings`, with `dataset`'s presets (None: data without presets); with
        `curve`, the ε-curve's (AutoAttack fast unless the request names an attack or version), which
        has no adaptive checks. `surrogate`: the transfer surrogate's name (`load_surrogate`)."""
        attack = self.attack or ("autoattack" if curve else "pgd")
        version = self.version or ("fast" if curve else "standard")
        eps = self.eps if self.eps is not None or not curve else max(self.curve)  # a curve's own budgets suffice
        return attack_settings(dataset, attack, eps, self.norm, self.inputs.seed, steps=self.steps,
                               step_size=self.step_size, restarts=self.restarts, version=version,
                               queries=self.queries, budget_check=self.check_budget and not curve,
                               transfer=None if curve else surrogate)

    @property
    def single(self):
        """Whether to run the attack at one ε: always, but for an ε-curve alone (no --eps)."""
        return not self.curve or self.eps is not None

    def check(self):
        """Refuse values no evaluation can use, before anything is loaded."""
        self.inputs.check()
        if self.curve is not None and max(self.curve) <= 0:
            raise KerasllError(f"--eps-curve needs a budget above 0, got {', '.join(f'{e:g}' for e in self.curve)}")
        return self

    def surrogate_file(self, zoo=None):
        """Where `--transfer-from` points: a .keras file (its path), or a zoo entry (None); anything else is
        refused in one line."""
        if self.transfer_from is None:
            return None
        path = Path(self.transfer_from)
        if path.suffix == ".keras" and path.is_file():
            return path
        if zoo is not None and self.transfer_from in zoo.names():
            return None
        where = "" if zoo is None else f" in {zoo.path}"
        raise KerasllError(f"--transfer-from {self.transfer_from!r} names no zoo entry{where} and no .keras file")

    def check_names(self, dataset=None):
        """Refuse an unknown data set, attack, norm or version, or settings no attack takes (`attack_settings`'s
        checks), for a model of `dataset` (its presets; None: a file's --dataset, if any)."""
        from kerasll.datasets.registry import dataset_info

        if self.inputs.dataset is not None:
            dataset_info(self.inputs.dataset)
        dataset = dataset or self.inputs.dataset
        if self.single and (self.eps is not None or dataset is not None):
            self.settings(dataset)
        if self.curve is not None and self.attack is not None:
            self.settings(dataset, curve=True)
        return self
