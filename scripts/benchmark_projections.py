"""vjp vs jvp projections: the cost of a regularised train step and the estimator's spread.

For each architecture: the compiled train step of JacReg and AMSReg (bound) with
one projection of each kind, timed on one batch beside a plain step (ratios from
one run); and the relative spread of one projection's estimate of ‖J‖²_F and
‖diag(p)J‖²_F around the exact value (from `batch_jacobian`), over 200 seeds on 8
test images.

    python scripts/benchmark_projections.py --arch lenet --batch-size 128
    python scripts/benchmark_projections.py --arch ddnet --batch-size 128
    python scripts/benchmark_projections.py --arch resnet18 --batch-size 32
"""

import argparse

import keras
import numpy as np
import tensorflow as tf

import kerasll as kl
from devtools.timing import interleaved_medians, random_batch, train_step_timer


def exact_norms(model, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
    jac = tf.reshape(tape.batch_jacobian(logits, x), (x.shape[0], logits.shape[-1], -1)).numpy()
    p = tf.nn.softmax(logits).numpy()
    return {"jacobian": (jac ** 2).sum((1, 2)), "weighted": ((p[:, :, None] * jac) ** 2).sum((1, 2))}


def relative_spread(model, x, target, projection, exact, seeds=200):
    draws = np.stack([kl.jacobian_sq_norm(model, x, target, projection=projection, seed=s).numpy()
                      for s in range(seeds)])
    bias = np.abs(draws.mean(0) / exact - 1).mean()
    return float(np.mean(draws.std(0) / exact)), float(bias)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lenet", choices=kl.list_models())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--train-steps", type=int, default=20, help="train steps per round")
    args = parser.parse_args()
    dataset, x, y = random_batch(args.arch, args.batch_size)
    build = lambda: kl.build_model(args.arch, dataset=dataset)  # noqa: E731
    keras.utils.set_random_seed(0)
    makers = {"JacReg": lambda m, p: kl.JacobianRegModel(m, 0.01, projection=p, seed=0),
              "AMSReg bound": lambda m, p: kl.AMSRegModel(m, 0.5, projection=p, seed=0)}
    timers = {"plain": train_step_timer(build(), x, y, args.train_steps)}
    timers.update({(name, p): train_step_timer(make(build(), p), x, y, args.train_steps)
                   for name, make in makers.items() for p in ("vjp", "jvp")})
    timed = interleaved_medians(timers, args.repeats)
    plain = timed["plain"]
    print(f"{args.arch}, batch {args.batch_size}: train step cost (× plain step of {1000 * plain:.2f} ms; "
          f"median of {args.repeats} interleaved rounds)")
    print("| defense | vjp | jvp |\n|---|---|---|")
    for name in makers:
        print(f"| {name} | {timed[name, 'vjp'] / plain:.2f} | {timed[name, 'jvp'] / plain:.2f} |")
    model = build()
    xs = tf.constant(x[:8])
    exact = exact_norms(model, xs)
    print("\none projection's relative spread (std / exact) and mean |bias| over 200 seeds, 8 images")
    print("| target | vjp spread | jvp spread | vjp bias | jvp bias |\n|---|---|---|---|---|")
    for target in ("jacobian", "weighted"):
        v = relative_spread(model, xs, target, "vjp", exact[target])
        j = relative_spread(model, xs, target, "jvp", exact[target])
        print(f"| {target} | {v[0]:.3f} | {j[0]:.3f} | {v[1]:.3f} | {j[1]:.3f} |")


if __name__ == "__main__":
    main()
