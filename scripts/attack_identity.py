"""Every attack's output on 120 images, as digests: run before and after a change that must not change what
the attacks find, and compare.

Runs each registered attack (at its registry defaults, through `run_attack`) under every norm it supports,
AutoAttack standard through `kl.autoattack`, and the public functions with non-default options, on the
first 120 embedded Fashion-MNIST test images and the shipped AT LeNet; records a SHA-256 of each
adversarial batch (float32 bytes) and its robust accuracy.

    python scripts/attack_identity.py --json docs/data/attack-identity.json     # record
    python scripts/attack_identity.py --check docs/data/attack-identity.json    # compare: exit 1 on a change

Digests are of this machine's kernels (`kerasll.numerics.pin_cpu_numerics` fixes them before TensorFlow
starts): compare runs from one machine.
"""

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from kerasll.numerics import pin_cpu_numerics

IMAGES = 120
BUDGETS = {"linf": 25 / 255, "l2": 1.5, "l1": 10.0}


def digest(adv):
    return hashlib.sha256(np.ascontiguousarray(np.asarray(adv, np.float32)).tobytes()).hexdigest()[:20]


def cases():
    """(label, fn(model, x, y) → adversarial images)."""
    import kerasll as kl
    from kerasll.attacks.registry import get_attack, list_attacks, run_attack

    out = []
    for name in list_attacks():
        for norm in get_attack(name).norms:
            settings = {"steps": 10, "step_size": BUDGETS[norm] / 4} if name == "pgd" else {}
            out.append((f"{name} {norm}", lambda m, x, y, name=name, norm=norm, s=settings: run_attack(
                name, m, x, y, BUDGETS[norm], norm, seed=0, batch_size=50, **s)))
    out += [
        ("kl.apgd dlr l2 steps 20 restarts 2", lambda m, x, y: kl.apgd(m, x, y, 1.5, norm="l2", loss="dlr", steps=20,
                                                                       restarts=2, seed=3, batch_size=64)),
        ("kl.apgd targeted 3 rho 0.5", lambda m, x, y: kl.apgd(m, x, y, 25 / 255, targeted=True, target_classes=3,
                                                               steps=15, rho=0.5, seed=1)),
        ("kl.apgd l1 large_reps off", lambda m, x, y: kl.apgd(m, x, y, 10.0, norm="l1", steps=20, large_reps=False,
                                                              seed=2)),
        ("kl.apgd eot 2", lambda m, x, y: kl.apgd(m, x, y, 25 / 255, steps=10, eot_iter=2, seed=0)),
        ("kl.fab untargeted l2", lambda m, x, y: kl.fab(m, x, y, 1.5, norm="l2", targeted=False, steps=20,
                                                        restarts=2, seed=4)),
        ("kl.fab targeted alpha eta beta", lambda m, x, y: kl.fab(m, x, y, 25 / 255, steps=20, target_classes=2,
                                                                  alpha_max=0.2, eta=1.1, beta=0.8, seed=0)),
        ("kl.square strong 600", lambda m, x, y: kl.square_attack(m, x, y, 25 / 255, queries=600, variant="strong",
                                                                  seed=5)),
        ("kl.square l2 p_init 0.3 rescaled", lambda m, x, y: kl.square_attack(m, x, y, 1.5, norm="l2", queries=600,
                                                                              p_init=0.3, rescale_schedule=True,
                                                                              seed=6)),
        ("kl.pgd l2 restarts 2", lambda m, x, y: kl.pgd(m, x, y, 1.5, 0.3, 10, restarts=2, norm="l2", seed=7)),
        ("kl.fgsm", lambda m, x, y: kl.fgsm(m, x, y, 25 / 255)),
        ("kl.autoattack standard", lambda m, x, y: kl.autoattack(m, x, y, 25 / 255, seed=0, run_checks=False).x_adv),
    ]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the digests here")
    parser.add_argument("--check", type=Path, help="compare with the digests recorded here; exit 1 on a difference")
    parser.add_argument("--entry", default="fmnist-lenet-at")
    args = parser.parse_args()
    pin_cpu_numerics()
    import kerasll as kl
    from kerasll.zoo.store import Zoo

    model = Zoo().get(args.entry).load_model()
    x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
    x, y = x[:IMAGES], np.asarray(y[:IMAGES])
    rows = {}
    for label, fn in cases():
        t0 = time.perf_counter()
        adv = np.asarray(fn(model, x, y))
        acc = float(np.mean(np.argmax(model.predict(adv, verbose=0), -1) == y))
        rows[label] = {"sha256": digest(adv), "robust_accuracy": acc}
        print(f"{label:40s} {rows[label]['sha256']}  robust {100 * acc:6.2f}%  ({time.perf_counter() - t0:.1f} s)",
              flush=True)
    out = {"command": "python scripts/attack_identity.py", "entry": args.entry, "images": IMAGES, "attacks": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.check:
        want = json.loads(args.check.read_text())["attacks"]
        changed = [k for k in want if rows.get(k, {}).get("sha256") != want[k]["sha256"]]
        missing = sorted(set(rows) - set(want))
        for k in changed:
            print(f"CHANGED: {k}: {want[k]['sha256']} → {rows.get(k, {}).get('sha256')}")
        print(f"{len(want) - len(changed)}/{len(want)} identical" + (f"; not recorded: {missing}" if missing else ""))
        sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
