"""kerasll's `certify` beside the authors' randomized smoothing (locuslab/smoothing, PyTorch), image by image.

    pip install torch==2.13.0 statsmodels scipy       # CPU torch first: a plain `torch` pulls CUDA wheels
    git clone https://github.com/locuslab/smoothing ../smoothing
    python scripts/benchmark_smoothing_reference.py --source ../smoothing --images 500 --n 10000 \
        --json docs/data/reference-smoothing.json --docs

The authors' `Smooth` class (code/core.py) runs in a child process under KERAS_BACKEND=torch on the
entry's classifier, rebuilt by Keras as a torch module, on the same images and settings. Two lines of
core.py are adapted before it runs, nothing else: its noise is drawn on 'cuda' (here: on the input's
device) and it imports SciPy's removed `binom_test` (here: `binomtest(...).pvalue`, used by PREDICT
only). Both sides draw their own noise, so they agree only up to sampling noise: kerasll is run at two
seeds, and the seed-to-seed difference is the yardstick for the kerasll-to-reference one. Times of
both sides come from the same run.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ADAPTED = {  # the two lines of core.py that cannot run here, and what they become
    "from scipy.stats import norm, binom_test":
        "from scipy.stats import norm, binomtest\nbinom_test = lambda k, n, p: binomtest(k, n, p).pvalue",
    "noise = torch.randn_like(batch, device='cuda') * self.sigma":
        "noise = torch.randn_like(batch, device=batch.device) * self.sigma",
}


def load_reference(source):
    """The authors' core.py with the two adapted lines, as a module; refuses a file they do not match."""
    import types

    text = (Path(source) / "code" / "core.py").read_text()
    for old, new in ADAPTED.items():
        if text.count(old) != 1:
            sys.exit(f"{source}/code/core.py does not contain {old!r} once: not the expected revision")
        text = text.replace(old, new)
    module = types.ModuleType("smoothing_core")
    exec(compile(text, "locuslab/smoothing/code/core.py (adapted)", "exec"), module.__dict__)
    return module


def parts(args):
    """In the torch process: where the authors' time goes, per 1,000 noisy copies of one image: torch.randn_like
    (their noise) and the port's forward pass, each timed alone (median of 20 after a warm-up)."""
    import keras
    import torch

    net = keras.saving.load_model(args.child[2], compile=False)
    batch = torch.tensor(np.load(args.child[0])["x"][:1]).repeat((args.batch_size, 1, 1, 1))

    def median(fn):
        fn()
        times = []
        for _ in range(20):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    with torch.no_grad():
        out = {"noise_s": median(lambda: torch.randn_like(batch)), "forward_s": median(lambda: net(batch))}
    np.savez(args.child[1], **out)


def child(args):
    """In the torch process: the authors' CERTIFY on every image; (class, radius) per image and seconds."""
    import keras
    import torch

    torch.manual_seed(args.seed)
    core = load_reference(args.source)
    data = np.load(args.child[0])
    net = keras.saving.load_model(args.child[2], compile=False)
    x = torch.tensor(data["x"])  # NHWC, as the Keras model takes it: Smooth only repeats the image
    smooth = core.Smooth(net, int(data["classes"]), float(data["sigma"]))
    prediction, radius = np.zeros(len(x), np.int64), np.zeros(len(x))
    start = time.perf_counter()
    for i in range(len(x)):
        prediction[i], radius[i] = smooth.certify(x[i], args.n0, args.n, args.alpha, args.batch_size)
    np.savez(args.child[1], prediction=prediction, radius=radius, seconds=time.perf_counter() - start)


def zoo_model(name):
    from kerasll.zoo.store import REPO_ZOO, Zoo

    model = Zoo(REPO_ZOO, bundled=False).get(name).load_model()
    return getattr(model, "classifier", model)


