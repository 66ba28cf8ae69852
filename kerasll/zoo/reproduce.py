"""Train and evaluate named groups of the paper's runs into a zoo: re-runnable and resumable.

Every run goes through `kerasll train --recipe NAME` (which skips a complete entry and
resumes an interrupted one) and `kerasll eval NAME --flatness` (which reuses cached
results), each in a process of its own, so one failed run is logged and the rest go
on. With `autoattack`, AutoAttack standard runs last, once every model is trained.
"""

import datetime
import fnmatch
import subprocess
import sys
import time
from pathlib import Path

from kerasll.errors import KerasllError
from kerasll.zoo.recipes import list_recipes

TABLE2_SWEEP_ROWS = ("sweep-fmnist-lenet-at-eps10", "sweep-fmnist-lenet-jacreg-0.01", "sweep-fmnist-lenet-amsreg-0.5")


def groups():
    """{group: [recipe names]}: the paper's tables and figures as runs."""
    return {
        "table2-lenet": ["fmnist-lenet-none", "fmnist-lenet-at", "fmnist-lenet-jacreg", "fmnist-lenet-amsreg",
                         "fmnist-lenet-amsreg-exact"],
        "sweeps-lenet": [n for n, _ in list_recipes("sweep-fmnist-lenet-*") if n not in TABLE2_SWEEP_ROWS],
        "beyond-lenet": ["fmnist-lenet-fastat", "fmnist-lenet-adflat-gradient", "fmnist-lenet-adflat-difference",
                         "fmnist-lenet-adflat-at-difference", "fmnist-lenet-gaussian"],
        "sweeps-beyond-lenet": [n for n, _ in list_recipes("sweep-fmnist-lenet-fastat-*")]
        + [n for n, _ in list_recipes("sweep-fmnist-lenet-adflat-*")],
        "table2": [n for n, _ in list_recipes("fmnist-*")],
        "table1": [n for n, _ in list_recipes("cifar10-*")],
        "sweeps-ddnet": [n for n, _ in list_recipes("sweep-cifar10-ddnet-*")],
    }


GROUP_HELP = {
    "table2-lenet": "Table 2's LeNet rows on Fashion-MNIST (+ AMSReg with the exact estimator)",
    "sweeps-lenet": "Fig. 4's sweeps on the Fashion-MNIST LeNet (every sweep recipe but the Table 2 rows)",
    "beyond-lenet": "beyond the paper: fast AT, the three adflat variants, Gaussian noise",
    "sweeps-beyond-lenet": "sweeps of the new families: fast AT ε, adflat μ",
    "table2": "all of Table 2 (LeNet and ResNet18)",
    "table1": "all of Table 1 on CIFAR-10 (DDNet and ResNet18); needs --data-dir",
    "sweeps-ddnet": "Fig. 2 and 4 sweeps on the CIFAR-10 DDNet; needs --data-dir",
}


def expand(selectors):
    """The recipe names that groups, recipe names and wildcards stand for, in order, once each."""
    known, recipes, names = groups(), [n for n, _ in list_recipes()], []
    for selector in selectors:
        matched = known.get(selector) or fnmatch.filter(recipes, selector)
        if not matched:
            raise KerasllError(f"{selector!r} is neither a group ({', '.join(sorted(known))}) nor a recipe name "
                               "or wildcard matching one (see `kerasll zoo recipes`)")
        names += matched
    return list(dict.fromkeys(names))


def reproduce(zoo, selectors, epochs=None, data_dir=None, source=None, autoattack=False, echo=print):
    """Train and evaluate every run `selectors` name into `zoo`; returns the names that failed.

    Each step is logged with a timestamp to `echo` and to <zoo>/reproduce.log.
    """
    names = expand(selectors)
    zoo = Path(zoo).expanduser()
    zoo.mkdir(parents=True, exist_ok=True)
    where = [*(["--data-dir", str(data_dir)] if data_dir else []), *(["--source", source] if source else [])]

    def log(message):
        line = f"{datetime.datetime.now().isoformat(timespec='seconds')}  {message}"
        echo(line)
        with open(zoo / "reproduce.log", "a") as f:
            f.write(line + "\n")

    def run(args):
        start = time.perf_counter()
        log("$ kerasll " + " ".join(args))
        code = subprocess.run([sys.executable, "-m", "kerasll", *args, "--zoo", str(zoo)]).returncode
        log(f"  exit {code} after {time.perf_counter() - start:.0f}s")
        return code

    failed, total = [], time.perf_counter()
    for name in names:
        train = ["train", "--recipe", name, *(["--epochs", str(epochs)] if epochs else []), "--name", name, *where]
        if run(train) or run(["eval", name, "--flatness", *where]):
            failed.append(name)
    for name in names if autoattack else []:  # after every model is trained: the slow part last
        if name not in failed and run(["eval", name, "--attack", "autoattack", "--batch-size", "2000", *where]):
            failed.append(name)
    log(f"{len(names)} runs done in {time.perf_counter() - total:.0f}s; failed: {', '.join(failed) or 'none'}")
    return failed
