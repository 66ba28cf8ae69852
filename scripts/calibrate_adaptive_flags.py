"""Calibrate the `budget` and `transfer` flags: AutoAttack with both checks on the shipped LeNets and masked copies.

    python scripts/calibrate_adaptive_flags.py --images 500 --json docs/data/adaptive-flags.json --docs

Clean side: every shipped entry, with the no-defense LeNet as the transfer surrogate. Masked side: the AT
and no-defense LeNets behind each of `devtools.masked.MASKED`, with the unmasked LeNet as the surrogate
(the same network without the masking: what an adaptive attacker would try first). For each: the images
the plan left robust, how many twice the budget and the transfer broke, the binomial p of each check and
whether its flag fires. AutoAttack fast (APGD-CE, APGD-T): the budget check reruns APGD-T as it would in
the standard version. Results are saved after every model; a re-run skips those the JSON holds from the
same attack revision.
"""

import json
import time
from pathlib import Path

from kerasll import load_dataset
from devtools.files import replace_block
from kerasll._files import write_json
from kerasll.attacks import checks
from kerasll.attacks.registry import ATTACKS_REVISION
from devtools.masked import calibration_models, calibration_parser, is_current
from devtools.autoattack_docs import adaptive_flags_section
from kerasll.evaluation import Context, autoattack
from kerasll.stats import binomial_tail
from kerasll.zoo.store import REPO_ZOO, Zoo

ROOT = Path(__file__).resolve().parents[1]
SURROGATE = "fmnist-lenet-none"


def main():
    parser = calibration_parser(__doc__, images=500, batch_size=500,
                                json_path=ROOT / "docs" / "data" / "adaptive-flags.json")
    args = parser.parse_args()
    zoo = Zoo(REPO_ZOO, bundled=False)
    x, y = load_dataset("fashion_mnist", "test")
    x, y, eps = x[:args.images], y[:args.images], 25 / 255
    done = json.loads(args.json.read_text()) if args.json.is_file() else {}
    models, nets = calibration_models(zoo)
    for name, (kind, build, base) in models.items():
        surrogate = base or SURROGATE  # a masked model's: the same network unmasked
        key = f"{name}/n{args.images}/seed{args.seed}"
        if is_current(done.get(key)):
            continue
        t0 = time.perf_counter()
        result = autoattack(build(), x, y, eps, version="fast", seed=args.seed, check_budget=True,
                            transfer_from=nets[surrogate], context=Context(batch_size=args.batch_size))
        row = {"model": name, "kind": kind, "surrogate": surrogate, "images": args.images, "seed": args.seed,
               "clean": result.clean_accuracy, "robust": result.robust_accuracy,
               "flags": [f.code for f in result.flags], "seconds": time.perf_counter() - t0,
               "attacks_revision": ATTACKS_REVISION}
        for check, share in (("budget_check", checks.BUDGET_SHARE), ("transfer", checks.TRANSFER_SHARE)):
            found = result.adaptive[check]
            row[check] = found | {"p_value": binomial_tail(found["broken"], found["robust_before"], share)}
        done[key] = row
        write_json(args.json, done)
        print(f"{name}: budget broke {row['budget_check']['broken']}/{row['budget_check']['robust_before']}, "
              f"transfer {row['transfer']['broken']}/{row['transfer']['robust_before']}; flags {row['flags']}",
              flush=True)
    if args.docs:
        command = f"python scripts/calibrate_adaptive_flags.py --images {args.images}"
        replace_block(ROOT / "docs" / "evaluation.md", "adaptive-flags", "\n".join(adaptive_flags_section(done, command)))


if __name__ == "__main__":
    main()
