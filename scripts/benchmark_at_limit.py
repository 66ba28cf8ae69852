"""Adversarial training at its cost limit: a PGD-k step against plain step + k attack steps.

A PGD-k training step cannot cost less than one plain training step plus k
attack steps (an inference-mode forward pass and an input gradient each). This
script times the three in one run on one fixed batch, each compiled once, in
interleaved rounds (the median of the rounds is reported):

- plain: the classifier's own Keras train step;
- attack step: k steps of `pgd_steps` in one `tf.function` (a `tf.while_loop`), divided by k;
- AT: `AdversarialTrainingModel(steps=k)`'s train step.

and prints AT / (plain + k · attack step): 1.00 is the limit, and the excess is
what the AT step spends beyond it.

    python scripts/benchmark_at_limit.py --arch lenet --batch-size 128
    python scripts/benchmark_at_limit.py --arch ddnet --batch-size 128
    python scripts/benchmark_at_limit.py --arch resnet18 --batch-size 32
"""

import argparse
import time

import keras
import tensorflow as tf

import kerasll as kl
from kerasll.attacks.pgd import Budget, pgd_steps
from devtools.timing import interleaved_medians, random_batch, train_step_timer


def attack_step_timer(model, x, y, k, eps, calls=5):
    """A function returning seconds per attack step (k compiled PGD steps per call, divided by k)."""
    x, y = tf.constant(x), tf.constant(y)

    @tf.function
    def attack():
        return pgd_steps(model, x, y, x, Budget(tf.constant(eps), tf.constant(eps / 4), k), "linf")

    for _ in range(2):
        attack().numpy()

    def timer():
        start = time.perf_counter()
        for _ in range(calls):
            attack().numpy()
        return (time.perf_counter() - start) / calls / k

    return timer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lenet", choices=kl.list_models())
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="PGD steps k")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--train-steps", type=int, default=20, help="plain train steps per round (AT: a quarter)")
    args = parser.parse_args()
    dataset, x, y = random_batch(args.arch, args.batch_size)
    eps = 10 / 255
    keras.utils.set_random_seed(0)
    timed = interleaved_medians({
        "plain": train_step_timer(kl.build_model(args.arch, dataset=dataset), x, y, args.train_steps),
        "attack": attack_step_timer(kl.build_model(args.arch, dataset=dataset), x, y, args.steps, eps),
        "at": train_step_timer(kl.AdversarialTrainingModel(kl.build_model(args.arch, dataset=dataset), eps,
                                                           steps=args.steps, seed=0), x, y, max(1, args.train_steps // 4)),
    }, args.repeats)
    plain, attack, at = timed["plain"], timed["attack"], timed["at"]
    limit = plain + args.steps * attack
    print(f"{args.arch}, batch {args.batch_size}, PGD-{args.steps}; median of {args.repeats} interleaved rounds")
    print("| step | ms | × plain |\n|---|---|---|")
    for name, t in [("plain train step", plain), ("one attack step", attack),
                    (f"limit: plain + {args.steps} attack steps", limit), (f"AT PGD-{args.steps} train step", at)]:
        print(f"| {name} | {1000 * t:.2f} | {t / plain:.2f} |")
    print(f"AT / limit = {at / limit:.2f}  (1.00 is the limit; the attack step is {attack / plain:.2f}× a plain step)")


if __name__ == "__main__":
    main()
