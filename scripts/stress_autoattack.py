"""Follow AutoAttack's `square` flag: attack the images AutoAttack left robust harder, and see what falls.

When Square breaks images that every gradient attack left robust, the gradients
may mislead (gradient masking) and the AutoAttack number is an upper bound. This
script takes the first --images test images, runs AutoAttack standard on them,
and then, on the images still robust, runs the stronger follow-ups the flag
suggests: APGD-CE and APGD-DLR with 5 restarts each (fresh random starts), and
Square with 4× the queries from two new seeds. An image counts as robust only
if it survives all of them. The same protocol on every entry named, so models
can be compared; results go to --json.

    python scripts/stress_autoattack.py fmnist-lenet-at fmnist-lenet-adflat-at-difference \\
        --zoo runs/fmnist30 --images 2000 --json docs/data/stress-autoattack.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

import kerasll as kl
from kerasll.attacks.registry import run_attack
from kerasll.zoo.store import Zoo

FOLLOW_UPS = [("apgd-ce ×5 restarts", "apgd-ce", {"restarts": 5}, 1),
              ("apgd-dlr ×5 restarts", "apgd-dlr", {"restarts": 5}, 1),
              ("square 20,000 queries, seed 1", "square", {"queries": 20_000}, 1),
              ("square 20,000 queries, seed 2", "square", {"queries": 20_000}, 2)]


def stress(model, x, y, eps, batch_size, log):
    start = time.perf_counter()
    base = kl.autoattack(model, x, y, eps, seed=0, run_checks=False, context=kl.Context(batch_size=batch_size))
    robust = base.robust.copy()  # exactly the model's accuracy on base.x_adv
    row = {"images": len(x), "clean": base.clean_accuracy, "autoattack": float(robust.mean()),
           "flags": [f.code for f in base.flags], "after": {}}
    log(f"  AutoAttack standard: {100 * row['autoattack']:.2f}%")
    for label, name, settings, seed in FOLLOW_UPS:
        ids = np.flatnonzero(robust)
        if len(ids):
            adv = np.asarray(run_attack(name, model, x[ids], y[ids], eps, seed=seed, keys=ids,
                                        batch_size=batch_size, **settings))
            robust[ids[np.argmax(model.predict(adv, batch_size=batch_size, verbose=0), -1) != y[ids]]] = False
        row["after"][label] = float(robust.mean())
        log(f"  + {label}: {100 * row['after'][label]:.2f}%")
    row["stressed"] = float(robust.mean())
    row["drop_points"] = 100 * (row["autoattack"] - row["stressed"])
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="+")
    parser.add_argument("--zoo", type=Path)
    parser.add_argument("--images", type=int, default=2000, help="the first N test images")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--data-dir")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    zoo = Zoo(args.zoo)
    results = {}
    for name in args.entries:
        entry = zoo.get(name)
        dataset = entry.metadata()["dataset"]
        x, y = kl.load_dataset(dataset, "test", data_dir=args.data_dir)
        x, y = x[:args.images], np.asarray(y[:args.images])
        eps = kl.dataset_info(dataset).eval_eps
        print(f"{name} (first {len(x)} test images, L∞ ε = {eps * 255:g}/255)", flush=True)
        results[name] = stress(entry.load_model(), x, y, eps, args.batch_size, lambda m: print(m, flush=True))
        r = results[name]
        print(f"  robust after every follow-up: {100 * r['stressed']:.2f}% "
              f"({r['drop_points']:.2f} points below AutoAttack; {r['seconds']:.0f} s)", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": "python scripts/stress_autoattack.py " + " ".join(args.entries)
                                         + f" --images {args.images}", "follow_ups": [f[0] for f in FOLLOW_UPS],
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
