"""kerasll's APGD-CE beside ART's AutoProjectedGradientDescent and foolbox's LinfPGD.

Same shipped model, same test images, same ε and number of steps, one restart.
Each attack is warmed up on a few images first (graph tracing is not timed), then
timed on the evaluation set; robust accuracy is measured by the same Keras model
on each attack's output. Needs the optional peers: `pip install -e ".[bench]"`.

    python scripts/benchmark_attacks.py --entry fmnist-lenet-amsreg --images 1000 --steps 100
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def shim_numpy():
    """eagerpy (foolbox's dependency) still calls np.find_common_type, removed in NumPy 2."""
    if not hasattr(np, "find_common_type"):
        np.find_common_type = lambda array_types, scalar_types: np.result_type(*array_types, *scalar_types)


def run_kerasll(model, x, y, eps, steps, batch_size):
    import kerasll as kl

    return kl.apgd(model, x, y, eps, steps=steps, loss="ce", seed=0, batch_size=batch_size).numpy()


def run_art(model, x, y, eps, steps, batch_size):
    import tensorflow as tf
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    clf = TensorFlowV2Classifier(model=model, nb_classes=10, input_shape=x.shape[1:], clip_values=(0.0, 1.0),
                                 loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    attack = AutoProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=steps,
                                          targeted=False, nb_random_init=1, batch_size=batch_size,
                                          loss_type="cross_entropy", verbose=False)
    return attack.generate(x=x, y=np.eye(10, dtype=np.float32)[y])


def run_foolbox(model, x, y, eps, steps, batch_size):
    import foolbox as fb
    import tensorflow as tf

    fmodel = fb.TensorFlowModel(model, bounds=(0, 1))
    attack = fb.attacks.LinfPGD(steps=steps, rel_stepsize=2.5 / steps, random_start=True)
    out = []
    for i in range(0, len(x), batch_size):
        _, adv, _ = attack(fmodel, tf.constant(x[i:i + batch_size]), tf.constant(y[i:i + batch_size].astype(np.int64)),
                           epsilons=eps)
        out.append(adv.numpy())
    return np.concatenate(out)


RUNNERS = {"kerasll APGD-CE": run_kerasll, "ART AutoPGD (CE)": run_art, "foolbox LinfPGD": run_foolbox}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entry", default="fmnist-lenet-amsreg", help="a bundled zoo entry")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--eps", type=float, default=25 / 255)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds Python, NumPy and TensorFlow before each timed attack: ART's and foolbox's random "
                             "starts repeat (kerasll's APGD takes its own seed)")
    args = parser.parse_args()
    shim_numpy()

    import keras

    import kerasll as kl
    from kerasll.evaluation import accuracy

    model = keras.saving.load_model(ROOT / "zoo" / args.entry / "model.keras").classifier
    x, y = kl.load_dataset("fashion_mnist", "test")
    x, y = x[:args.images], y[:args.images].astype(np.int64)
    rows = {}
    for name, run in RUNNERS.items():
        run(model, x[:20], y[:20], args.eps, 2, 20)  # warm-up: tracing is not timed
        keras.utils.set_random_seed(args.seed)
        start = time.perf_counter()
        adv = run(model, x, y, args.eps, args.steps, args.batch_size)
        seconds = time.perf_counter() - start
        size = float(np.abs(adv - x).max())
        rows[name] = {"robust_accuracy": accuracy(model, adv, y), "seconds": round(seconds, 2),
                      "max_linf": size}
        print(f"{name:<18} robust {100 * rows[name]['robust_accuracy']:6.2f}%  {seconds:7.1f} s  "
              f"max |δ| {size * 255:.2f}/255", flush=True)
    ours = rows["kerasll APGD-CE"]
    peers = {k: v for k, v in rows.items() if k != "kerasll APGD-CE"}
    strongest = min(v["robust_accuracy"] for v in peers.values())
    print(f"\nclean accuracy {100 * accuracy(model, x, y):.2f}% on {len(x)} images, ε = {args.eps * 255:g}/255, "
          f"{args.steps} steps")
    print(f"kerasll vs the strongest peer: {100 * (ours['robust_accuracy'] - strongest):+.2f} points "
          f"({'at least as strong' if ours['robust_accuracy'] <= strongest + 0.005 else 'WEAKER'} within 0.5)")
    for k, v in peers.items():
        print(f"time ratio {k} / kerasll: {v['seconds'] / ours['seconds']:.2f}×")
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "results": rows},
                                        indent=2))


if __name__ == "__main__":
    main()
