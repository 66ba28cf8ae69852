"""kerasll on each installed Keras backend, against that backend's own floor, on the device it finds.

For each of TensorFlow, JAX and PyTorch that is installed, in a process of its own (GPU if the backend sees
one): the shipped AT LeNet's raw compiled forward and input-gradient throughput, written here with the
backend's own tools (the floor: `tf.function`, `jax.jit` over `stateless_call`, PyTorch eager under
`no_grad`/`autograd`), and kerasll's APGD-CE, Φ, certification and AutoAttack standard on the same model, each
as images per second and, where a floor applies, as a share of it:

- APGD-CE (100 steps): 101 input gradients per image, so its floor is the raw gradient rate / 101;
- Φ (2 pairs, 5×5 lattice): 50 input gradients per image, floor the raw gradient rate / 50;
- certification (n0 = 100, n = 1,000): 1,100 forward passes per image, floor the raw forward rate / 1,100;
- AutoAttack standard: no floor (its attacks stop early on fooled images), images per second only.

It needs only Keras, kerasll and a backend: it runs where TensorFlow is not installed (the GPU machines),
from a checkout with `pip install --no-deps` of keras and kerasll.

    python scripts/benchmark_backends.py --json docs/data/backends-benchmark.json --docs
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
ALL = ("tensorflow", "jax", "torch", "keras", "numpy")  # the versions the table names

CHILD = r"""
import json, sys, time
import numpy as np
import keras
import kerasll as kl
from devtools.timing import median_seconds, raw_passes
from kerasll.zoo.store import Zoo

images = int(sys.argv[1])
backend = keras.backend.backend()
model = kl.load_model(str(Zoo().get("fmnist-lenet-at").model_path), compile=False)
x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
x, y = np.asarray(x[:images], np.float32), np.asarray(y[:images])
batch = x[:500]


def best(fn, n, repeats=3):
    return n / median_seconds(fn, repeats)


forward, gradient = raw_passes(model)
raw_forward = best(lambda: forward(batch), len(batch))
raw_gradient = best(lambda: gradient(batch), len(batch))
apgd = best(lambda: kl.apgd(model, x, y, 25 / 255, steps=100, seed=0, batch_size=500), len(x), 1)
phi = best(lambda: kl.flatness(model, x, pairs=2, grid=5, dataset="fashion_mnist").phi, len(x), 1)
certify = best(lambda: kl.certify(model, x[:50], y[:50], 0.25, n0=100, n=1000, batch_size=1000).radius, 50, 1)
t0 = time.perf_counter()
kl.autoattack(model, x, y, 25 / 255, seed=0)
autoattack = len(x) / (time.perf_counter() - t0)
print("RESULT " + json.dumps({
    "backend": backend,
    "device": "gpu" if kl.backend.has_gpu() else "cpu",
    "raw_forward": raw_forward, "raw_gradient": raw_gradient,
    "apgd": apgd, "apgd_share": apgd / (raw_gradient / 101),
    "phi": phi, "phi_share": phi / (raw_gradient / 50),
    "certify": certify, "certify_share": certify / (raw_forward / 1100),
    "autoattack": autoattack}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=500, help="embedded test images per measure (default 500)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--docs", action="store_true", help="write docs/benchmarks.md's backends table")
    args = parser.parse_args()
    rows = []
    for backend in args.backends:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend}: not installed, skipped")
            continue
        env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE",
                            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-c", CHILD, str(args.images)], env=env, capture_output=True,
                              text=True)
        if done.returncode:
            print(f"{backend}: failed\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:]))
        print(rows[-1])
    lines = ["| backend (device) | raw forward img/s | raw ∇x img/s | APGD-CE img/s (share of floor) | "
             "Φ img/s (share) | certify img/s (share) | AutoAttack img/s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} ({r['device']}) | {r['raw_forward']:,.0f} | {r['raw_gradient']:,.0f} | "
              f"{r['apgd']:,.1f} ({r['apgd_share']:.0%}) | {r['phi']:,.1f} ({r['phi_share']:.0%}) | "
              f"{r['certify']:,.2f} ({r['certify_share']:.0%}) | {r['autoattack']:,.2f} |" for r in rows]
    print("\n".join(lines))
    command = f"python scripts/benchmark_backends.py --images {args.images}" + (
        f" --json {args.json}" if args.json else "") + (" --docs" if args.docs else "")
    if args.json:
        from devtools.machine import describe

        from kerasll._files import write_json

        write_json(args.json, {"command": command, "machine": describe(ALL), "rows": rows})
    if args.docs:
        from devtools.files import replace_block
        from devtools.machine import describe

        replace_block(ROOT / "docs" / "benchmarks.md", "backends",
                      f"On {describe(ALL)} (`{command}`), the shipped AT LeNet, {args.images} embedded test images:\n\n"
                      + "\n".join(lines))


if __name__ == "__main__":
    main()
