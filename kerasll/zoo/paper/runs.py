"""The paper's runs in a zoo made by `kerasll reproduce`: which entry plays which role, and its numbers.

`PaperRuns` is everything the results document reads from the zoo, loaded once:
the entries, their metadata and `Summary`, their labels, and the training-step
costs of a `scripts/benchmark_defenses.py --json` run.
"""

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from kerasll.collapse import is_constant_model
from kerasll.errors import KerasllError
from kerasll.zoo.results import describe, strength_label
from kerasll.zoo.report import summary

# The roles, by the recipe names of `kerasll reproduce table2-lenet beyond-lenet`.
MAIN = {"none": "fmnist-lenet-none", "at": "fmnist-lenet-at", "jacreg": "fmnist-lenet-jacreg",
        "amsreg": "fmnist-lenet-amsreg"}
EXACT = "fmnist-lenet-amsreg-exact"
BEYOND = {"fastat": "fmnist-lenet-fastat", "adflat-gradient": "fmnist-lenet-adflat-gradient",
          "adflat-difference": "fmnist-lenet-adflat-difference",
          "adflat-at-difference": "fmnist-lenet-adflat-at-difference", "gaussian": "fmnist-lenet-gaussian"}
ADFLAT = ("adflat-gradient", "adflat-difference", "adflat-at-difference")
# The names of each role's step in a benchmark_defenses.py --json run.
COST_KEYS = {"none": "plain", "at": "at pgd-10", "jacreg": "jacreg (1 proj)", "amsreg": "amsreg bound (1 proj)",
             "exact": "amsreg exact", "fastat": "fastat (fgsm-rs)", "adflat-gradient": "adflat gradient",
             "adflat-difference": "adflat difference", "adflat-at-difference": "adflat at-difference",
             "gaussian": "gaussian"}
FAMILIES = {"at": "AT", "jacreg": "JacReg", "amsreg": "AMSReg", "fastat": "fast AT"}


def role_name(key):
    """The entry name of a role ('at', 'exact', 'fastat', …)."""
    return EXACT if key == "exact" else MAIN.get(key) or BEYOND[key]


def family(meta):
    """Fig. 4's family of an entry's metadata (None for no defense and AMSReg exact)."""
    if meta["defense"] == "adflat":
        return f"adflat {meta['defense_params'].get('variant', 'gradient')}"
    if meta["defense_params"].get("estimator") == "exact":
        return None
    return FAMILIES.get(meta["defense"])


def run_seconds(meta, evaluations):
    """Wall-clock of an entry: training (created → updated in metadata.json) + its evaluations' seconds."""
    train = datetime.datetime.fromisoformat(meta["updated"]) - datetime.datetime.fromisoformat(meta["created"])
    return train.total_seconds() + sum(r.get("seconds", 0) for r in evaluations.values())


@dataclass(frozen=True)
class PaperRuns:
    """A reproduction zoo, read once: `entries`, `metas` and `stats` (a `Summary`) by entry name; `labels`
    and `cost` (step time ÷ a plain step's, None when not measured) by role; `beyond`: the roles of
    fast AT and adflat present, with their names; `cost_run`: the step-cost JSON itself."""

    zoo: Path
    entries: dict
    metas: dict
    stats: dict
    labels: dict
    beyond: dict
    cost: dict
    cost_run: dict | None

    @property
    def training(self):
        """The training settings of the no-defense run (the budget every run shares)."""
        return self.metas[MAIN["none"]]["training"]

    @property
    def epochs(self):
        return self.training["epochs"]

    @property
    def dataset(self):
        return self.metas[MAIN["none"]]["dataset"]

    def roles(self):
        """The roles present with a model: the four Table 2 rows, then fast AT and adflat."""
        return [*MAIN, *self.beyond]

    def stat(self, key):
        return self.stats[role_name(key)]

    def load_models(self):
        """{role: Keras model} for `roles()`."""
        return {k: self.entries[role_name(k)].load_model() for k in self.roles()}

    def fig4_points(self):
        """Fig. 4's points, one per LeNet of a family with Φ and PGD accuracy, and the entries left out
        as collapsed to a constant model (Φ = 0 and chance accuracy is no point on a trade-off)."""
        points, collapsed = [], []
        for name, meta in self.metas.items():
            st = self.stats[name]
            if meta["arch"] != "lenet" or family(meta) is None or st.phi is None or st.robust is None:
                continue
            if is_constant_model(st.clean):
                collapsed.append(f"`{name}` (clean {100 * st.clean:.2f}%, Φ = {st.phi:.3f})")
                continue
            points.append({"family": family(meta), "label": strength_label(meta), "phi": st.phi,
                           "robust_accuracy": st.robust})
        return points, collapsed

    def wall_clock(self):
        """(seconds of the Table 2 rows, seconds of every LeNet run, number of LeNet runs)."""
        seconds = {n: run_seconds(m, self.entries[n].evaluations()) for n, m in self.metas.items()
                   if m["arch"] == "lenet"}
        return sum(seconds.get(n, 0) for n in [*MAIN.values(), EXACT]), sum(seconds.values()), len(seconds)


def load_runs(zoo, step_cost=None):
    """The `PaperRuns` of the zoo object `zoo`; `step_cost`: a benchmark_defenses.py --json file or None."""
    entries = {e.name: e for e in zoo.complete_entries()}
    missing = [n for n in MAIN.values() if n not in entries]
    if missing:
        raise KerasllError(f"missing complete entries {missing} in {zoo.path}; run `kerasll reproduce table2-lenet` first")
    metas = {n: e.metadata() for n, e in entries.items()}
    beyond = {k: n for k, n in BEYOND.items() if n in entries}
    labels = {k: describe(metas[role_name(k)]) for k in [*MAIN, "exact", *beyond] if role_name(k) in metas}
    cost_run = json.loads(Path(step_cost).read_text()) if step_cost and Path(step_cost).is_file() else None
    cost = {k: (cost_run["ratio"].get(key) if cost_run else None) for k, key in COST_KEYS.items()}
    return PaperRuns(Path(zoo.path), entries, metas, {n: summary(e) for n, e in entries.items()}, labels, beyond,
                     cost, cost_run)
