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
from kerasll.attacks.autoattack import autoattack_images, plan_of, summarize
from kerasll.attacks.common import num_classes, predict_classes
from kerasll.attacks.noise import image_keys
from kerasll.attacks.registry import ATTACKS_REVISION, run_attack
from kerasll.errors import KerasllError
from kerasll.evaluation.chunks import ChunkStore, concat, fingerprint, run_chunks
from kerasll.evaluation.settings import EvalSettings
from kerasll.evaluation.spread import spread_of

CHUNK_SIZE = 1000  # images per saved chunk (and per compiled attack batch) unless the caller says otherwise
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
    seconds: float = 0.0
    seconds_by_attack: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict, repr=False, compare=False)
    attacks_revision: int = ATTACKS_REVISION  # of the attack code that computed it

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
        return out | {"seconds": self.seconds, "seconds_by_attack": self.seconds_by_attack,
                      "attacks_revision": self.attacks_revision}


def _store(checkpoint, what, model, x, y, chunk_size, fresh=False, spread=None):
    if checkpoint is None or (spread is not None and not spread.is_chief):  # only the chief writes
        return None
    description = {**what, "samples": len(x), "chunk_size": chunk_size, "attacks_revision": ATTACKS_REVISION}
    return ChunkStore(checkpoint, fingerprint(description, model, (x, y)), description).open(fresh)


def _chunk_reporter(log, summary_line, kept):
    """The `on_chunk` callback: one log line per chunk (the event a watcher can wait for); `kept`: saved to disk."""
    def on_chunk(i, total, records, cached):
        if log is not None:
            state = "reused from an earlier run" if cached else ("saved" if kept else "done")
            log(f"batch {i + 1}/{total} {state}: {summary_line(records)}")
    return on_chunk


def _stage_reporter(log):
    """The `on_stage` callback: one log line per stage kept within a batch."""
    return None if log is None else lambda i, total, name: log(f"batch {i + 1}/{total}: {name} done and kept")


def _run(compute, x, batch_size, store, log, summary_line, spread):
    return run_chunks(compute, len(x), batch_size, store, _chunk_reporter(log, summary_line, store is not None),
                      spread, _stage_reporter(log))


def evaluate(model, x, y, settings, progress=None, log=None, run_checks=True, batch_size=CHUNK_SIZE,
             checkpoint=None, fresh=False, strategy=None):
    """Clean and robust accuracy of `model` under `settings` (an `EvalSettings`), with flags.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x, y: test images (N, H, W, C) in [0,1] and labels.
        settings: from `attack_settings`.
        progress: `progress(name, done, total, robust_accuracy)` while each attack runs.
        log: `log(line)` after each chunk of `batch_size` images.
        run_checks: also compute the self-checks' flags.
        batch_size: images per chunk and per compiled attack batch.
        checkpoint: a folder in which finished chunks are kept; the same call continues
            where an interrupted one stopped (see module doc).
        fresh: forget the chunks an earlier run saved for these settings.
        strategy: a `tf.distribute` strategy whose replicas (devices, workers) share the
            chunks; every worker returns the one-process result, only the chief writes.

    Returns:
        An `EvalResult`.
    """
    y = check_labels(y, num_classes(model, x))
    x = np.asarray(x, np.float32)
    start = time.perf_counter()
    s = settings
    plan = plan_of(s.version) if s.attack == "autoattack" else ((s.attack, s.options()),)
    all_keys = image_keys(x)

    def compute(a, b, stages):
        keys = all_keys[a:b]
        if s.attack == "autoattack":
            _, records, seconds = autoattack_images(model, x[a:b], y[a:b], s.eps, s.norm, s.version, s.seed,
                                                    keys=keys, progress=progress, batch_size=batch_size, stage=stages)
        else:
            n = b - a
            single = (lambda done, total, fooled=0: progress(s.attack, done, total, 1 - fooled / n)) \
                if progress else None

            def attack():
                x_adv = np.asarray(run_attack(s.attack, model, x[a:b], y[a:b], s.eps, s.norm, seed=s.seed, keys=keys,
                                              progress=single, batch_size=batch_size, **s.options()))
                return {"correct": predictions(model, x[a:b]) == y[a:b], "robust": predictions(model, x_adv) == y[a:b]}

            records, took = stages(s.attack, attack)
            records[f"robust:{s.attack}"] = records["robust"]
            seconds = {s.attack: took}
        if run_checks:
            found, seconds["checks"] = stages("checks", lambda: checks.image_checks(
                model, x[a:b], y[a:b], s.eps, s.norm, s.seed, keys, order=s.attack == "autoattack",
                batch_size=batch_size))
            records |= found
        return records, seconds

    spread = spread_of(strategy)
    store = _store(checkpoint, {"kind": "attack", "settings": s.to_dict(), "checks": run_checks}, model, x, y, batch_size, fresh, spread)
    line = lambda r: f"robust {100 * r['robust'].mean():.2f}% of {len(r['robust'])} images so far"  # noqa: E731
    records, seconds = _run(compute, x, batch_size, store, log, line, spread)
    if s.attack == "autoattack":
        summary = summarize(records, plan, run_checks, s.version)
    else:
        summary = {"clean_accuracy": float(records["correct"].mean()),
                   "robust_accuracy": float(records["robust"].mean()),
                   "flags": checks.flags_of(records, records["correct"], records["robust"]) if run_checks else []}
        if run_checks:
            summary["noise_accuracy"] = float(records["noise"].mean())
    return EvalResult(settings=s, samples=len(x), clean_accuracy=summary["clean_accuracy"],
                      robust_accuracy=summary["robust_accuracy"], flags=tuple(summary["flags"]),
                      by_attack=summary.get("by_attack", {}), noise_accuracy=summary.get("noise_accuracy"),
                      weaker_attacks_accuracy=summary.get("weaker_attacks_accuracy", {}),
                      seconds=round(time.perf_counter() - start, 1),
                      seconds_by_attack=seconds | {"total": round(sum(seconds.values()), 2)}, records=records,
                      attacks_revision=ATTACKS_REVISION)


