"""kerasll's AutoAttack beside the reference (fra31/auto-attack, PyTorch), stage by stage and image by image.

    pip install torch==2.13.0 -e ".[reference]"    # CPU torch first: a plain `torch` pulls CUDA wheels
    python scripts/benchmark_reference.py --images 1000 --seeds 0,1,2,3,4 --json docs/data/reference-autoattack.json

The reference runs in a child process under KERAS_BACKEND=torch on the entry's classifier, rebuilt
by Keras as a torch module (`devtools.reference`), from the PyPI package pyautoattack (its attack
files equal fra31/auto-attack at a392200 but for imports) or from a checkout (--source). The port is
checked first: logits and input gradients must agree. --norm l1 compares L1 AutoAttack
(`python scripts/benchmark_reference.py --norm l1 --images 500 --seeds 0,1,2,3,4 --docs`). Results are saved after every
(entry, seed), the reference's robust flags image by image among them, and a re-run skips what the
JSON already holds; --refresh-ours re-runs only kerasll's side (after a change to an attack) against
the stored reference flags. --docs writes docs/evaluation.md's block.
"""

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="zoo entries (default: every shipped entry)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--source", help="a fra31/auto-attack checkout instead of pyautoattack")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "data" / "reference-autoattack.json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/evaluation.md")
    parser.add_argument("--refresh-ours", action="store_true",
                        help="re-run kerasll's side of stored runs against their stored reference flags")
    parser.add_argument("--norm", default="linf", choices=["linf", "l1"],
                        help="the threat model: L∞ at ε = 25/255, or L1 at the data set's preset (10)")
    args = parser.parse_args()
    from kerasll.numerics import use_onednn

    use_onednn()  # the kernels the `kerasll` command runs, before TensorFlow starts
    from kerasll import load_dataset
    from devtools.files import replace_block
    from kerasll._files import write_json
    from kerasll.evaluation import Context, attack_settings
    from kerasll.evaluation.core import autoattack_images, robust_record
    from devtools.parity import STAGES, compare_stages, unpack_flags
    from devtools.autoattack_docs import reference_section
    from devtools.reference import run_reference
    from kerasll.datasets.registry import dataset_info
    from kerasll.zoo.metadata import git_commit
    from kerasll.zoo.store import REPO_ZOO, Zoo

    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], dataset_info("fashion_mnist").preset_eps(args.norm)
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    revision = git_commit()
    for name in args.names or [e.name for e in zoo.complete_entries()]:
        model = zoo.get(name).load_model()
        classifier = getattr(model, "classifier", model)
        for seed in [int(s) for s in args.seeds.split(",")]:
            key = f"{name}/n{args.images}/seed{seed}" + ("" if args.norm == "linf" else f"/{args.norm}")
            run = done.get(key, {})
            if "reference" in run and not args.refresh_ours:
                continue
            if "reference" not in run:  # the reference's side, kept image by image so ours can be re-run alone
                run = {"entry": name, "seed": seed, "images": args.images, "norm": args.norm,
                       **run_reference(classifier, x, y, eps, seed, args.norm, args.batch_size, args.source)}
            theirs = {s: unpack_flags(run["reference"]["robust"][s], args.images) for s in STAGES}
            t0 = time.perf_counter()
            settings = attack_settings(None, "autoattack", eps, norm=args.norm, seed=seed)
            _, records, seconds = autoattack_images(classifier, x, y, settings, Context(batch_size=args.batch_size))
            rows = compare_stages({s: records[robust_record(s)] for s in STAGES}, theirs)
            run.update(revision=revision, stages=[vars(r) for r in rows])
            run["seconds"]["ours"], run["seconds_by_stage"]["ours"] = time.perf_counter() - t0, seconds
            done[key] = run
            write_json(args.json, done)
            print(name, seed, " ".join(f"{r.stage} {r.ours}/{r.theirs}" for r in rows),
                  f"{run['seconds']['ours']:.0f}s/{run['seconds']['theirs']:.0f}s", flush=True)
    if args.docs:
        command = " ".join(["python scripts/benchmark_reference.py", *args.names, f"--images {args.images}",
                            f"--seeds {args.seeds}", *([] if args.norm == "linf" else [f"--norm {args.norm}"])])
        runs = {k: r for k, r in done.items() if r.get("norm", "linf") == args.norm}
        block = "reference" if args.norm == "linf" else f"reference-{args.norm}"
        replace_block(ROOT / "docs" / "evaluation.md", block, "\n".join(reference_section(runs, command, args.norm)))


if __name__ == "__main__":
    main()
