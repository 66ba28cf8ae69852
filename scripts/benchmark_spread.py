"""Time `kerasll eval` (or `kerasll verify`) in one process, on two logical CPU devices and on two localhost
workers.

Each way evaluates the same images with the same command (AutoAttack on a shipped LeNet by default; with
`--task crown`, CROWN's verification of the IBP-trained LeNet) and must give the identical per-image records
(AutoAttack's robust mask, CROWN's verdicts); the table reports the wall time of the whole command, start-up
included, and its ratio to one process.

    python scripts/benchmark_spread.py --images 1000 --json docs/data/spread-lenet.json
    python scripts/benchmark_spread.py --task crown --images 200 --batch-size 25 --json docs/data/spread-crown.json --docs
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


TASKS = {  # the command, where its accuracy is in the JSON, the per-image record compared, the docs block
    "autoattack": ("eval", lambda out: out["attack"]["robust_accuracy"], "robust", "spread"),
    "crown": ("verify", lambda out: out["results"][0]["verified_accuracy"], "status", "spread-crown"),
}


def run(way, args, folder, task="autoattack"):
    out = folder / f"{way}.json"
    command = [sys.executable, "-m", "kerasll", TASKS[task][0], *args, "--json", str(out)]
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    if way == "one process":
        procs = [subprocess.Popen(command + ["--strategy", "one"], env=env, stdout=subprocess.DEVNULL)]
    elif way == "2 logical devices":
        procs = [subprocess.Popen(command + ["--strategy", "mirrored"], env=env | {"KERASLL_CPU_DEVICES": "2"},
                                  stdout=subprocess.DEVNULL)]
    else:
        from devtools.cluster import localhost_cluster

        procs = [subprocess.Popen(command + ["--strategy", "multiworker"], stdout=subprocess.DEVNULL,
                                  env=env | {"TF_CONFIG": config}) for config in localhost_cluster(2)]
    if any(p.wait() for p in procs):
        sys.exit(f"{way} failed")
    seconds = time.perf_counter() - start
    records = np.load(next(Path(str(out) + ".records").glob("*/*/records.npz")))
    _, accuracy, record, _ = TASKS[task]
    return seconds, accuracy(json.loads(out.read_text())), records[record]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=tuple(TASKS), default="autoattack",
                        help="autoattack: `kerasll eval --attack autoattack`; crown: `kerasll verify --method crown`")
    parser.add_argument("--model", help="a .keras classifier (default: the shipped AT LeNet for autoattack, the "
                        "IBP LeNet for crown)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--version", default="standard")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--docs", action="store_true", help="rewrite the table in docs/scaling.md")
    args = parser.parse_args()
    entry = "fmnist-lenet-at" if args.task == "autoattack" else "fmnist-lenet-ibp"
    model = args.model or str(ROOT / "zoo" / entry / "model.keras")
    from kerasll.datasets.sources import load_data

    data = load_data("fashion_mnist", limit=args.images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savez(folder / "test.npz", x=np.round(data.x * 255).astype(np.uint8), y=data.y)
        common = [model, "--data", str(folder / "test.npz"), "--eps", "25/255", "--batch-size", str(args.batch_size)]
        common += ["--attack", "autoattack", "--version", args.version] if args.task == "autoattack" else \
            ["--method", "crown"]
        rows = {way: run(way, common, folder, args.task)
                for way in ("one process", "2 logical devices", "2 localhost workers")}
    base, _, mask = rows["one process"]
    table = [{"way": way, "seconds": round(s, 1), "ratio": round(s / base, 2), "accuracy": r,
              "identical_mask": bool(np.array_equal(m, mask))} for way, (s, r, m) in rows.items()]
    what = f"AutoAttack {args.version}" if args.task == "autoattack" else "CROWN"
    print(f"{what}, {args.images} images, batches of {args.batch_size}, {os.cpu_count()} CPU cores")
    for row in table:
        print(f"{row['way']:<22} {row['seconds']:>7.1f} s  ×{row['ratio']:.2f}  accuracy {100 * row['accuracy']:.2f}%  "
              f"identical records: {row['identical_mask']}")
    if args.docs:
        from devtools.files import replace_block

        kind = "robust accuracy" if args.task == "autoattack" else "verified accuracy"
        lines = [f"| how | seconds | ÷ one process | {kind} | per-image records identical to one process |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['way']} | {r['seconds']:.1f} | {r['ratio']:.2f} | {100 * r['accuracy']:.2f}% | "
                  f"{'yes' if r['identical_mask'] else 'no'} |" for r in table]
        replace_block(ROOT / "docs" / "scaling.md", TASKS[args.task][3], "\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "images": args.images,
                                         "batch_size": args.batch_size, "version": args.version, "rows": table},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