def time_parts(args, classifier, x):
    """Print seconds per 1,000 noisy copies: the authors' noise and forward (torch), and kerasll's compiled forward."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        classifier.save(f"{tmp}/port.keras")
        np.savez(f"{tmp}/in.npz", x=x)
        subprocess.run([sys.executable, __file__, "--child", f"{tmp}/in.npz", f"{tmp}/out.npz", f"{tmp}/port.keras",
                        "--source", args.source, "--parts", *settings_args(args)],
                       env={**os.environ, "KERAS_BACKEND": "torch", "OMP_WAIT_POLICY": "PASSIVE"}, check=True)
        theirs = dict(np.load(f"{tmp}/out.npz"))
    batch = tf.constant(np.repeat(x[:1], args.batch_size, 0))
    forward = tf.function(lambda b: classifier(b, training=False))
    forward(batch)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        forward(batch).numpy()
        times.append(time.perf_counter() - start)
    print(json.dumps({"authors_noise_s": float(theirs["noise_s"]), "authors_forward_s": float(theirs["forward_s"]),
                      "kerasll_forward_s": float(np.median(times)), "batch": args.batch_size}))


def reference(args, classifier, x, y):
    """The authors' CERTIFY in a torch child process: (their per-image answers as a `CertifyResult`, seconds)."""
    from kerasll.dev.paper.certified import as_result

    with tempfile.TemporaryDirectory() as tmp:
        classifier.save(f"{tmp}/port.keras")
        np.savez(f"{tmp}/in.npz", x=x, y=y, sigma=args.sigma, classes=int(classifier.output_shape[-1]))
        subprocess.run([sys.executable, __file__, "--child", f"{tmp}/in.npz", f"{tmp}/out.npz", f"{tmp}/port.keras",
                        "--source", args.source, *settings_args(args)],
                       env={**os.environ, "KERAS_BACKEND": "torch", "OMP_WAIT_POLICY": "PASSIVE"}, check=True)
        out = dict(np.load(f"{tmp}/out.npz"))
    return as_result(out["prediction"], out["radius"], y), float(out["seconds"])


def kernels_of(environ):
    """The CPU kernels of this run in words: TensorFlow's oneDNN setting and the instruction-set cap (which
    PyTorch's oneDNN obeys too)."""
    library = "TensorFlow oneDNN" if environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else "TensorFlow default kernels"
    return f"{library}, {environ.get('ONEDNN_MAX_CPU_ISA', 'the CPU' + chr(39) + 's best')} code"


def settings_args(args):
    return ["--sigma", str(args.sigma), "--n0", str(args.n0), "--n", str(args.n), "--alpha", str(args.alpha),
            "--batch-size", str(args.batch_size), "--seed", str(args.seed)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=["fmnist-lenet-gaussian", "fmnist-lenet-at"])
    parser.add_argument("--source", required=True, help="a locuslab/smoothing checkout")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "data" / "reference-smoothing.json")
    parser.add_argument("--docs", action="store_true", help="write the tables into docs/evaluation.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--parts", action="store_true", help="only time the authors' noise and forward pass apart, "
                        "and kerasll's forward pass, per 1,000 noisy copies")
    args = parser.parse_args()
    if args.child:
        return parts(args) if args.parts else child(args)
    from kerasll.numerics import use_onednn

    use_onednn()  # the kernels the `kerasll` command runs, before TensorFlow starts
    import kerasll as kl
    from kerasll.dev.machine import describe
    from kerasll._files import replace_block, write_json
    from kerasll.dev.paper.certified import agreement, reference_section, side
    from kerasll.zoo.store import REPO_ZOO, Zoo

    load_reference(args.source)  # fail early on an unexpected core.py
    if args.parts:
        return time_parts(args, zoo_model(args.names[0]), kl.load_dataset("fashion_mnist", "test")[0][:1])
    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = kl.load_dataset("fashion_mnist", "test")
    x, y = x[:args.images], y[:args.images]
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for name in args.names:
        model = zoo.get(name).load_model()
        classifier = getattr(model, "classifier", model)
        kernels = kernels_of(os.environ)
        key = f"{name}/n{args.images}/sigma{args.sigma:g}/samples{args.n}/{describe()}/{kernels}"
        theirs = reference(args, classifier, x, y)
        ours, t0 = [], time.perf_counter()
        for seed in (args.seed, args.seed + 1):
            r = kl.certify(classifier, x, y, args.sigma, args.n0, args.n, args.alpha, seed=seed,
                           batch_size=args.batch_size)
            ours.append((r, time.perf_counter() - t0))
            t0 = time.perf_counter()
        done[key] = {"entry": name, "images": args.images, "sigma": args.sigma, "n0": args.n0, "n": args.n,
                     "alpha": args.alpha, "ours": side(ours[0][0]), "ours_seed1": side(ours[1][0]),
                     "reference": side(theirs[0]), "seed_to_seed": agreement(ours[0][0], ours[1][0]),
                     "kerasll_to_reference": agreement(ours[0][0], theirs[0]),
                     "seconds": {"ours": ours[0][1], "theirs": theirs[1]},
                     "machine": describe(), "kernels": kernels,
                     "noisy_forwards_per_second": {"ours": args.images * (args.n0 + args.n) / ours[0][1],
                                                   "theirs": args.images * (args.n0 + args.n) / theirs[1]}}
        write_json(args.json, done)
        print(name, json.dumps(done[key]), flush=True)
    if args.docs:
        command = " ".join(["python scripts/benchmark_smoothing_reference.py --source SMOOTHING_CHECKOUT", *args.names,
                            f"--images {args.images} --n {args.n} --sigma {args.sigma:g}", "--docs"])
        replace_block(ROOT / "docs" / "evaluation.md", "reference-smoothing", "\n".join(reference_section(done, command)))


if __name__ == "__main__":
    main()
