"""Estimate the wall-clock of the paper's Table 1 (CIFAR-10, 200 epochs).

Two estimates per Table 1 row:

1. **Measured on this device.** One compiled training step (the row's
   defense, 32×32×3, batch scaled to 128) is timed on whatever device
   TensorFlow uses — run this on the GPU you plan to use and this column is
   the answer — then × 391 steps/epoch × epochs.
2. **A single GPU, from FLOPs.** The model's forward FLOPs (counted by
   TensorFlow's profiler) × 3 for a training step × the row's measured step
   cost relative to a plain step (a ratio of the same kernels, so close to
   device-independent), at an *assumed* sustained throughput `--gpu-tflops`
   (default 10 TFLOP/s: a mid-range GPU in float32 at about half its peak).
   This is an estimate, not a measurement.

Evaluation (PGD-5 on 10,000 images ≈ 6 forward+backward passes per image;
Φ on 1,000 images × 50 gradient points) is added to both.

    python scripts/estimate_table1.py --batch-size 16 --steps 1 --repeats 1   # quick, on a CPU
"""

import argparse
import math

import keras
import numpy as np
import tensorflow as tf

from kerasll.architectures import build_model
from devtools.timing import time_train_step
from kerasll.zoo.config import TrainConfig
from kerasll.zoo.recipes import get_recipe, list_recipes
from kerasll.zoo.training import build_trainable

TRAIN_IMAGES, TEST_IMAGES, PHI_POINTS = 50000, 10000, 1000 * 50


def forward_flops(arch):
    """Forward FLOPs of one 32×32×3 image, counted by TensorFlow's profiler."""
    from tensorflow.python.profiler.model_analyzer import profile
    from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

    model = build_model(arch, dataset="cifar10")
    graph = tf.function(model).get_concrete_function(tf.TensorSpec((1, 32, 32, 3), tf.float32)).graph
    options = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return profile(graph, options=options).total_float_ops


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128, help="measured batch (times are scaled to 128)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--gpu-tflops", type=float, default=10.0, help="assumed sustained GPU throughput")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch_size, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size)
    steps = math.ceil(TRAIN_IMAGES / 128) * args.epochs
    rows, plain, flops = [], {}, {}
    for name, _ in list_recipes("cifar10-*"):
        config = TrainConfig.from_dict(get_recipe(name)).resolved()
        keras.utils.set_random_seed(0)
        seconds = 128 / args.batch_size * time_train_step(build_trainable(config), x, y, args.steps, args.repeats,
                                                          warmup=1)
        if config.defense == "none":
            plain[config.arch] = seconds
        flops.setdefault(config.arch, forward_flops(config.arch))
        rows.append((name, config.arch, seconds))
    gpu_rate = args.gpu_tflops * 1e12
    print(f"{'recipe':<24} {'s/step here':>11} {'× plain':>8} {'hours here':>10} {'GPU h (est.)':>12}")
    total_here = total_gpu = 0.0
    for name, arch, seconds in rows:
        ratio = seconds / plain[arch]
        eval_passes = TEST_IMAGES * 6 / 3 + PHI_POINTS * 2 / 3  # in plain-step image units
        here = (seconds * steps + plain[arch] / 128 * eval_passes) / 3600
        per_image = 3 * flops[arch]  # a plain training step, per image
        gpu = (ratio * per_image * 128 * steps + per_image * eval_passes) / gpu_rate / 3600
        total_here, total_gpu = total_here + here, total_gpu + gpu
        print(f"{name:<24} {seconds:11.3f} {ratio:8.2f} {here:10.1f} {gpu:12.2f}")
    print("forward GFLOPs/image: " + ", ".join(f"{a} {f / 1e9:.3f}" for a, f in flops.items()))
    print(f"Table 1, {len(rows)} rows × {args.epochs} epochs: {total_here:.0f} h measured on this device; "
          f"≈ {total_gpu:.1f} h on one GPU at an assumed {args.gpu_tflops:g} TFLOP/s")


if __name__ == "__main__":
    main()
