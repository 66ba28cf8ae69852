"""kerasll's IBP and CROWN margins against auto_LiRPA's (Verified-Intelligence/auto_LiRPA), network by network.

Each Keras network is read as kerasll's chain (`kerasll.verification.network.chain`: explicit affine maps and
ReLUs) and the same chain is built in PyTorch (`nn.Linear` with those float64 matrices, `nn.ReLU`): the same
function. Both libraries bound the margins z_y − z_j (auto_LiRPA's specification matrix C) over the L∞ box
∩ [0, 1] with IBP (auto_LiRPA: method "IBP") and CROWN (method "backward", options
`compare_crown_with_ibp=True`, `sparse_intermediate_bounds=False`: kerasll's definition); the table gives the
largest difference and the seconds each took. Networks with max-pooling are left out: the two libraries relax a
max-pool differently (kerasll: docs/verification.md), so their bounds are not meant to agree there.

    pip install git+https://github.com/Verified-Intelligence/auto_LiRPA   # or a checkout: pip install --no-deps .
    OMP_WAIT_POLICY=PASSIVE python scripts/compare_lirpa.py --images 20 --json docs/data/lirpa-parity.json

Networks: two random MLPs and a random CNN (two convolutions), and the zoo entry `--entry` (default
fmnist-mlp-ibp) when it is installed, on the embedded Fashion-MNIST test images.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: 2 threads ran 13× slower without it

import numpy as np


def random_networks():
    import keras

    out = {}
    keras.utils.set_random_seed(0)
    out["mlp 784-64-32-10"] = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    keras.utils.set_random_seed(1)
    out["mlp 784-100-100-100-10"] = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(), *[keras.layers.Dense(100, activation="relu")
                                                             for _ in range(3)], keras.layers.Dense(10)])
    keras.utils.set_random_seed(2)
    out["cnn conv8-conv8-dense32"] = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 4, strides=2, activation="relu"),
        keras.layers.Conv2D(8, 4, strides=2, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    return out


def compare(name, model, x, y, eps):
    from devtools.lirpa import lirpa_margins, torch_chain
    from kerasll.verification.bounds import crown_margins, ibp_margins
    from kerasll.verification.network import chain

    steps, _ = chain(model)
    net = torch_chain(steps)
    if net is None:
        return None
    classes = steps[-1].weight.shape[0]
    theirs, their_seconds, keep = lirpa_margins(net, x, y, eps, classes)
    row = {"network": name, "images": len(x), "eps": eps}
    for method, fn in (("ibp", ibp_margins), ("crown", crown_margins)):
        start = time.perf_counter()
        ours = fn(steps, x, y, eps)
        row[f"{method}_seconds"] = time.perf_counter() - start
        ours = ours[keep].reshape(len(x), classes - 1)
        row[f"{method}_max_difference"] = float(np.abs(ours - theirs[method]).max())
        row[f"{method}_margin_scale"] = float(np.abs(theirs[method]).max())
        row[f"lirpa_{method}_seconds"] = their_seconds[method]
    return row


def table(rows):
    head = ("| network | images | ε | IBP: largest difference | CROWN: largest difference | IBP s (kerasll / "
            "auto_LiRPA) | CROWN s (kerasll / auto_LiRPA) |\n|---|---|---|---|---|---|---|")
    lines = [f"| {r['network']} | {r['images']} | {r['eps']:g} | {r['ibp_max_difference']:.1e} (of "
             f"{r['ibp_margin_scale']:.3g}) | {r['crown_max_difference']:.1e} (of {r['crown_margin_scale']:.3g}) | "
             f"{r['ibp_seconds']:.3f} / {r['lirpa_ibp_seconds']:.3f} | {r['crown_seconds']:.2f} / "
             f"{r['lirpa_crown_seconds']:.2f} |" for r in rows]
    return "\n".join([head, *lines])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--entry", default="fmnist-mlp-ibp")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import kerasll as kl
    from kerasll.zoo.store import Zoo

    x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
    x, y = x[:args.images], np.asarray(y[:args.images])
    networks = random_networks()
    zoo = Zoo()
    if args.entry in zoo.names():
        networks[args.entry] = kl.load_model(str(zoo.get(args.entry).model_path), compile=False)
    rows = []
    for name, model in networks.items():
        for eps in args.eps:
            row = compare(name, model, x, y, eps)
            if row is not None:
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"command": "python scripts/compare_lirpa.py " + " ".join(argv or sys.argv[1:]),
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
