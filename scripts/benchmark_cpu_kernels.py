"""How much TensorFlow's choice of CPU kernels moves kerasll's speed on this machine.

TensorFlow turns oneDNN's kernels on by default only on some CPUs (Intel ones with AVX-512), and oneDNN
picks its code by instruction set: the same kerasll command can run several times faster on one CPU
than on another. For each kernel setting, in a fresh process: a LeNet's raw compiled forward and
input-gradient throughput (images/s, batch 1,000), and `kl.certify`'s noisy images per second (the
shipped Gaussian LeNet, 10 test images × 10,100 noisy copies). Writes docs/data/cpu-kernels.json and,
with --docs, the table in docs/benchmarks.md.

    python scripts/benchmark_cpu_kernels.py --docs
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name → environment; "default" is TensorFlow's own choice on this CPU
    "default": {},
    "Eigen (oneDNN off)": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "oneDNN, AVX2 code": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "oneDNN, AVX code": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX"},
}
KNOBS = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS")


def child():
    import numpy as np
    import tensorflow as tf

    import kerasll as kl
    from devtools.timing import median_seconds, raw_passes

    model = kl.load_model(ROOT / "zoo" / "fmnist-lenet-gaussian" / "model.keras")
    classifier = getattr(model, "classifier", model)
    x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
    batch = tf.constant(np.resize(x, (1000, *x.shape[1:])))
    forward, gradient = raw_passes(classifier)
    images, n = 10, 10_000
    out = {"forward": 1000 / median_seconds(lambda: forward(batch)),
           "input_gradient": 1000 / median_seconds(lambda: gradient(batch)),
           "certify": images * (n + 100) / median_seconds(
               lambda: kl.certify(classifier, x[:images], y[:images], 0.25, 100, n), repeats=3)}
    print("RESULT " + json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "data" / "cpu-kernels.json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/benchmarks.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()
    from devtools.files import replace_block
    from kerasll._files import write_json
    from devtools.machine import describe

    rows = {}
    for name, env in SETTINGS.items():
        environ = {k: v for k, v in os.environ.items() if k not in KNOBS} | env
        out = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, env=environ,
                             check=True).stdout
        rows[name] = json.loads(out.split("RESULT ", 1)[1])
        print(name, rows[name], flush=True)
    machine = describe()
    write_json(args.json, {"machine": machine, "command": "python scripts/benchmark_cpu_kernels.py --docs",
                           "images_per_second": rows})
    if args.docs:
        base = rows["default"]
        lines = [f"`python scripts/benchmark_cpu_kernels.py --docs` on {machine} (a LeNet, images/s; × the "
                 "default's in brackets):", "",
                 "| kernels | forward | input gradient | `kl.certify` noisy images |", "|---|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {name} | " + " | ".join(f"{r[k]:,.0f} ({r[k] / base[k]:.2f}×)"
                                                   for k in ("forward", "input_gradient", "certify")) + " |")
        replace_block(ROOT / "docs" / "benchmarks.md", "cpu-kernels", "\n".join(lines))


if __name__ == "__main__":
    main()