def robust_accuracy(model, x, y, settings, progress=None):
    """Accuracy on adversarial examples made with `settings` (no self-checks)."""
    report = (lambda name, done, total, acc: progress(done, total)) if progress else None
    return evaluate(model, x, y, settings, run_checks=False, progress=report).robust_accuracy


@dataclass(frozen=True)
class CurveResult:
    """Robust accuracy at several budgets: `accuracy_by_eps` {ε: accuracy} with ε = 0 the clean accuracy."""

    settings: EvalSettings
    samples: int
    accuracy_by_eps: dict
    flags: tuple = ()
    seconds: float = 0.0
    records: dict = field(default_factory=dict, repr=False, compare=False)
    attacks_revision: int = ATTACKS_REVISION

    def to_dict(self):
        budgets = sorted(self.accuracy_by_eps)
        return {"settings": self.settings.to_dict() | {"eps": budgets}, "samples": self.samples,
                "budgets": budgets, "accuracy": [self.accuracy_by_eps[e] for e in budgets],
                "flags": [f.to_dict() for f in self.flags], "seconds": self.seconds,
                "attacks_revision": self.attacks_revision}


def eps_curve(model, x, y, settings, budgets, progress=None, log=None, batch_size=CHUNK_SIZE, checkpoint=None,
              fresh=False, must_reach_zero=False, strategy=None):
    """Robust accuracy under `settings`' attack at each ε in `budgets` (ε = 0: clean), with the sweep flag.

    An image counts as robust at ε only if it is robust at every smaller budget too,
    so the curve never rises; where the attack alone made it rise, the ``eps-sweep``
    flag says so (and, with `must_reach_zero`, where the largest budget, meant to be
    unbounded, leaves more than 1% accuracy). Resumable like `evaluate`.
    """
    y = check_labels(y, num_classes(model, x))
    x = np.asarray(x, np.float32)
    budgets = sorted({float(e) for e in budgets})
    if not budgets or budgets[0] < 0:
        raise KerasllError(f"ε-curve budgets must be ≥ 0, got {budgets}")
    start = time.perf_counter()
    s = settings

    all_keys = image_keys(x)

    def compute(a, b, stages):
        keys, records, seconds = all_keys[a:b], {}, {}
        correct = predictions(model, x[a:b]) == y[a:b]
        for k, e in enumerate(budgets):
            def robust_at(e=e):
                if e == 0:
                    return {"robust": correct}
                if s.attack == "autoattack":
                    _, r, _ = autoattack_images(model, x[a:b], y[a:b], e, s.norm, s.version, s.seed, keys=keys,
                                                progress=progress, batch_size=batch_size)
                    return {"robust": r["robust"]}
                x_adv = run_attack(s.attack, model, x[a:b], y[a:b], e, s.norm, seed=s.seed, keys=keys,
                                   batch_size=batch_size, **s.with_eps(e).options())
                return {"robust": correct & (predictions(model, np.asarray(x_adv)) == y[a:b])}

            found, seconds[f"eps={e:.6g}"] = stages(f"eps={e:.6g}", robust_at)
            records[f"robust@{k}"] = found["robust"]
        return records, seconds

    spread = spread_of(strategy)
    store = _store(checkpoint, {"kind": "curve", "settings": s.to_dict(), "budgets": budgets}, model, x, y, batch_size, fresh, spread)
    line = lambda r: ", ".join(f"{100 * r[f'robust@{k}'].mean():.1f}%" for k in range(len(budgets)))  # noqa: E731
    records, _ = _run(compute, x, batch_size, store, log, line, spread)
    raw = {e: float(records[f"robust@{k}"].mean()) for k, e in enumerate(budgets)}
    flag = checks.check_sweep(raw, **({} if must_reach_zero else {"limit": 1.0}))
    monotone = np.logical_and.accumulate(np.stack([records[f"robust@{k}"] for k in range(len(budgets))]), axis=0)
    curve = {e: float(monotone[k].mean()) for k, e in enumerate(budgets)}
    return CurveResult(s, len(x), curve, tuple([flag] if flag else []), round(time.perf_counter() - start, 1),
                       records, attacks_revision=ATTACKS_REVISION)


