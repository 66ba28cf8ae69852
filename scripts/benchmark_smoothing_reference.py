"""kerasll's `certify` beside the authors' randomized smoothing (locuslab/smoothing, PyTorch), image by image.

    pip install torch==2.13.0 statsmodels scipy       # CPU torch first: a plain `torch` pulls CUDA wheels
    git clone https://github.com/locuslab/smoothing ../smoothing
    python scripts/benchmark_smoothing_reference.py --source ../smoothing --images 500 --n 10000 \
        --json docs/data/reference-smoothing.json --docs

The authors' `Smooth` class runs in a torch child process on the entry's classifier
(`devtools.smoothing_reference`, which says which two lines of their core.py are adapted). Both sides
draw their own noise, so they agree only up to sampling noise: kerasll is run at two seeds, and the
seed-to-seed difference is the yardstick for the kerasll-to-reference one. Times of both sides come
from the same run. `--parts` times the authors' noise and forward pass apart, and
kerasll's forward pass, per 1,000 noisy copies.
"""

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    parser.add_argument("--parts", action="store_true", help="only time the authors' noise and forward pass apart, "
                        "and kerasll's forward pass, per 1,000 noisy copies")
    args = parser.parse_args()
    from kerasll.numerics import use_onednn

    use_onednn()  # the kernels the `kerasll` command runs, before TensorFlow starts
    import kerasll as kl
    from devtools.machine import describe
    from devtools.files import replace_block
    from kerasll._files import write_json
    from devtools.certified import agreement, reference_section, side
    from devtools.smoothing_reference import kernels_of, load_reference, run_reference, time_parts
    from kerasll.zoo.store import REPO_ZOO, Zoo

    load_reference(args.source)  # fail early on an unexpected core.py
    zoo = Zoo(REPO_ZOO, bundled=False)

    def classifier_of(name):
        model = zoo.get(name).load_model()
        return getattr(model, "classifier", model)

    settings = {"source": args.source, "seed": args.seed, "n0": args.n0, "n": args.n, "alpha": args.alpha,
                "batch_size": args.batch_size}
    x, y = kl.load_dataset("fashion_mnist", "test")
    if args.parts:
        return print(json.dumps(time_parts(classifier_of(args.names[0]), x[:1], settings)))
    x, y = x[:args.images], y[:args.images]
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    for name in args.names:
        classifier = classifier_of(name)
        kernels = kernels_of(os.environ)
        key = f"{name}/n{args.images}/sigma{args.sigma:g}/samples{args.n}/{describe()}/{kernels}"
        theirs = run_reference(classifier, x, y, args.sigma, settings)
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
