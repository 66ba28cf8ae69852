"""Calibrate the `square` flag: AutoAttack standard on the shipped LeNets and on masked copies of them.

    python scripts/calibrate_square_flag.py --images 1000 --json docs/data/square-flag.json --docs

Clean side: every shipped entry. Masked side: the AT and no-defense LeNets behind each masking of
`kerasll.dev.masked.calibration_models` (stop-gradient, quantised input, binarised input, saturated
softmax, noisy gradient). For each: the images the white-box stages left robust, how many Square broke,
the binomial p of `checks.check_square`, and whether the flag fires. Results are saved after every
model; a re-run skips those the JSON holds from the same attack revision. --docs writes
docs/evaluation.md's block.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from kerasll import load_dataset
from kerasll._files import replace_block, write_json
from kerasll.attacks import checks
from kerasll.attacks.registry import ATTACKS_REVISION, plan_of
from kerasll.dev.masked import calibration_models
from kerasll.dev.paper.autoattack import square_flag_section
from kerasll.evaluation.core import autoattack_images, summarize
from kerasll.stats import binomial_tail
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "data" / "square-flag.json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/evaluation.md")
    args = parser.parse_args()
    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], 25 / 255
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    models, _ = calibration_models(zoo)
    for name, (kind, build, _) in models.items():
        key = f"{name}/n{args.images}/seed{args.seed}"
        if done.get(key, {}).get("attacks_revision") == ATTACKS_REVISION:
            continue  # computed by the attack code of today; a row of an older revision is recomputed
        t0 = time.perf_counter()
        model = build()
        _, records, _ = autoattack_images(model, x, y, eps, seed=args.seed, batch_size=args.batch_size)
        records |= checks.image_checks(model, x, y, eps, "linf", args.seed, order=True, batch_size=args.batch_size)
        before, after = records["robust:fab-t"], records["robust:square"]
        broken, n = int(np.sum(before & ~after)), int(before.sum())
        flags = summarize(records, plan_of("standard"), version="standard")["flags"]
        done[key] = {"model": name, "kind": kind, "images": args.images, "seed": args.seed,
                     "clean": float(records["correct"].mean()), "robust_before_square": n, "square_broke": broken,
                     "p_value": binomial_tail(broken, n, checks.SQUARE_SHARE),
                     "fires": any(f.code == "square" for f in flags), "flags": [f.code for f in flags],
                     "robust": float(records["robust"].mean()), "seconds": time.perf_counter() - t0,
                     "attacks_revision": ATTACKS_REVISION}
        write_json(args.json, done)
        print(f"{name}: Square broke {broken} of {n} ({'fires' if done[key]['fires'] else 'quiet'})", flush=True)
    if args.docs:
        command = f"python scripts/calibrate_square_flag.py --images {args.images}"
        replace_block(ROOT / "docs" / "evaluation.md", "square-flag", "\n".join(square_flag_section(done, command)))


if __name__ == "__main__":
    main()
