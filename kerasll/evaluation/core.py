"""Accuracy under attack with the evaluation's self-checks, Φ and ε-curves: resumable, in chunks.

Each evaluation is a per-image computation over chunks of the test set
(`kerasll.evaluation.chunks`) and a summary of the concatenated records into a
typed result. Pass `checkpoint=FOLDER` to save each finished chunk: running the
same call again after an interruption continues at the first unfinished chunk,
and the result is, per image, the uninterrupted one.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from kerasll.attacks import checks
from kerasll.attacks.autoattack import autoattack_images, summarize
from kerasll.attacks.driver import num_classes, predict_classes
from kerasll.attacks.noise import image_keys, keys_of
from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.errors import KerasllError
from kerasll.evaluation.chunks import concat
from kerasll.evaluation.context import Context
from kerasll.evaluation.settings import EvalSettings, attack_settings

FLATNESS_STAGE = 200  # images per saved stage of Φ within a chunk


def predictions(model, x, batch_size=2000):
    """Predicted classes of `model` on `x`, (N,) int."""
    return predict_classes(model, x, batch_size)


def accuracy(model, x, y, batch_size=2000):
    """Top-1 accuracy of `model` on (x, y); labels (N,), (N, 1) or one-hot."""
    return float(np.mean(predictions(model, x, batch_size) == as_labels(y)))


def as_labels(y):
    """Integer labels (N,) from (N,), (N, 1) or one-hot (N, C) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, -1)
    return y.reshape(-1).astype(np.int64)


def check_labels(y, classes):
    """Integer labels, refused with one line if any is outside 0..classes−1."""
    y = as_labels(y)
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = y[(y < 0) | (y >= classes)][0]
        raise KerasllError(f"label {bad} is out of range: the model has {classes} classes (0–{classes - 1})")
    return y


@dataclass(frozen=True)
class EvalResult:
    """Clean and robust accuracy under one `EvalSettings`, with the flags of a broken evaluation.

    `records` holds the per-image arrays behind the numbers (``correct``, ``robust``,
    ``robust:<attack>`` for AutoAttack, and the checks'); `to_dict` leaves them out.
    """

    settings: EvalSettings
    samples: int
    clean_accuracy: float
    robust_accuracy: float
    flags: tuple = ()
    by_attack: dict = field(default_factory=dict)
    noise_accuracy: float | None = None
    weaker_attacks_accuracy: dict = field(default_factory=dict)
    adaptive: dict = field(default_factory=dict)  # {"budget_check" | "transfer": {"broken", "robust_before"}}
    seconds: float = 0.0
    seconds_by_attack: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict, repr=False, compare=False)
    attacks_revision: int = ATTACKS_REVISION  # of the attack code that computed it

    @property
    def robust(self):
        """Per image, True if still classified correctly after the attack ((N,) bool)."""
        return self.records["robust"]

    @property
    def x_adv(self):
        """The adversarial images (clean ones where every attack failed), if the evaluation kept them."""
        if "x_adv" not in self.records:
            raise KerasllError("this evaluation did not keep its adversarial images: pass keep_images=True")
        return self.records["x_adv"]

    def to_dict(self):
        out = {"settings": self.settings.to_dict(), "samples": self.samples,
               "clean_accuracy": self.clean_accuracy, "robust_accuracy": self.robust_accuracy,
               "flags": [f.to_dict() for f in self.flags]}
        if self.by_attack:
            out["by_attack"] = self.by_attack
        if self.noise_accuracy is not None:
            out["noise_accuracy"] = self.noise_accuracy
        if self.weaker_attacks_accuracy:
            out["weaker_attacks_accuracy"] = self.weaker_attacks_accuracy
        if self.adaptive:
            out["adaptive"] = self.adaptive
        return out | {"seconds": self.seconds, "seconds_by_attack": self.seconds_by_attack,
                      "attacks_revision": self.attacks_revision}


