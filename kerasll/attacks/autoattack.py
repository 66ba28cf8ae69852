"""AutoAttack's driver (Croce & Hein, ICML 2020): its attacks in turn, each on the images still robust.

"standard": APGD-CE, APGD-T, FAB-T and Square, each run only on the images that
are still classified correctly; an image is robust only if it survives all of
them. "fast": APGD-CE and APGD-T. "plus" (the reference's AA+): APGD-CE and
APGD-DLR with 5 restarts each, untargeted FAB with 5 restarts, Square, APGD-T
and FAB-T. "rand", for randomised defenses: APGD-CE and APGD-DLR, each step
following the mean of 20 gradients (expectation over transformation). The
robust accuracy is recomputed as the model's accuracy on the returned
adversarial images. `kerasll.autoattack` (in `kerasll.evaluation`) runs it in
resumable chunks with the self-checks.
"""

import time

import numpy as np

from kerasll._tensors import as_float_tensor
from kerasll.attacks import checks, noise
from kerasll.attacks.adaptive import extra_stages
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.driver import predict_classes
from kerasll.attacks.losses import labels_of
from kerasll.attacks.registry import get_attack, plan_of, run_attack


def timed(name, fn, report=True):
    """Run a stage: `fn()`'s arrays and its seconds (the default of `autoattack_images`' `stage`)."""
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def autoattack_images(model, x, y, eps, norm="linf", version="standard", seed=0, keys=None, attacks=None,
                      progress=None, log=None, batch_size=1000, stage=timed, budget_check=False, surrogate=None):
    """Run AutoAttack's attacks in turn, each on the images still robust.

    Returns (x_adv, records, seconds): the adversarial images; per image (N,) bool
    arrays ``correct`` (clean), ``robust:<attack>`` (still robust after that attack and
    all before it) and ``robust`` (correct on `x_adv`, the number anyone can check);
    and the seconds per attack. `summarize` turns records into accuracies and flags.
    Each attack runs as `stage(name, fn)` (`fn()` → the images it fooled and their
    adversarial versions): an evaluation passes its `chunks.Stages`, which keeps each
    finished attack, so an interrupted run resumes at the first unfinished one.
    `budget_check` and `surrogate` (a model with the same inputs and classes) add the adaptive
    checks' stages after the plan (`adaptive.extra_stages`: ``robust:budget``, ``robust:transfer:…``).
    """
    plan = plan_of(version, attacks, norm)
    check_budget(eps, eps, 1, norm, 1)
    x = as_float_tensor(x).numpy()
    y = labels_of(np.asarray(y)).numpy()
    keys = noise.keys_of(x, keys)
    seconds, records = {}, {}
    correct = predict_classes(model, x) == y
    robust, x_adv = correct.copy(), x.copy()
    stages = [(name, name, settings, False, 0) for name, settings in plan]
    stages += extra_stages(plan, budget_check, surrogate is not None)
    for name, attacked, settings, on_surrogate, offset in stages:
        def attack(_name=name, _attacked=attacked, _settings=settings, _ids=np.flatnonzero(robust),
                   _on=surrogate if on_surrogate else model, _seed=seed + offset):
            if not len(_ids):
                return {"fooled": _ids, "adv": x[:0]}

            def report(done, total, fooled=0):
                if progress is not None:  # robust accuracy so far, this attack's finds included
                    progress(_name, done, total, (len(_ids) - fooled) / len(x))
            runs = lambda sub, fn: stage(f"{_name} {sub}", fn, report=False)  # noqa: E731  (APGD's runs)
            adv = np.asarray(run_attack(_attacked, _on, x[_ids], y[_ids], eps, norm, seed=_seed, keys=keys[_ids],
                                        progress=report, batch_size=batch_size, stage=runs, **_settings))
            fooled = predict_classes(model, adv) != y[_ids]  # the attacked model's examples, shown to `model`
            return {"fooled": _ids[fooled], "adv": adv[fooled]}

        found, seconds[name] = stage(name, attack)
        x_adv[found["fooled"]] = found["adv"]
        robust[found["fooled"]] = False
        records[f"robust:{name}"] = robust.copy()
        if log is not None:
            log(f"{name}: robust accuracy {100 * robust.mean():.2f}% ({seconds[name]:.1f} s)")
    records["correct"] = correct
    records["robust"] = predict_classes(model, x_adv) == y
    return x_adv, records, seconds


def summarize(records, plan, run_checks=True, version=None):
    """Accuracies and flags from per-image `records` (`autoattack_images`, plus `checks.image_checks`
    when `run_checks`), concatenated over any chunks of the evaluated set. `version`: AutoAttack's
    (or "custom"); None for a single attack."""
    names = [name for name, _ in plan]
    robust = records["robust"]
    by_attack = {name: float(records[f"robust:{name}"].mean()) for name in names}
    out = {"clean_accuracy": float(records["correct"].mean()), "robust_accuracy": float(robust.mean()),
           "by_attack": by_attack, "flags": []}
    black_box = [i for i, name in enumerate(names) if get_attack(name).gradient_free]
    if black_box and black_box[0] > 0:  # images Square broke that every (white-box) attack before it left robust
        i = black_box[0]
        before = records[f"robust:{names[i - 1]}"]
        flag = checks.check_square(int(np.sum(before & ~records[f"robust:{names[i]}"])), int(np.sum(before)),
                                   version or "custom")
        out["flags"] += [flag] if flag else []
    out |= _adaptive(records, names)
    for key, check in (("budget_check", checks.check_budget_flag), ("transfer", checks.check_transfer)):
        flag = check(**out[key]) if key in out else None
        out["flags"] += [flag] if flag else []
    if run_checks:  # the ordering check (FGSM ≥ PGD-10 ≥ its stages) for AutoAttack only (`version` given)
        stages = {"apgd-ce": by_attack["apgd-ce"]} if names and names[0] == "apgd-ce" else {}
        stages = None if version is None else stages | {"autoattack": float(robust.mean())}
        out["flags"] += checks.flags_of(records, records["correct"], robust, stages, eot=version == "rand")
        out["noise_accuracy"] = float(records["noise"].mean())
        out["weaker_attacks_accuracy"] = {k: float(records[k].mean()) for k in ("fgsm", "pgd") if k in records}
    return out


def _adaptive(records, names):
    """The adaptive checks' counts: of the images still robust before each, how many it broke."""
    out, before = {}, records[f"robust:{names[-1]}"]
    if "robust:budget" in records:
        after = records["robust:budget"]
        out["budget_check"] = {"broken": int(np.sum(before & ~after)), "robust_before": int(before.sum())}
        before = after
    transfer = [k for k in records if k.startswith("robust:transfer:")]
    if transfer:
        after = records[transfer[-1]]
        out["transfer"] = {"broken": int(np.sum(before & ~after)), "robust_before": int(before.sum())}
    return out
