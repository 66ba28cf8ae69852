"""Noisy forwards per second of `kerasll.certify` against a bare `model.predict_on_batch` loop, same batch size.

The bare loop sends the same number of images through the model in batches of `--batch-size`, with no noise
and no counting; `certify`'s rate includes drawing the keyed Gaussian noise, the forward pass and the counts.
Each is timed `--repeats` times after a warm-up, in one process; the best of each is compared.

    python scripts/benchmark_certify.py --images 20 --n 10000 --batch-size 1000
"""

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeats):
    fn()  # warm-up: compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="fmnist-lenet-at")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import kerasll as kl
    from kerasll.zoo.entry import load_classifier

    model = load_classifier(ROOT / "zoo" / args.entry / "model.keras")
    x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
    x, y = x[:args.images], y[:args.images]
    forwards = args.images * (100 + args.n)  # n0 = 100 selection draws, then n
    ours = best(lambda: kl.certify(model, x, y, 0.25, n0=100, n=args.n, batch_size=args.batch_size), args.repeats)
    batch = np.repeat(x[:1], args.batch_size, axis=0)
    calls = -(-forwards // args.batch_size)
    bare = best(lambda: [model.predict_on_batch(batch) for _ in range(calls)], args.repeats)
    print(f"{args.entry}, {args.images} images × {100 + args.n} noisy copies, batch {args.batch_size}:")
    print(f"  certify               {forwards / ours:10,.0f} noisy forwards/s ({ours:.2f} s)")
    print(f"  predict_on_batch loop {calls * args.batch_size / bare:10,.0f} forwards/s ({bare:.2f} s)")
    print(f"  certify ÷ bare loop   {forwards / ours / (calls * args.batch_size / bare):.2f}")


if __name__ == "__main__":
    main()
