"""Calibrate the `square` flag: AutoAttack standard on the shipped LeNets and on masked copies of them.

    python scripts/calibrate_square_flag.py --images 1000 --json docs/data/square-flag.json --docs

Clean side: every shipped entry. Masked side: the AT and no-defense LeNets behind each masking of
`devtools.masked.calibration_models` (stop-gradient, quantised input, binarised input, saturated
softmax, noisy gradient). For each: the images the white-box stages left robust, how many Square broke,
the binomial p of `checks.check_square`, and whether the flag fires. Results are saved after every
model; a re-run skips those the JSON holds from the same attack revision. --docs writes
docs/evaluation.md's block.
"""

import json
import time
from pathlib import Path

import numpy as np

from kerasll import load_dataset
from devtools.files import replace_block
from kerasll._files import write_json
from kerasll.attacks import checks
from kerasll.attacks.attack import Runtime
from kerasll.attacks.registry import ATTACKS_REVISION, plan_of
from devtools.masked import calibration_models, calibration_parser, is_current
from devtools.autoattack_docs import square_flag_section
from kerasll.evaluation import Context, attack_settings
from kerasll.evaluation.core import autoattack_images, robust_record, summarize
from kerasll.stats import binomial_tail
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = calibration_parser(__doc__, images=1000, batch_size=1000,
                                json_path=ROOT / "docs" / "data" / "square-flag.json")
    args = parser.parse_args()
    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], 25 / 255
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    models, _ = calibration_models(zoo)
    for name, (kind, build, _) in models.items():
        key = f"{name}/n{args.images}/seed{args.seed}"
        if is_current(done.get(key)):
            continue
        t0 = time.perf_counter()
        model = build()
        _, records, _ = autoattack_images(model, x, y, attack_settings(None, "autoattack", eps, seed=args.seed),
                                          Context(batch_size=args.batch_size))
        records |= checks.image_checks(model, x, y, eps, "linf", args.seed, order=True,
                                        runtime=Runtime(batch_size=args.batch_size))
        before, after = records[robust_record("fab-t")], records[robust_record("square")]
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
