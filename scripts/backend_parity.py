"""What runs on Keras's JAX and PyTorch backends, beside TensorFlow: the same numbers, and how fast.

For each installed backend, in a process of its own: the shipped AT LeNet (loaded with `kl.load_model`) on
the first 1,000 embedded Fashion-MNIST test images: log p̃(x), ∇x log p(x) and the AMS score, their largest
difference from TensorFlow's, and the input-gradient throughput (the median of 5 passes after a warm-up).

    python scripts/backend_parity.py --docs     # writes docs/data/backend-parity.json and docs/backends.md's table
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")

CHILD = """
import json, sys, time
import numpy as np
import kerasll as kl
from kerasll.zoo.store import Zoo

model = kl.load_model(str(Zoo().get("fmnist-lenet-at").model_path), compile=False)
x, _ = kl.load_dataset("fashion_mnist", "test", source="embedded")
x = np.asarray(x[:1000], np.float32)
to = kl.backend.to_numpy
grad = lambda: to(kl.grad_log_px(model, x, batch_size=500))
g = grad()
times = []
for _ in range(5):
    t0 = time.perf_counter()
    grad()
    times.append(time.perf_counter() - t0)
np.savez(sys.argv[1], log_px=to(kl.log_px(model(x))), grad=g, ams=to(kl.ams_score(model, x)),
         seconds=np.median(times))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", action="store_true", help="write docs/data/backend-parity.json and the table")
    args = parser.parse_args()
    import importlib.util

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            if importlib.util.find_spec(backend) is None:
                print(f"{backend}: not installed, skipped")
                continue
            env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE",
                                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
            subprocess.run([sys.executable, "-c", CHILD, f"{tmp}/{backend}.npz"], env=env, check=True,
                           capture_output=True)
            out[backend] = dict(np.load(f"{tmp}/{backend}.npz"))
    base = out["tensorflow"]
    rows = {}
    for backend, r in out.items():
        rows[backend] = {"log_px_max_abs_diff": float(np.abs(r["log_px"] - base["log_px"]).max()),
                         "grad_max_abs_diff": float(np.abs(r["grad"] - base["grad"]).max()),
                         "grad_max_abs": float(np.abs(base["grad"]).max()),
                         "ams_max_rel_diff": float(np.abs(r["ams"] / base["ams"] - 1).max()),
                         "grad_images_per_second": round(1000 / float(r["seconds"]))}
        print(backend, rows[backend])
    if args.docs:
        from devtools.files import replace_block
        from devtools.machine import describe

        from kerasll._files import write_json

        command = "python scripts/backend_parity.py --docs"
        write_json(ROOT / "docs" / "data" / "backend-parity.json", {"command": command, "machine": describe(),
                                                                    "rows": rows})
        lines = [f"On {describe()} (`{command}`), the shipped AT LeNet on 1,000 embedded test images:", "",
                 "| backend | log p̃ max \\|Δ\\| vs TensorFlow | ∇x log p max \\|Δ\\| (max \\|∇\\|) | AMS max rel. Δ "
                 "| ∇x log p images/s |", "|---|---|---|---|---|"]
        lines += [f"| {b} | {r['log_px_max_abs_diff']:.1e} | {r['grad_max_abs_diff']:.1e} ({r['grad_max_abs']:.2f}) "
                  f"| {r['ams_max_rel_diff']:.1e} | {r['grad_images_per_second']:,} |" for b, r in rows.items()]
        replace_block(ROOT / "docs" / "backends.md", "backend-parity", "\n".join(lines))


if __name__ == "__main__":
    main()
