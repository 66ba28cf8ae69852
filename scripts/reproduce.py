"""Train and evaluate a group of the paper's runs into a zoo — re-runnable and resumable.

Every run goes through `kerasll train` (skips complete entries, resumes
interrupted ones) and `kerasll eval --flatness` (reuses cached results), each
in its own process; one failed run is logged and the rest go on. Progress is
logged with timestamps to <zoo>/reproduce.log.

Groups:
  table2-lenet   Table 2 LeNet rows on Fashion-MNIST (+ AMSReg with the exact estimator)
  sweeps-lenet   Fig. 4 sweeps on Fashion-MNIST LeNet: AT ε, JacReg λ, AMSReg λ
  beyond-lenet   beyond the paper on Fashion-MNIST LeNet: fast AT and the three adflat variants
                 (strengths chosen on a validation split by scripts/select_strength.py)
  sweeps-beyond-lenet  Fig. 4 sweeps of the new families: fast AT ε, adflat μ (both variants)
  table2         all of Table 2 (LeNet and ResNet18)
  table1         all of Table 1 on CIFAR-10 (DDNet and ResNet18); needs --data-dir
  sweeps-ddnet   Fig. 2/4 sweeps on CIFAR-10 DDNet (AT ε, JacReg λ); needs --data-dir

    python scripts/reproduce.py table2-lenet beyond-lenet --zoo runs/fmnist30 --epochs 30 --autoattack   # this CPU
    python scripts/reproduce.py table1 --zoo runs/cifar10 --data-dir ~/data                 # a GPU, 200 epochs
    python scripts/reproduce.py 'sweep-fmnist-lenet-jacreg-*' fmnist-lenet-none --zoo runs/fmnist30 --epochs 30

Besides the groups, any recipe name or shell-style wildcard over recipe names
(`kerasll zoo recipes` lists them) is accepted; runs go in the order given.

Evaluation: the data set's PGD L∞ preset with random start on the full test set
(Fashion-MNIST ε=25/255, 10 steps of 6.25/255; CIFAR-10 ε=8/255, 5 steps of 2/255),
Φ on the first 1,000 test images (2 pairs, 5×5 lattice, radius ε) with random
directions and along the FGSM direction, and with --autoattack AutoAttack
standard L∞ at the same ε on the full test set.
"""

import argparse
import datetime
import fnmatch
import subprocess
import sys
import time
from pathlib import Path

from kerasll.zoo.recipes import list_recipes

GROUPS = {
    "table2-lenet": ["fmnist-lenet-none", "fmnist-lenet-at", "fmnist-lenet-jacreg", "fmnist-lenet-amsreg",
                     "fmnist-lenet-amsreg-exact"],
    "sweeps-lenet": [n for n, _ in list_recipes("sweep-fmnist-lenet-*")
                     if n not in ("sweep-fmnist-lenet-at-eps10", "sweep-fmnist-lenet-jacreg-0.01",
                                  "sweep-fmnist-lenet-amsreg-0.5")],  # = the Table 2 rows
    "beyond-lenet": ["fmnist-lenet-fastat", "fmnist-lenet-adflat-gradient", "fmnist-lenet-adflat-difference",
                     "fmnist-lenet-adflat-at-difference"],
    "sweeps-beyond-lenet": [n for n, _ in list_recipes("sweep-fmnist-lenet-fastat-*")]
    + [n for n, _ in list_recipes("sweep-fmnist-lenet-adflat-*")],
    "table2": [n for n, _ in list_recipes("fmnist-*")],
    "table1": [n for n, _ in list_recipes("cifar10-*")],
    "sweeps-ddnet": [n for n, _ in list_recipes("sweep-cifar10-ddnet-*")],
}


def expand(selectors):
    """The recipe names a list of groups, recipe names and wildcards stands for, in order, once each."""
    recipes = [n for n, _ in list_recipes()]
    names = []
    for selector in selectors:
        matched = GROUPS.get(selector) or fnmatch.filter(recipes, selector)
        if not matched:
            sys.exit(f"error: {selector!r} is neither a group ({', '.join(sorted(GROUPS))}) "
                     "nor a recipe name or wildcard matching one (see `kerasll zoo recipes`)")
        names += matched
    return list(dict.fromkeys(names))


def log(zoo, message):
    line = f"{datetime.datetime.now().isoformat(timespec='seconds')}  {message}"
    print(line, flush=True)
    with open(Path(zoo) / "reproduce.log", "a") as f:
        f.write(line + "\n")


def run(zoo, args):
    start = time.perf_counter()
    log(zoo, "$ kerasll " + " ".join(args))
    code = subprocess.run([sys.executable, "-m", "kerasll_launcher", *args, "--zoo", str(zoo)]).returncode
    log(zoo, f"  exit {code} after {time.perf_counter() - start:.0f}s")
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="GROUP|RECIPE",
                        help=f"a group ({', '.join(sorted(GROUPS))}), a recipe name or a wildcard over them")
    parser.add_argument("--zoo", type=Path, required=True)
    parser.add_argument("--epochs", type=int, help="override the recipes' 200 epochs (a CPU budget)")
    parser.add_argument("--data-dir", help="folder with the data set's files")
    parser.add_argument("--autoattack", action="store_true", help="also run AutoAttack standard (full test set)")
    args = parser.parse_args()
    names = expand(args.runs)
    args.zoo.mkdir(parents=True, exist_ok=True)
    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    failed, total = [], time.perf_counter()
    for name in names:
        if run(args.zoo, ["train", "--recipe", name, *epochs, "--name", name, *extra]) or \
                run(args.zoo, ["eval", name, "--flatness", *extra]):
            failed.append(name)
    for name in names if args.autoattack else []:  # after every model is trained: the slow part last
        if name not in failed and run(args.zoo, ["eval", name, "--attack", "autoattack", "--batch-size", "2000", *extra]):
            failed.append(name)
    log(args.zoo, f"{len(names)} runs done in {time.perf_counter() - total:.0f}s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
