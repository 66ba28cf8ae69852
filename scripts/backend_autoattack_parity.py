"""AutoAttack on Keras's JAX and PyTorch backends against TensorFlow's seed-to-seed spread.

For each installed backend, in a process of its own: AutoAttack standard (L∞, ε = 25/255) on the shipped AT
LeNet and the first `--images` embedded Fashion-MNIST test images, once per seed; the robust accuracy after
each stage. A backend is at parity where every seed's accuracy lies within TensorFlow's range over the same
seeds (the draws of one seed differ between backends: JAX hashes them in float32, so the seeds are samples,
not matched pairs).

Each (backend, seed) run is a process of its own, stored under build/backend-autoattack-parity/ as it ends, so
an interrupted run resumes where it stopped (seed by seed, every backend per seed); `--fresh` recomputes.

    python scripts/backend_autoattack_parity.py --images 500 --seeds 0 1 2 3 4 --docs
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")

CHILD = """
import json, sys, time
import numpy as np
import kerasll as kl
from kerasll.zoo.store import Zoo

images, seeds = int(sys.argv[1]), [int(sys.argv[2])]
model = kl.load_model(str(Zoo().get("fmnist-lenet-at").model_path), compile=False)
x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
runs = []
for seed in seeds:
    t0 = time.perf_counter()
    r = kl.autoattack(model, x[:images], y[:images], eps=25 / 255, seed=seed)
    runs.append({"seed": seed, "clean": r.clean_accuracy, "robust": r.robust_accuracy, "by_attack": r.by_attack,
                 "flags": [str(f) for f in r.flags], "seconds": time.perf_counter() - t0})
print("RESULT " + json.dumps(runs))
"""


CACHE = ROOT / "build" / "backend-autoattack-parity"


def run(backend, images, seed, fresh=False):
    """One seed's AutoAttack on one backend, read from its stored run unless `fresh`."""
    stored = CACHE / f"{backend}-n{images}-seed{seed}.json"
    if stored.is_file() and not fresh:
        return json.loads(stored.read_text())
    env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE",
                        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, str(images), str(seed)], env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])[0]
    from kerasll._files import write_json

    stored.parent.mkdir(parents=True, exist_ok=True)
    write_json(stored, result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100, help="embedded test images (default 100)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="AutoAttack seeds")
    parser.add_argument("--docs", action="store_true",
                        help="write docs/data/backend-autoattack-parity.json and docs/backends.md's table")
    parser.add_argument("--fresh", action="store_true", help="recompute runs stored by an earlier call")
    args = parser.parse_args()
    installed = [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    print("not installed, skipped:", [b for b in BACKENDS if b not in installed])
    out = {b: [] for b in installed}
    for seed in args.seeds:  # every backend per seed, so a partial run already compares them
        for backend in installed:
            out[backend].append(run(backend, args.images, seed, args.fresh))
            print(f"seed {seed} {backend}: {100 * out[backend][-1]['robust']:.2f}%", flush=True)
    low, high = (f(r["robust"] for r in out["tensorflow"]) for f in (min, max))
    verdict = {b: all(low <= r["robust"] <= high for r in runs) for b, runs in out.items()}
    print("within TensorFlow's seed range:", verdict)
    if args.docs:
        from devtools.files import replace_block
        from devtools.machine import describe

        from kerasll._files import write_json

        command = f"python scripts/backend_autoattack_parity.py --images {args.images} --seeds " \
                  f"{' '.join(map(str, args.seeds))} --docs"
        write_json(ROOT / "docs" / "data" / "backend-autoattack-parity.json",
                   {"command": command, "machine": describe(), "runs": out, "within_tensorflow_range": verdict})
        stages = list(out["tensorflow"][0]["by_attack"])
        lines = [f"On {describe()} (`{command}`): AutoAttack standard, L∞ ε = 25/255, the shipped AT LeNet on "
                 f"{args.images} embedded test images, robust accuracy (%) per seed:", "",
                 "| backend | " + " | ".join(f"seed {s}" for s in args.seeds) + " | after "
                 + ", ".join(stages) + " (seed " + str(args.seeds[0]) + ") | within TensorFlow's range | "
                 "seconds per run |", "|---" * (len(args.seeds) + 4) + "|"]
        for b, runs in out.items():
            first = runs[0]["by_attack"]
            lines.append(f"| {b} | " + " | ".join(f"{100 * r['robust']:.2f}" for r in runs) + " | "
                         + ", ".join(f"{100 * first[s]:.2f}" for s in stages) + f" | {'yes' if verdict[b] else 'no'} | "
                         + f"{sum(r['seconds'] for r in runs) / len(runs):.0f} |")
        replace_block(ROOT / "docs" / "backends.md", "backend-autoattack-parity", "\n".join(lines))


if __name__ == "__main__":
    main()
