"""The defenses trained through `fit` on Keras's TensorFlow, JAX and PyTorch backends, side by side.

For each installed backend, in a process of its own: `kerasll train --defense D --source embedded --epochs E`
into a scratch zoo (the embedded 5,000-image Fashion-MNIST subset; validation on its 1,000 test images), for
each defense asked; the final validation accuracy, the time per epoch. A backend is at parity where its
accuracy is within `--tolerance` points of TensorFlow's (the issue's bar: 2 points). Each backend initialises
and draws with its own generators, so the runs are samples, not matched pairs.

    python scripts/backend_training_parity.py --defenses amsreg at --epochs 5 --docs
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def train(backend, defense, epochs, zoo):
    env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE", "KERASLL_ZOO": zoo,
                        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    name = f"{defense}-{backend}"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kerasll", "train", "--defense", defense, "--source", "embedded",
                    "--epochs", str(epochs), "--name", name, "--no-tensorboard"], env=env, check=True,
                   capture_output=True, text=True)
    meta = json.loads((Path(zoo) / name / "metadata.json").read_text())
    return {"val_accuracy": meta["history"]["val_accuracy"][-1], "accuracy": meta["history"]["accuracy"][-1],
            "seconds": time.perf_counter() - start, "versions": meta["versions"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--defenses", nargs="+", default=["amsreg", "at"], help="defenses to train")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    parser.add_argument("--tolerance", type=float, default=2.0, help="points of accuracy (default 2)")
    parser.add_argument("--docs", action="store_true",
                        help="write docs/data/backend-training-parity.json and docs/backends.md's table")
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as zoo:
        for defense in args.defenses:
            for backend in BACKENDS:
                if importlib.util.find_spec(backend) is None:
                    print(f"{backend}: not installed, skipped")
                    continue
                out.setdefault(defense, {})[backend] = run = train(backend, defense, args.epochs, zoo)
                print(defense, backend, f"{100 * run['val_accuracy']:.2f}%", f"{run['seconds']:.0f} s", flush=True)
    verdict = {d: {b: abs(r["val_accuracy"] - runs["tensorflow"]["val_accuracy"]) * 100 <= args.tolerance
                   for b, r in runs.items()} for d, runs in out.items()}
    print("within", args.tolerance, "points of TensorFlow:", verdict)
    if args.docs:
        from devtools.files import replace_block
        from devtools.machine import describe

        from kerasll._files import write_json

        command = f"python scripts/backend_training_parity.py --defenses {' '.join(args.defenses)} " \
                  f"--epochs {args.epochs} --docs"
        write_json(ROOT / "docs" / "data" / "backend-training-parity.json",
                   {"command": command, "machine": describe(), "runs": out, "within_tolerance": verdict})
        lines = [f"On {describe()} (`{command}`): `kerasll train --source embedded --epochs {args.epochs}` per "
                 "defense and backend, validation accuracy on the 1,000 embedded test images after the last epoch:",
                 "", "| defense | backend | val. accuracy (%) | train accuracy (%) | within "
                 f"{args.tolerance:g} points of TensorFlow | seconds (incl. start) |", "|---|---|---|---|---|---|"]
        for d, runs in out.items():
            for b, r in runs.items():
                lines.append(f"| {d} | {b} | {100 * r['val_accuracy']:.2f} | {100 * r['accuracy']:.2f} | "
                             f"{'yes' if verdict[d][b] else 'no'} | {r['seconds']:.0f} |")
        replace_block(ROOT / "docs" / "backends.md", "backend-training-parity", "\n".join(lines))


if __name__ == "__main__":
    main()
