"""kerasll's AutoAttack beside the reference (fra31/auto-attack, PyTorch), stage by stage and image by image.

    pip install torch==2.13.0 -e ".[reference]"    # CPU torch first: a plain `torch` pulls CUDA wheels
    python scripts/benchmark_reference.py --images 1000 --seeds 0,1,2,3,4 --json docs/data/reference-autoattack.json

The reference runs in a child process under KERAS_BACKEND=torch on the entry's classifier, rebuilt
by Keras as a torch module (fed NCHW, as the reference expects), from the PyPI package pyautoattack
(its attack files equal fra31/auto-attack at a392200 but for imports) or from a checkout (--source).
The port is checked first: logits and input gradients must agree. Results are saved after every
(entry, seed), the reference's robust flags image by image among them, and a re-run skips what the
JSON already holds; --refresh-ours re-runs only kerasll's side (after a change to an attack) against
the stored reference flags. --docs writes docs/evaluation.md's block.
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


def child(args):
    """In the torch process: the port check, then the reference AutoAttack with per-stage robust flags."""
    import keras
    import torch

    if args.source:
        sys.path.insert(0, args.source)
    aa = __import__("autoattack" if args.source else "pyautoattack")
    state = sys.modules[aa.__name__ + ".state"].EvaluationState
    data = np.load(args.child[0])
    net = keras.saving.load_model(args.child[2], compile=False)

    class NCHW(torch.nn.Module):  # the reference's NCHW in, NHWC to the Keras model
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x.permute(0, 2, 3, 1))

    model = NCHW().eval()
    x = torch.tensor(data["x"]).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(data["y"]).long()
    probe = x[:200].clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(probe), y[:200], reduction="sum")
    (grad,) = torch.autograd.grad(loss, probe)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    flags, seconds, start = {}, {}, [time.perf_counter()]
    original = state.add_run_attack

    def add_run_attack(self, attack):  # the driver calls this after each attack: keep its robust flags
        flags[attack], seconds[attack] = self.robust_flags.cpu().numpy().copy(), time.perf_counter() - start[0]
        start[0] = time.perf_counter()
        original(self, attack)

    state.add_run_attack = add_run_attack
    adversary = aa.AutoAttack(model, norm="Linf", eps=float(data["eps"]), version="standard", seed=int(data["seed"]),
                              device="cpu")
    adversary.verbose = False
    start[0] = time.perf_counter()
    adversary.run_standard_evaluation(x, y, **{"bs" if args.source else "batch_size": args.batch_size})
    np.savez(args.child[1], logits=model(probe).detach().numpy(), grad=grad.permute(0, 2, 3, 1).numpy(),
             clean=clean.numpy(), **{f"robust:{k}": v for k, v in flags.items()},
             **{f"seconds:{k}": v for k, v in seconds.items()})


def reference(args, classifier, x, y, eps, seed):
    """The reference AutoAttack in a torch child process: the port check, its per-stage robust flags
    (packed) and seconds."""
    from kerasll.dev.parity import STAGES, fill_skipped, pack_flags, port_check

    with tempfile.TemporaryDirectory() as tmp:
        classifier.save(f"{tmp}/port.keras")
        np.savez(f"{tmp}/in.npz", x=x, y=y, eps=eps, seed=seed)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", f"{tmp}/in.npz", f"{tmp}/out.npz", f"{tmp}/port.keras",
                        "--batch-size", str(args.batch_size), *(["--source", args.source] if args.source else [])],
                       env={**os.environ, "KERAS_BACKEND": "torch", "OMP_WAIT_POLICY": "PASSIVE"}, check=True)
        wall = time.perf_counter() - t0
        ref = dict(np.load(f"{tmp}/out.npz"))
    flags, seconds = fill_skipped({k[7:]: v for k, v in ref.items() if k.startswith("robust:")},
                                  {k[8:]: float(v) for k, v in ref.items() if k.startswith("seconds:")}, ref["clean"])
    return {"port": port_check(classifier, x[:200], y[:200], ref["logits"], ref["grad"]),
            "reference": {"robust": {s: pack_flags(flags[s]) for s in STAGES}},
            "seconds": {"theirs": wall}, "seconds_by_stage": {"theirs": {s: seconds[s] for s in STAGES}}}


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
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from kerasll import load_dataset
    from kerasll._files import replace_block, write_json
    from kerasll.attacks.autoattack import autoattack_images
    from kerasll.dev.parity import STAGES, compare_stages, unpack_flags
    from kerasll.dev.paper.autoattack import reference_section
    from kerasll.zoo.metadata import git_commit
    from kerasll.zoo.store import REPO_ZOO, Zoo

    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], 25 / 255
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    revision = git_commit()
    for name in args.names or [e.name for e in zoo.complete_entries()]:
        model = zoo.get(name).load_model()
        classifier = getattr(model, "classifier", model)
        for seed in [int(s) for s in args.seeds.split(",")]:
            key = f"{name}/n{args.images}/seed{seed}"
            run = done.get(key, {})
            if "reference" in run and not args.refresh_ours:
                continue
            if "reference" not in run:  # the reference's side, kept image by image so ours can be re-run alone
                run = {"entry": name, "seed": seed, "images": args.images, **reference(args, classifier, x, y, eps, seed)}
            theirs = {s: unpack_flags(run["reference"]["robust"][s], args.images) for s in STAGES}
            t0 = time.perf_counter()
            _, records, seconds = autoattack_images(classifier, x, y, eps, seed=seed, batch_size=args.batch_size)
            rows = compare_stages({s: records[f"robust:{s}"] for s in STAGES}, theirs)
            run.update(revision=revision, stages=[vars(r) for r in rows])
            run["seconds"]["ours"], run["seconds_by_stage"]["ours"] = time.perf_counter() - t0, seconds
            done[key] = run
            write_json(args.json, done)
            print(name, seed, " ".join(f"{r.stage} {r.ours}/{r.theirs}" for r in rows),
                  f"{run['seconds']['ours']:.0f}s/{run['seconds']['theirs']:.0f}s", flush=True)
    if args.docs:
        command = " ".join(["python scripts/benchmark_reference.py", *args.names, f"--images {args.images}",
                            f"--seeds {args.seeds}"])
        replace_block(ROOT / "docs" / "evaluation.md", "reference", "\n".join(reference_section(done, command)))


if __name__ == "__main__":
    main()
