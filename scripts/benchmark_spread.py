"""Time `kerasll eval` in one process, on two logical CPU devices and on two localhost workers.

Each way evaluates the same images with the same command (AutoAttack on a shipped
LeNet by default) and must give the identical robust mask; the table reports the
wall time of the whole command, start-up included, and its ratio to one process.

    python scripts/benchmark_spread.py --images 1000 --json docs/data/spread-lenet.json
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


def run(way, args, folder):
    out = folder / f"{way}.json"
    command = [sys.executable, "-m", "kerasll", "eval", *args, "--json", str(out)]
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
    return seconds, json.loads(out.read_text())["attack"], records["robust"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "zoo" / "fmnist-lenet-at" / "model.keras"))
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--version", default="standard")
    parser.add_argument("--json", type=Path, help="also write the table here")
    parser.add_argument("--docs", action="store_true", help="rewrite the table in docs/scaling.md")
    args = parser.parse_args()
    from kerasll.datasets.sources import load_data

    data = load_data("fashion_mnist", limit=args.images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savez(folder / "test.npz", x=np.round(data.x * 255).astype(np.uint8), y=data.y)
        common = [args.model, "--data", str(folder / "test.npz"), "--eps", "25/255", "--attack", "autoattack",
                  "--version", args.version, "--batch-size", str(args.batch_size)]
        rows = {way: run(way, common, folder) for way in ("one process", "2 logical devices", "2 localhost workers")}
    base, _, mask = rows["one process"]
    table = [{"way": way, "seconds": round(s, 1), "ratio": round(s / base, 2), "robust_accuracy": r["robust_accuracy"],
              "identical_mask": bool(np.array_equal(m, mask))} for way, (s, r, m) in rows.items()]
    print(f"AutoAttack {args.version}, {args.images} images, batches of {args.batch_size}, {os.cpu_count()} CPU cores")
    for row in table:
        print(f"{row['way']:<22} {row['seconds']:>7.1f} s  ×{row['ratio']:.2f}  robust {100 * row['robust_accuracy']:.2f}%  "
              f"identical mask: {row['identical_mask']}")
    if args.docs:
        from devtools.files import replace_block

        lines = ["| how | seconds | ÷ one process | robust accuracy | mask identical to one process |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['way']} | {r['seconds']:.1f} | {r['ratio']:.2f} | {100 * r['robust_accuracy']:.2f}% | "
                  f"{'yes' if r['identical_mask'] else 'no'} |" for r in table]
        replace_block(ROOT / "docs" / "scaling.md", "spread", "\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "images": args.images,
                                         "batch_size": args.batch_size, "version": args.version, "rows": table},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
