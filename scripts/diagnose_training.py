"""Per-step loss of `kerasll train`'s own model, optimizer and data: how docs/method.md's ResNet18 numbers
were measured (divergence without a warm-up, training with one).

    python scripts/diagnose_training.py --defense amsreg --arch resnet18 --steps 12 --warmup-epochs 0 --keras-bn
    python scripts/diagnose_training.py --defense amsreg --arch resnet18 --steps 40 --warmup-epochs 1

`--keras-bn` builds ResNet18 with Keras's BatchNorm defaults (momentum 0.99, ε 1e-3), as before the fix.
"""

import argparse
import math
import time

import keras

from kerasll.architectures import resnet
from kerasll.datasets import load_dataset, make_pipeline
from kerasll.zoo.config import TrainConfig
from kerasll.zoo.training import build_trainable, compile_for


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defense", default="amsreg")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup-epochs", type=float, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--keras-bn", action="store_true")
    args = parser.parse_args()
    if args.keras_bn:
        resnet.BN_MOMENTUM, resnet.BN_EPSILON = 0.99, 1e-3
    x, y = load_dataset("fashion_mnist", "train", source="embedded")
    xt, yt = load_dataset("fashion_mnist", "test", source="embedded")
    steps_per_epoch = math.ceil(len(x) / 128)
    # The schedule of a default 200-epoch run (its LR drops come after 100 epochs); the first --steps of it.
    config = TrainConfig(arch=args.arch, defense=args.defense, lr=args.lr, warmup_epochs=args.warmup_epochs).resolved()
    keras.utils.set_random_seed(0)
    model = build_trainable(config)
    model(x[:1])
    compile_for(model, config, steps_per_epoch)
    print(f"{args.arch} {args.defense}: lr {config.lr}, warm-up {config.warmup_epochs} epoch(s) "
          f"({round(config.warmup_epochs * steps_per_epoch)} steps), BatchNorm momentum {resnet.BN_MOMENTUM}")

    class Steps(keras.callbacks.Callback):
        done = 0

        def on_train_batch_end(self, batch, logs=None):
            Steps.done += 1
            print(f"step {Steps.done:3d}", {k: float(f"{float(v):.4g}") for k, v in logs.items()}, flush=True)
            if Steps.done >= args.steps:
                self.model.stop_training = True

    t0 = time.perf_counter()
    model.fit(make_pipeline(x, y, config.batch_size, training=True, seed=0),
              epochs=math.ceil(args.steps / steps_per_epoch), verbose=0, callbacks=[Steps()])
    val = model.evaluate(make_pipeline(xt[:500], yt[:500], 250, training=False), verbose=0, return_dict=True)
    print("validation on 500 test images:", {k: float(f"{v:.4g}") for k, v in val.items()},
          f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
