"""Estimate the wall-clock of the paper's Table 1 (CIFAR-10, 200 epochs) on this device.

For each Table 1 row it measures one compiled training step (batch 128,
32×32×3, the row's defense) on whatever device TensorFlow uses here — run it
on the GPU you plan to use — and multiplies: 391 steps/epoch × 200 epochs, plus
the evaluation (PGD-5 on 10,000 test images ≈ 6 forward+backward passes each,
priced as 6/3 of a plain step per batch, and Φ on 1,000 images).

    python scripts/estimate_table1.py                    # all eight rows
    python scripts/estimate_table1.py --steps 1 --repeats 1 --batch-size 32   # quick, on a CPU
"""

import argparse
import math

import keras
import numpy as np

import kerasll as kl
from kerasll.benchmarking import time_train_step
from kerasll.zoo.config import TrainConfig
from kerasll.zoo.recipes import list_recipes
from kerasll.zoo.training import build_trainable


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128, help="measured batch (cost is scaled to 128)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch_size, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, args.batch_size)
    steps_per_epoch = math.ceil(50000 / 128)
    scale = 128 / args.batch_size
    plain = {}
    rows = []
    for name, _ in list_recipes("cifar10-*"):
        from kerasll.zoo.recipes import get_recipe

        config = TrainConfig.from_dict(get_recipe(name)).resolved()
        keras.utils.set_random_seed(0)
        step = scale * time_train_step(build_trainable(config), x, y, args.steps, args.repeats, warmup=1)
        if config.defense == "none":
            plain[config.arch] = step
        rows.append((name, config.arch, step))
    print(f"{'recipe':<24} {'s/step':>8} {'train h':>9} {'eval h':>7} {'total h':>8}")
    total = 0.0
    for name, arch, step in rows:
        train_h = step * steps_per_epoch * args.epochs / 3600
        eval_h = (2 * plain[arch] * math.ceil(10000 / 128) + plain[arch] * 50 * 1000 / 128 / 3) / 3600
        total += train_h + eval_h
        print(f"{name:<24} {step:8.3f} {train_h:9.1f} {eval_h:7.2f} {train_h + eval_h:8.1f}")
    print(f"Table 1 ({len(rows)} rows, {args.epochs} epochs each): {total:.1f} h on this device ({kl.__name__} measured)")


if __name__ == "__main__":
    main()