def flatness_records(model, x, y, pairs, grid, radius, seed, directions, progress=None, log=None,
                     batch_size=CHUNK_SIZE, checkpoint=None, fresh=False, strategy=None):
    """Per-image φ (Φ's terms) over chunks, resumable like `evaluate`: returns (φ (N,), seconds)."""
    from kerasll.flatness import flatness

    all_keys = image_keys(np.asarray(x, np.float32))

    label = "flatness" if directions == "random" else "flatness (FGSM)"

    def compute(a, b, stages):
        phis, took = [], 0.0
        for lo in range(a, b, FLATNESS_STAGE):  # a stage per few hundred images: Ctrl-C keeps what is done
            hi = min(lo + FLATNESS_STAGE, b)
            report = (lambda done, total, lo=lo: progress(label, lo - a + done, b - a, None)) if progress else None
            found, t = stages(f"images {lo}-{hi}", lambda lo=lo, hi=hi, report=report: {"phi": flatness(
                model, x[lo:hi], y[lo:hi], pairs=pairs, grid=grid, radius=radius, seed=seed, directions=directions,
                keys=all_keys[lo:hi], progress=report).per_sample})
            phis.append(found["phi"])
            took += t
        return {"phi": np.concatenate(phis)}, {"flatness": round(took, 2)}

    what = {"kind": "flatness", "pairs": pairs, "grid": grid, "radius": radius, "seed": seed,
            "directions": directions}
    spread = spread_of(strategy)
    store = _store(checkpoint, what, model, x, y, batch_size, fresh, spread)
    line = lambda r: f"Φ {r['phi'].mean():.4f} over {len(r['phi'])} images so far"  # noqa: E731
    records, seconds = _run(compute, x, batch_size, store, log, line, spread)
    return records["phi"], seconds


CERTIFY_STAGE = 100  # images per saved stage of certification within a chunk


def certify_records(model, x, y, sigma, n0, n, alpha, seed=0, progress=None, log=None, batch_size=CHUNK_SIZE,
                    checkpoint=None, fresh=False, strategy=None):
    """Randomized smoothing's CERTIFY per image over chunks (`kerasll.smoothing.certify`), resumable like
    `evaluate`, each chunk's images kept `CERTIFY_STAGE` at a time: returns (records, seconds) with
    ``prediction`` (−1: abstain), ``radius``, ``correct``, ``p_lower`` and ``counts_top`` per image."""
    from kerasll.smoothing import certify

    y = check_labels(y, num_classes(model, x))
    x = np.asarray(x, np.float32)
    all_keys = image_keys(x)

    def compute(a, b, stages):
        parts, took = [], 0.0
        for lo in range(a, b, CERTIFY_STAGE):
            hi = min(lo + CERTIFY_STAGE, b)
            report = (lambda done, total, lo=lo: progress(f"certify σ={sigma:g}", lo - a + done * (hi - lo) / total,
                                                          b - a, None)) if progress else None
            found, t = stages(f"images {lo}-{hi}", lambda lo=lo, hi=hi, report=report: certify(
                model, x[lo:hi], y[lo:hi], sigma, n0, n, alpha, seed, batch_size, all_keys[lo:hi], report).arrays())
            parts.append(found)
            took += t
        return concat(parts), {"certify": round(took, 2)}

    what = {"kind": "certify", "sigma": float(sigma), "n0": int(n0), "n": int(n), "alpha": float(alpha),
            "seed": int(seed)}
    spread = spread_of(strategy)
    store = _store(checkpoint, what, model, x, y, batch_size, fresh, spread)
    line = lambda r: (f"certified {100 * np.mean(r['radius'] > 0):.1f}%, abstained "  # noqa: E731
                      f"{100 * np.mean(r['prediction'] < 0):.1f}% of {len(r['radius'])} images so far")
    return _run(compute, x, batch_size, store, log, line, spread)
