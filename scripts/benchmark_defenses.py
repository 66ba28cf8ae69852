"""Time one training step of each defense against a plain step (same model, same batch).

Each model is compiled and warmed up (traced); then every round times each
model's compiled train function over many steps, in turn (interleaved, so a
drift of the machine hits all alike), and the median of the rounds is reported.
Ratios are relative to the plain step.

    python scripts/benchmark_defenses.py --arch lenet --batch-size 128
    python scripts/benchmark_defenses.py --arch lenet --only plain "ibp (certified)" "crown-ibp (ramp)" "crown-ibp (after ramp)"
"""

import argparse
import json
import keras
import tensorflow as tf

import kerasll as kl
from devtools.timing import interleaved_medians, train_step_timer

class MinimalJacReg(keras.Model):
    """The floor for a one-projection Jacobian penalty: a hand-written double-backprop step and nothing else
    (no metrics, trackers, seeds or distribution logic), to show what kerasll's own step adds."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def call(self, x, training=False):
        return self.net(x, training=training)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            with tf.GradientTape() as inner:
                inner.watch(x)
                logits = self.net(x, training=True)
            v = tf.random.normal(tf.shape(logits))
            g = inner.gradient(logits, x, output_gradients=v / tf.norm(v, axis=-1, keepdims=True))
            penalty = tf.reduce_sum(tf.reshape(g, [tf.shape(g)[0], -1]) ** 2, -1) * tf.cast(tf.shape(logits)[-1],
                                                                                           tf.float32)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                                  + 0.005 * penalty)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {}


DEFENSES = {
    "plain": lambda m: m,
    "jacreg (1 proj)": lambda m: kl.JacobianRegModel(m, 0.01, seed=0),
    "amsreg bound (1 proj)": lambda m: kl.AMSRegModel(m, 0.5, seed=0),
    "amsreg exact": lambda m: kl.AMSRegModel(m, 0.5, estimator="exact", seed=0),
    "at pgd-10": lambda m: kl.AdversarialTrainingModel(m, 10 / 255, steps=10, seed=0),
    "fastat (fgsm-rs)": lambda m: kl.FastAdversarialTrainingModel(m, 10 / 255, seed=0),
    "adflat gradient": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="gradient", seed=0),
    "adflat difference": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="difference", seed=0),
    "adflat at-difference": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="at-difference", seed=0),
    "ibp (certified)": lambda m: kl.IBPTrainingModel(m, 0.1, warmup_steps=0, ramp_steps=0),
    # CROWN-IBP: during the ramp (β > 0: the backward pass) and after it (β = 0: IBP's bound alone)
    "crown-ibp (ramp)": lambda m: kl.CROWNIBPTrainingModel(m, 0.1, warmup_steps=0, ramp_steps=10**9),
    "crown-ibp (after ramp)": lambda m: kl.CROWNIBPTrainingModel(m, 0.1, warmup_steps=0, ramp_steps=0),
}
REFERENCES = {"minimal double backprop": MinimalJacReg}  # timed beside the defenses, not a defense


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="lenet")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--only", nargs="+", help="time these rows only (plain is always timed)")
    args = parser.parse_args()
    x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
    x, y = x[: args.batch_size], y[: args.batch_size]
    timers = {}
    rows = {**DEFENSES, **REFERENCES}
    if args.only:
        rows = {k: v for k, v in rows.items() if k == "plain" or k in args.only}
    for name, wrap in rows.items():
        keras.utils.set_random_seed(0)
        timers[name] = train_step_timer(wrap(kl.build_model(args.arch, dataset="fashion_mnist")), x, y, args.steps)
    results = interleaved_medians(timers, args.repeats)
    base = results["plain"]
    print(f"{args.arch}, batch {args.batch_size}, median of {args.repeats}×{args.steps} steps")
    print(f"| {'train step':<22} | {'ms/step':>8} | {'× plain':>7} |")
    print(f"|{'-' * 24}|{'-' * 10}|{'-' * 9}|")
    for name, t in results.items():
        print(f"| {name:<22} | {1000 * t:8.2f} | {t / base:7.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"arch": args.arch, "batch_size": args.batch_size,
                       "seconds_per_step": results, "ratio": {k: v / base for k, v in results.items()}}, f, indent=2)


if __name__ == "__main__":
    main()