def evaluate(model, x, y, settings, run_checks=True, checkpoint=None, keys=None, keep_images=False, context=None,
             surrogate=None, **environment):
    """Clean and robust accuracy of `model` under `settings` (an `EvalSettings`), with flags.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x, y: test images (N, H, W, C) in [0,1] and labels ((N,), (N, 1) or one-hot).
        settings: from `attack_settings`.
        run_checks: also compute the self-checks' flags.
        checkpoint: a folder in which finished chunks are kept; the same call continues
            where an interrupted one stopped (see module doc).
        keys: the images' random-draw keys (default: from their content, `noise.image_keys`).
        keep_images: keep the adversarial images (`EvalResult.x_adv`).
        surrogate: with `settings.transfer` (its name), the surrogate model whose white-box examples are
            also tried on `model` (same inputs and classes); see `kerasll.attacks.adaptive`.
        context: the run's `Context`; or its fields as keyword arguments (`environment`):
            `progress(name, done, total, robust_accuracy)` while each attack runs, `log(line)`
            after each chunk, `batch_size` (images per chunk and compiled batch), `fresh`
            (forget kept chunks) and `strategy` (a `tf.distribute` strategy whose replicas
            share the chunks; every worker returns the one-process result, only the chief writes).

    Returns:
        An `EvalResult`.
    """
    ctx = context or Context.of(**environment)
    y = check_labels(y, num_classes(model, x))
    if (settings.transfer is None) != (surrogate is None):
        raise KerasllError("a transfer evaluation needs both settings.transfer (the surrogate's name) and the "
                           "surrogate model")
    if surrogate is not None:
        check_surrogate(model, surrogate, x, settings.transfer)
    x = np.asarray(x, np.float32)
    start = time.perf_counter()
    s = settings
    plan, auto = s.plan(), s.attack == "autoattack"
    all_keys = keys_of(x, keys)

    def compute(a, b, stages):
        x_adv, records, seconds = autoattack_images(model, x[a:b], y[a:b], s.eps, s.norm, seed=s.seed,
                                                    keys=all_keys[a:b], attacks=plan, progress=ctx.progress,
                                                    batch_size=ctx.batch_size, stage=stages,
                                                    budget_check=bool(s.budget_check), surrogate=surrogate)
        if keep_images:
            records["x_adv"] = x_adv
        if run_checks:
            found, seconds["checks"] = stages("checks", lambda: checks.image_checks(
                model, x[a:b], y[a:b], s.eps, s.norm, s.seed, all_keys[a:b], order=auto, batch_size=ctx.batch_size))
            records |= found
        return records, seconds

    what = {"kind": "attack", "settings": s.to_dict(), "checks": run_checks, "images": keep_images}
    line = lambda r: f"robust {100 * r['robust'].mean():.2f}% of {len(r['robust'])} images so far"  # noqa: E731
    records, seconds = ctx.run(compute, model, x, y, checkpoint, what, line)
    summary = summarize(records, plan, run_checks, s.version if auto else None)
    return EvalResult(settings=s, samples=len(x), clean_accuracy=summary["clean_accuracy"],
                      robust_accuracy=summary["robust_accuracy"], flags=tuple(summary["flags"]),
                      by_attack=summary["by_attack"] if auto else {}, noise_accuracy=summary.get("noise_accuracy"),
                      weaker_attacks_accuracy=summary.get("weaker_attacks_accuracy", {}),
                      adaptive={k: summary[k] for k in ("budget_check", "transfer") if k in summary},
                      seconds=round(time.perf_counter() - start, 1),
                      seconds_by_attack=seconds | {"total": round(sum(seconds.values()), 2)}, records=records,
                      attacks_revision=ATTACKS_REVISION)


def check_surrogate(model, surrogate, x, name):
    """Refuse a surrogate whose input shape or class count differs from the model's, in one line."""
    expected = getattr(surrogate, "input_shape", None)
    if expected is not None and tuple(expected[1:]) != tuple(x.shape[1:]):
        raise KerasllError(f"surrogate {name!r} takes {tuple(expected[1:])} images, not the evaluated "
                           f"{tuple(x.shape[1:])}: train the surrogate on the same data")
    try:
        classes = num_classes(model, x[:1]), num_classes(surrogate, x[:1])
    except Exception as error:  # noqa: BLE001 (a model that cannot take these images: one line, not a traceback)
        raise KerasllError(f"surrogate {name!r} cannot score the evaluated {tuple(x.shape[1:])} images "
                           f"({type(error).__name__}): train the surrogate on the same data") from None
    if classes[0] != classes[1]:
        raise KerasllError(f"surrogate {name!r} scores {classes[1]} classes, the model {classes[0]}: train the "
                           f"surrogate on the same data")


def autoattack(model, x, y, eps, norm="linf", version="standard", seed=0, attacks=None, run_checks=True, keys=None,
               checkpoint=None, context=None, check_budget=False, transfer_from=None, **environment):
    """Robust accuracy under AutoAttack, with self-checks: `evaluate` at AutoAttack's settings.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (N, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (Fashion-MNIST 25/255; CIFAR-10 8/255 L∞, 0.5 L2).
        norm: "linf", "l2" or "l1" (L1: the reference's L1 settings, versions "standard" and "fast").
        version: one of `VERSIONS` (see `VERSION_HELP`): "standard", "fast", "plus" or "rand".
        seed: seed of every attack's random draws.
        attacks: run these registered attacks in turn instead of the version's list.
        run_checks: also run the self-checks (FGSM and PGD-10 for the ordering
            check, random noise, gradients, output range); they cost about one PGD-10 run.
        keys: the images' random-draw keys (default: from their content): every random
            draw depends on (seed, key), so the same image gives the same result in any
            chunk, order, subset or file format.
        checkpoint, context, environment: as for `evaluate` (progress, log, batch_size, fresh, strategy).
        check_budget: also rerun the strongest white-box stage at twice its iterations and restarts
            (the `budget` flag).
        transfer_from: a surrogate model (same inputs and classes, e.g. the architecture trained without
            the defense): its APGD-CE and APGD-T examples are also tried (the `transfer` flag).

    Returns:
        An `EvalResult` with the adversarial images kept (`x_adv`, `robust`).

    Example:
        >>> result = kerasll.autoattack(model, x_test, y_test, eps=8/255)
        >>> result.robust_accuracy, [str(f) for f in result.flags]
    """
    settings = attack_settings(None, "autoattack", eps, norm=norm, version=version, seed=seed, attacks=attacks,
                               budget_check=check_budget, transfer=None if transfer_from is None else transfer_from.name)
    return evaluate(model, x, y, settings, run_checks, checkpoint, keys, keep_images=True, context=context,
                    surrogate=transfer_from, **environment)


