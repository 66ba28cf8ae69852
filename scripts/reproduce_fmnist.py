"""Reproduce the paper's Table 2 LeNet rows and the Fig. 4 sweeps on real Fashion-MNIST.

Re-runnable and resumable: every run goes through `kerasll train`, which skips
complete entries and resumes interrupted ones, and `kerasll eval`, which reuses
cached results. Progress is logged with timestamps to <zoo>/reproduce.log.

    python scripts/reproduce_fmnist.py --zoo runs/fmnist --epochs 10          # train + evaluate
    python scripts/reproduce_fmnist.py --zoo runs/fmnist --epochs 10 --only table2

Data: real Fashion-MNIST (Debian's dataset-fashion-mnist, --data-dir, or tfds).
Evaluation: PGD L∞ ε=25/255, 10 steps of 6.25/255, random start, on the full
10,000-image test set; Φ on the first 1,000 test images (2 pairs, 5×5, radius ε).
"""

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

TABLE2 = {  # entry name: recipe
    "fmnist-lenet-none": "fmnist-lenet-none",
    "fmnist-lenet-at": "fmnist-lenet-at",
    "fmnist-lenet-jacreg": "fmnist-lenet-jacreg",
    "fmnist-lenet-amsreg": "fmnist-lenet-amsreg",
    "fmnist-lenet-amsreg-exact": "fmnist-lenet-amsreg-exact",
}
SWEEPS = {  # the main rows above are the sweeps' middle points
    "sweep-fmnist-lenet-jacreg-0.001": "sweep-fmnist-lenet-jacreg-0.001",
    "sweep-fmnist-lenet-jacreg-0.003": "sweep-fmnist-lenet-jacreg-0.003",
    "sweep-fmnist-lenet-jacreg-0.03": "sweep-fmnist-lenet-jacreg-0.03",
    "sweep-fmnist-lenet-jacreg-0.1": "sweep-fmnist-lenet-jacreg-0.1",
    "sweep-fmnist-lenet-amsreg-0.05": "sweep-fmnist-lenet-amsreg-0.05",
    "sweep-fmnist-lenet-amsreg-0.15": "sweep-fmnist-lenet-amsreg-0.15",
    "sweep-fmnist-lenet-amsreg-1.5": "sweep-fmnist-lenet-amsreg-1.5",
    "sweep-fmnist-lenet-at-eps2": "sweep-fmnist-lenet-at-eps2",
    "sweep-fmnist-lenet-at-eps4": "sweep-fmnist-lenet-at-eps4",
    "sweep-fmnist-lenet-at-eps6": "sweep-fmnist-lenet-at-eps6",
}


def log(zoo, message):
    line = f"{datetime.datetime.now().isoformat(timespec='seconds')}  {message}"
    print(line, flush=True)
    with open(Path(zoo) / "reproduce.log", "a") as f:
        f.write(line + "\n")


def run(zoo, args):
    cmd = [sys.executable, "-m", "kerasll.cli", *args, "--zoo", str(zoo)]
    start = time.perf_counter()
    log(zoo, "$ kerasll " + " ".join(args))
    done = subprocess.run(cmd)
    log(zoo, f"  exit {done.returncode} after {time.perf_counter() - start:.0f}s")
    return done.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=Path("runs/fmnist"))
    parser.add_argument("--epochs", type=int, default=10, help="reduced budget for a CPU (the paper: 200)")
    parser.add_argument("--only", choices=("table2", "sweeps"), help="run one group only")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    args = parser.parse_args()
    args.zoo.mkdir(parents=True, exist_ok=True)
    runs = {**({} if args.only == "sweeps" else TABLE2), **({} if args.only == "table2" else SWEEPS)}
    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    failed = []
    total = time.perf_counter()
    for name, recipe in runs.items():
        if run(args.zoo, ["train", "--recipe", recipe, "--epochs", str(args.epochs), "--name", name, *extra]):
            failed.append(name)
            continue
        if run(args.zoo, ["eval", name, "--flatness", *extra]):
            failed.append(name)
    log(args.zoo, f"all runs done in {time.perf_counter() - total:.0f}s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
