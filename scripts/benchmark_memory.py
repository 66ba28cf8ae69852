"""Memory per sample of each defense's training step, and the batch that fits a 16 GB and an 80 GB GPU.

Each (defense, batch) runs in a fresh process: the model is built, compiled and
trained for a few steps on random images, and the process's peak memory is
read. The slope between two batch sizes is the memory one more sample costs
(activations kept for the backward passes, attack iterates, double-backprop
graphs); the fixed part (weights, optimizer state, TensorFlow itself) cancels.

Where it is measured: on a GPU, the peak of TensorFlow's device allocator
(`tf.config.experimental.get_memory_info`); without one, the process's peak
resident memory (`ru_maxrss`), a proxy: the same tensors are alive, but GPU
kernels (cuDNN workspaces, XLA) may add their own. The output says which.

    python scripts/benchmark_memory.py --arch resnet18 --batches 16 64
"""

import argparse
import json
import resource
import subprocess
import sys

GPU_SIZES_GB = (16, 80)


def measure(arch, defense, batch, steps):
    """Peak memory in MB of `steps` training steps (in this process) and where it was read."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kerasll as kl
    from benchmark_defenses import DEFENSES

    keras.utils.set_random_seed(0)
    info = kl.dataset_info("cifar10")
    model = DEFENSES[defense](kl.build_model(arch, dataset="cifar10"))
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((batch, *info.input_shape), dtype=np.float32)
    y = np.arange(batch) % info.num_classes
    gpu = bool(tf.config.list_logical_devices("GPU"))
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    model.fit(x, y, batch_size=batch, epochs=steps, verbose=0)
    if gpu:
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, "GPU allocator peak"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "CPU peak RSS (proxy)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batches", type=int, nargs=2, default=(16, 64), metavar=("SMALL", "LARGE"))
    parser.add_argument("--steps", type=int, default=2, help="training steps per run (the first traces)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=2, metavar=("DEFENSE", "BATCH"), help=argparse.SUPPRESS)  # the child run
    args = parser.parse_args()
    if args.one:
        peak, where = measure(args.arch, args.one[0], int(args.one[1]), args.steps)
        print(json.dumps({"peak_mb": peak, "where": where}))
        return
    from benchmark_defenses import DEFENSES

    rows, where = {}, None
    for defense in DEFENSES:
        peaks = []
        for batch in args.batches:
            out = subprocess.run([sys.executable, __file__, "--arch", args.arch, "--steps", str(args.steps),
                                  "--one", defense, str(batch)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            peaks.append(result["peak_mb"])
            where = result["where"]
        per_sample = (peaks[1] - peaks[0]) / (args.batches[1] - args.batches[0])
        fixed = peaks[0] - per_sample * args.batches[0]
        rows[defense] = {"peak_mb": dict(zip(map(str, args.batches), peaks)), "mb_per_sample": per_sample,
                         "fixed_mb": fixed,
                         "max_batch": {f"{gb}GB": int((0.9 * gb * 1024 - fixed) / per_sample) // 8 * 8
                                       for gb in GPU_SIZES_GB}}
        print(f"{defense}: {per_sample:.2f} MB/sample", file=sys.stderr, flush=True)
    small, large = args.batches
    print(f"{args.arch}, 32×32×3 inputs, {where}; slope between batch {small} and {large}")
    print(f"| {'train step':<22} | MB/sample | fixed MB | batch for 16 GB | batch for 80 GB |")
    print(f"|{'-' * 24}|-----------|----------|-----------------|-----------------|")
    for name, r in rows.items():
        print(f"| {name:<22} | {r['mb_per_sample']:9.2f} | {r['fixed_mb']:8.0f} | {r['max_batch']['16GB']:15d} "
              f"| {r['max_batch']['80GB']:15d} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arch": args.arch, "batches": args.batches, "measured": where, "defenses": rows}, f, indent=2)


if __name__ == "__main__":
    main()
