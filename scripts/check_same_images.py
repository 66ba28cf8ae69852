"""One set of images, one answer: the same test images as a shuffled .npz and as an image folder.

Writes the first `--images` Fashion-MNIST test images as a .npz in a random order and as a folder of PNGs
(one subfolder per class, which kerasll reads back in class order), runs `kerasll eval MODEL --attack
autoattack` on both, and compares the results and the per-image records (matched by content).

    python scripts/check_same_images.py --images 500
"""

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "zoo" / "fmnist-lenet-at" / "model.keras"))
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    import keras

    from kerasll import load_dataset
    from kerasll.attacks.noise import image_keys
    from kerasll.datasets.sources import load_data

    x, y = load_dataset("fashion_mnist", "test")
    x, y = np.round(x[:args.images] * 255).astype(np.uint8), y[:args.images]
    work = Path(tempfile.mkdtemp(prefix="kerasll-same-"))
    order = np.random.default_rng(0).permutation(len(x))
    np.savez(work / "shuffled.npz", x=x[order], y=y[order])
    for i, (image, label) in enumerate(zip(x, y)):
        (work / "folder" / str(label)).mkdir(parents=True, exist_ok=True)
        keras.utils.save_img(work / "folder" / str(label) / f"{i:04d}.png", image, scale=False)
    out = {}
    for name, data in (("npz", work / "shuffled.npz"), ("folder", work / "folder")):
        subprocess.run(["kerasll", "eval", args.model, "--data", str(data), "--eps", "25/255", "--attack", "autoattack",
                        "--json", str(work / f"{name}.json")], check=True, capture_output=True)
        result = json.loads((work / f"{name}.json").read_text())["attack"]
        records = dict(np.load(next((work / f"{name}.json.records").glob("*/*/records.npz"))))
        records.pop("__seconds__")
        images = load_data(data).x
        out[name] = result, records, {k: i for i, k in enumerate(image_keys(images))}
    (a, ra, ka), (b, rb, kb) = out["npz"], out["folder"]
    back = np.array([kb[k] for k in sorted(ka, key=ka.get)])  # each npz row's row in the folder run
    fields = ("clean_accuracy", "robust_accuracy", "by_attack", "noise_accuracy", "flags")
    same = {f: a[f] == b[f] for f in fields}
    records_same = all(np.array_equal(ra[k], rb[k][back]) for k in ra)
    print(f"{args.images} images, AutoAttack standard: npz {100 * a['robust_accuracy']:.2f}%, folder "
          f"{100 * b['robust_accuracy']:.2f}%; identical fields: {same}; identical per-image records "
          f"({len(ra)} arrays): {records_same}")


if __name__ == "__main__":
    main()
