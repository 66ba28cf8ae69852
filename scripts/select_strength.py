"""Choose a defense's strength on a validation split of the training set, never on the test set.

Each candidate is trained by `kerasll train` on the first 55,000 Fashion-MNIST
training images (`--train-limit 55000`) into a zoo (resumable; complete entries
are reused), then evaluated on the last 5,000 training images, which it never
saw: clean accuracy and APGD-CE (100 steps, L∞ at the evaluation ε = 25/255).
The chosen strength is the one with the highest validation APGD-CE accuracy
among the stable candidates with clean validation accuracy ≥ --min-clean; the
table and the choice are printed and written to
<zoo>/selection-<defense>-<variant>.json.

A candidate is unstable when its training accuracy, in some epoch, fell more
than --max-drop below its best earlier epoch (the 0.2 of Wong et al.'s
catastrophic-overfitting guard): such a strength is on the edge of collapsing
to a constant model. Select on the budget you will train on (--epochs): a
strength that is stable for 10 epochs can collapse later (adflat difference
μ=1024 did, at epoch 11 of 30 — see docs/results.md).

    python scripts/select_strength.py --defense adflat --variant gradient --strengths 0.5,2,8 \\
        --epochs 10 --zoo runs/select
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import kerasll as kl
from kerasll.collapse import MAX_DROP, collapse_epoch
from devtools.selection import choose
from kerasll.zoo import Zoo

TRAIN = 55_000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--defense", required=True, choices=kl.list_defenses())
    parser.add_argument("--variant", help="the defense's variant (adflat: gradient, difference or at-difference)")
    parser.add_argument("--strengths", required=True, help="comma-separated candidates, e.g. 0.5,2,8")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--min-clean", type=float, default=0.80, help="clean validation accuracy required")
    parser.add_argument("--max-drop", type=float, default=MAX_DROP,
                        help="a fall in training accuracy below an earlier best that marks a candidate unstable")
    parser.add_argument("--zoo", type=Path, required=True)
    parser.add_argument("--data-dir", help="folder with the data set's files")
    args = parser.parse_args()
    args.zoo.mkdir(parents=True, exist_ok=True)
    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    x, y = kl.load_dataset("fashion_mnist", "train", data_dir=args.data_dir)
    x_val, y_val = x[TRAIN:], y[TRAIN:]
    eps = kl.dataset_info("fashion_mnist").eval_eps
    rows = []
    for strength in args.strengths.split(","):
        name = f"select-{args.defense}{'-' + args.variant if args.variant else ''}-{strength}-e{args.epochs}"
        variant = ["--variant", args.variant] if args.variant else []
        cmd = [sys.executable, "-m", "kerasll", "train", "--defense", args.defense, *variant,
               "--strength", strength, "--epochs", str(args.epochs), "--train-limit", str(TRAIN),
               "--name", name, "--zoo", str(args.zoo), *extra]
        print("$ " + " ".join(cmd[2:]), flush=True)
        if subprocess.run(cmd).returncode:
            sys.exit(f"training {name} failed")
        entry = Zoo(args.zoo).get(name)
        model = entry.load_model()
        collapse = collapse_epoch(entry.metadata()["history"]["accuracy"], args.max_drop)
        clean = float(np.mean(np.argmax(model.predict(x_val, batch_size=1000, verbose=0), -1) == y_val))
        x_adv = kl.apgd(model, x_val, y_val, eps, steps=100, seed=0)
        robust = float(np.mean(np.argmax(model.predict(x_adv, batch_size=1000, verbose=0), -1) == y_val))
        rows.append({"strength": float(strength), "entry": name, "clean": clean, "apgd_ce": robust,
                     "collapse_epoch": collapse})
        print(f"  strength {strength}: validation clean {100 * clean:.2f}%, APGD-CE {100 * robust:.2f}%"
              + (f", unstable (training accuracy collapsed at epoch {collapse})" if collapse else ""), flush=True)
    chosen = choose(rows, args.min_clean)
    print("\n| strength | validation clean % | validation APGD-CE % | stable |\n|---|---|---|---|")
    for r in rows:
        mark = " (chosen)" if r is chosen else ""
        stable = "yes" if r["collapse_epoch"] is None else f"no (epoch {r['collapse_epoch']})"
        print(f"| {r['strength']:g}{mark} | {100 * r['clean']:.2f} | {100 * r['apgd_ce']:.2f} | {stable} |")
    print(f"chosen: {chosen['strength']:g}" if chosen else
          f"no stable candidate reaches {args.min_clean:.0%} clean")
    out = args.zoo / f"selection-{args.defense}{'-' + args.variant if args.variant else ''}.json"
    out.write_text(json.dumps({"defense": args.defense, "variant": args.variant, "epochs": args.epochs,
                               "train_images": TRAIN, "validation_images": len(x_val), "eps": eps,
                               "min_clean": args.min_clean, "max_drop": args.max_drop, "candidates": rows,
                               "chosen": chosen and chosen["strength"]}, indent=2))


if __name__ == "__main__":
    main()
