"""Landscape and flatness throughput against the model's raw batched throughput.

- raw forward: a compiled `model(x)` on ready batches (images/s);
- landscape: `likelihood_surface` lattice points per second (same batch size);
- raw input gradient: a compiled ∇x logsumexp f(x) on ready batches (images/s);
- flatness: `flatness` lattice points per second (same batch size).

Targets: landscape ≥ 80% of raw forward, flatness ≥ 80% of raw input gradient.

    python scripts/benchmark_landscape.py --arch lenet --batch-size 1024
"""

import argparse

import numpy as np
import tensorflow as tf

import kerasll as kl
from devtools.timing import median_seconds, raw_passes


def best_rate(fn, items, repeats):
    return items / median_seconds(fn, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lenet")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = kl.build_model(args.arch, dataset="fashion_mnist")
    xt, yt = kl.load_dataset("fashion_mnist", "test", source="embedded")
    bs = args.batch_size
    batches = [tf.constant(xt[i:i + bs]) for i in range(0, 8 * bs, bs) if len(xt[i:i + bs]) == bs] or [tf.constant(np.resize(xt, (bs,) + xt.shape[1:]))]
    batches = (batches * 8)[:8]

    forward, input_grad = raw_passes(model)
    raw_fwd = best_rate(lambda: [forward(b) for b in batches], 8 * bs, args.repeats)
    raw_grad = best_rate(lambda: [input_grad(b) for b in batches], 8 * bs, args.repeats)
    grid = 91  # 8281 lattice points, ~8 batches
    land = best_rate(lambda: kl.likelihood_surface(model, xt[0], grid=grid, batch_size=bs, dataset="fashion_mnist"), grid * grid, args.repeats)
    n_images = 8 * bs // 50  # pairs=2, grid=5 → 50 points per image
    flat = best_rate(lambda: kl.flatness(model, xt[:n_images], pairs=2, grid=5, batch_size=bs, dataset="fashion_mnist"),
                     n_images * 50, args.repeats)
    print(f"{args.arch}, batch {bs}, median of {args.repeats} runs")
    print(f"| {'quantity':<34} | {'images/s':>9} | {'vs raw':>6} |")
    print(f"|{'-' * 36}|{'-' * 11}|{'-' * 8}|")
    print(f"| {'raw batched forward':<34} | {raw_fwd:9.0f} |        |")
    print(f"| {'likelihood_surface (grid 91)':<34} | {land:9.0f} | {100 * land / raw_fwd:5.0f}% |")
    print(f"| {'raw batched input gradient':<34} | {raw_grad:9.0f} |        |")
    print(f"| {'flatness (2 pairs, 5×5 grid)':<34} | {flat:9.0f} | {100 * flat / raw_grad:5.0f}% |")


if __name__ == "__main__":
    main()
