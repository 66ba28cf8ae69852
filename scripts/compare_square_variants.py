"""Square's variants on the images AutoAttack's white-box stages left robust: how many each breaks.

    python scripts/compare_square_variants.py fmnist-lenet-at --images 1000 --seed 0

APGD-CE, APGD-T and FAB-T run first (as in AutoAttack standard); then, on the images still
robust, Square with windows shared by the batch (the reference's) or drawn per image (strong),
each with AutoAttack's unscaled window schedule and with the schedule stretched over the queries.
"""

import argparse
import time

import numpy as np

from kerasll import load_dataset
from kerasll.attacks.driver import predict_classes
from kerasll.attacks.square import square_attack
from kerasll.evaluation import attack_settings
from kerasll.evaluation.core import autoattack_images, robust_record
from kerasll.zoo.store import REPO_ZOO, Zoo

VARIANTS = (("reference", False), ("strong", False), ("reference", True), ("strong", True))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="shipped zoo entries")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], 25 / 255
    zoo = Zoo(REPO_ZOO, bundled=False)
    for name in args.names:
        model = zoo.get(name).load_model()
        settings = attack_settings(None, "autoattack", eps, attacks=["apgd-ce", "apgd-t", "fab-t"], seed=args.seed)
        _, records, _ = autoattack_images(model, x, y, settings)
        ids = np.flatnonzero(records[robust_record("fab-t")])
        print(f"{name}: {len(ids)} of {args.images} images robust after APGD-CE, APGD-T and FAB-T")
        for variant, rescale in VARIANTS:
            t0 = time.perf_counter()
            adv = square_attack(model, x[ids], y[ids], eps, seed=args.seed, keys=ids, variant=variant,
                                rescale_schedule=rescale)
            broken = int(np.sum(predict_classes(model, np.asarray(adv)) != y[ids]))
            print(f"  Square {variant}, schedule {'stretched' if rescale else 'unscaled'}: broke {broken} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
