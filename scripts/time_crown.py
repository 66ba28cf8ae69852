"""CROWN's cost against IBP's on a LeNet (kerasll), and auto_LiRPA's on the same network and images.

kerasll's IBP and CROWN (`kl.verify`'s bounds, float64) on the first N test images of a zoo entry, and
auto_LiRPA's IBP and CROWN (method "backward", its default options) on the same LeNet built in PyTorch with
Conv2d and MaxPool2d layers (scripts/devtools/lirpa.py: the Keras weights copied). The two libraries relax a
max-pool differently, so their bounds are not meant to be equal; the verified counts are printed beside the
times. Reading the Keras layers as explicit maps (`network_of`, once per model) is timed apart. One process, one
thing at a time.

    PYTHONPATH=<auto_LiRPA> OMP_WAIT_POLICY=PASSIVE python scripts/time_crown.py --entry fmnist-lenet-at --images 1000 --eps 0.1
    python scripts/time_crown.py --entry fmnist-lenet-at --images 1000 --eps 0.1 --no-lirpa
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: 2 threads ran 13× slower without it

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="fmnist-lenet-at")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--source", default="auto")
    parser.add_argument("--no-lirpa", action="store_true", help="kerasll alone (auto_LiRPA not installed)")
    args = parser.parse_args(argv)
    import kerasll as kl
    from kerasll.zoo.store import Zoo

    model = kl.load_model(str(Zoo().get(args.entry).model_path), compile=False)
    x, y = kl.load_dataset("fashion_mnist", "test", source=args.source)
    x, y = np.asarray(x[:args.images]), np.asarray(y[:args.images])
    row = {"entry": args.entry, "images": len(x), "eps": args.eps}
    from kerasll.verification.verify import network_of

    start = time.perf_counter()
    network_of(model)  # the layers read as explicit maps, once: both methods then start from them
    row["kerasll_read_seconds"] = time.perf_counter() - start
    for method in ("ibp", "crown"):
        start = time.perf_counter()
        result = kl.verify(model, x, y, args.eps, method=method, batch_size=None)
        row[f"kerasll_{method}_seconds"] = time.perf_counter() - start
        row[f"kerasll_{method}_verified"] = result.verified_accuracy
    row["kerasll_crown_over_ibp"] = row["kerasll_crown_seconds"] / row["kerasll_ibp_seconds"]
    if not args.no_lirpa:
        sys.path.insert(0, os.path.dirname(__file__))
        from devtools.lirpa import lirpa_verified, torch_lenet

        net = torch_lenet(model)
        correct = np.asarray(model.predict(x, verbose=0)).argmax(-1) == y
        for ours, method in (("ibp", "IBP"), ("crown", "backward")):
            lower, seconds = lirpa_verified(net, x, y, args.eps, 10, method)
            row[f"lirpa_{method.lower()}_seconds"] = seconds
            row[f"lirpa_{ours}_verified"] = float(np.mean((lower.min(-1) > 0) & correct))
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