def robust_accuracy(model, x, y, settings, progress=None):
    """Accuracy on adversarial examples made with `settings` (no self-checks)."""
    report = (lambda name, done, total, acc: progress(done, total)) if progress else None
    return evaluate(model, x, y, settings, run_checks=False, progress=report).robust_accuracy


def flatness_records(model, x, y, pairs, grid, radius, seed, directions, checkpoint=None, context=None, **environment):
    """Per-image φ (Φ's terms) over chunks, resumable like `evaluate`: returns (φ (N,), seconds)."""
    from kerasll.landscapes.flatness import flatness

    ctx = context or Context.of(**environment)
    all_keys = image_keys(np.asarray(x, np.float32))
    label = "flatness" if directions == "random" else "flatness (FGSM)"

    def compute(a, b, stages):
        phis, took = [], 0.0
        for lo in range(a, b, FLATNESS_STAGE):  # a stage per few hundred images: Ctrl-C keeps what is done
            hi = min(lo + FLATNESS_STAGE, b)
            report = (lambda done, total, lo=lo: ctx.progress(label, lo - a + done, b - a, None)) \
                if ctx.progress else None
            found, t = stages(f"images {lo}-{hi}", lambda lo=lo, hi=hi, report=report: {"phi": flatness(
                model, x[lo:hi], y[lo:hi], pairs=pairs, grid=grid, radius=radius, seed=seed, directions=directions,
                keys=all_keys[lo:hi], progress=report).per_sample})
            phis.append(found["phi"])
            took += t
        return {"phi": np.concatenate(phis)}, {"flatness": round(took, 2)}

    what = {"kind": "flatness", "pairs": pairs, "grid": grid, "radius": radius, "seed": seed,
            "directions": directions}
    line = lambda r: f"Φ {r['phi'].mean():.4f} over {len(r['phi'])} images so far"  # noqa: E731
    records, seconds = ctx.run(compute, model, x, y, checkpoint, what, line)
    return records["phi"], seconds


CERTIFY_STAGE = 100  # images per saved stage of certification within a chunk


def certify_records(model, x, y, sigma, n0, n, alpha, seed=0, checkpoint=None, context=None, **environment):
    """Randomized smoothing's CERTIFY per image over chunks (`kerasll.smoothing.certify`), resumable like
    `evaluate`, each chunk's images kept `CERTIFY_STAGE` at a time: returns (records, seconds) with
    ``prediction`` (−1: abstain), ``radius``, ``correct``, ``p_lower`` and ``counts_top`` per image."""
    from kerasll.smoothing import certify

    ctx = context or Context.of(**environment)
    y = check_labels(y, num_classes(model, x))
    x = np.asarray(x, np.float32)
    all_keys = image_keys(x)

    def compute(a, b, stages):
        parts, took = [], 0.0
        for lo in range(a, b, CERTIFY_STAGE):
            hi = min(lo + CERTIFY_STAGE, b)
            report = (lambda done, total, lo=lo, hi=hi: ctx.progress(
                f"certify σ={sigma:g}", lo - a + done * (hi - lo) / total, b - a, None)) if ctx.progress else None
            found, t = stages(f"images {lo}-{hi}", lambda lo=lo, hi=hi, report=report: certify(
                model, x[lo:hi], y[lo:hi], sigma, n0, n, alpha, seed, ctx.batch_size, all_keys[lo:hi], report).arrays())
            parts.append(found)
            took += t
        return concat(parts), {"certify": round(took, 2)}

    what = {"kind": "certify", "sigma": float(sigma), "n0": int(n0), "n": int(n), "alpha": float(alpha),
            "seed": int(seed)}
    line = lambda r: (f"certified {100 * np.mean(r['radius'] > 0):.1f}%, abstained "  # noqa: E731
                      f"{100 * np.mean(r['prediction'] < 0):.1f}% of {len(r['radius'])} images so far")
    return ctx.run(compute, model, x, y, checkpoint, what, line)
