"""Accuracy under attack with the evaluation's self-checks: AutoAttack's driver, resumable, in chunks.

AutoAttack (Croce & Hein, ICML 2020) runs its attacks in turn, each on the images
still robust; an image is robust only if it survives all of them. "standard":
APGD-CE, APGD-T, FAB-T and Square. "fast": APGD-CE and APGD-T. "plus" (the
reference's AA+): APGD-CE and APGD-DLR with 5 restarts each, untargeted FAB with 5
restarts, Square, APGD-T and FAB-T. "rand", for randomised defenses: APGD-CE and
APGD-DLR, each step following the mean of 20 gradients (expectation over
transformation). A single attack is a plan of one. The robust accuracy is
recomputed as the model's accuracy on the returned adversarial images.

Each evaluation is a per-image computation over chunks of the test set
(`kerasll.evaluation.chunks`) and a summary of the concatenated records into a
typed result. Pass `checkpoint=FOLDER` to save each finished chunk: running the
same call again after an interruption continues at the first unfinished chunk,
and the result is, per image, the uninterrupted one.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from kerasll import backend
from kerasll._tensors import as_float
from kerasll.attacks import checks, noise
from kerasll.attacks.attack import Runtime
from kerasll.attacks.adaptive import BUDGET_STAGE, TRANSFER_STAGES, extra_stages
from kerasll.attacks.budgets import check_budget
from kerasll.attacks.driver import num_classes, predict_classes
from kerasll.attacks.losses import labels_of
from kerasll.attacks.registry import ATTACKS_REVISION, get_attack, run_attack
from kerasll.errors import KerasllError
from kerasll.evaluation.chunks import Context, StageId
from kerasll.evaluation.measure import Images, Measure, as_labels, check_labels, run  # noqa: F401 (as_labels: re-exported)
from kerasll.evaluation.settings import EvalSettings, attack_settings


def predictions(model, x, batch_size=2000):
    """Predicted classes of `model` on `x`, (N,) int."""
    return predict_classes(model, x, batch_size)


def accuracy(model, x, y, batch_size=2000):
    """Top-1 accuracy of `model` on (x, y); labels (N,), (N, 1) or one-hot."""
    return float(np.mean(predictions(model, x, batch_size) == as_labels(y)))


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


def timed(name, fn, report=True):
    """Run a stage: `fn()`'s arrays and its seconds (the default of `autoattack_images`' `stage`)."""
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def autoattack_images(model, x, y, settings, context=None, stage=timed, keys=None, **extras):
    """Run the plan of `settings` (an `EvalSettings`: AutoAttack's attacks, or one attack) in turn, each on the
    images still robust; `context` (a `Context`) gives the progress callback and the batch size.

    Returns (x_adv, records, seconds): the adversarial images; per image (N,) bool
    arrays ``correct`` (clean), ``robust:<attack>`` (still robust after that attack and
    all before it) and ``robust`` (correct on `x_adv`, the number anyone can check);
    and the seconds per attack. `summarize` turns records into accuracies and flags.
    Each attack runs as `stage(name, fn)` (`fn()` → the images it fooled and their
    adversarial versions): an evaluation passes its `chunks.Stages`, which keeps each
    finished attack, so an interrupted run resumes at the first unfinished one.
    `settings.budget_check` and `extras["surrogate"]` (a model with the same inputs and classes) add the adaptive
    checks' stages after the plan (`adaptive.extra_stages`: ``robust:budget``, ``robust:transfer:…``).
    `extras["done"]`: the records of a finished run of the same plan on the same images (`reusable`); its stages
    are taken from there instead of run again, so the adaptive checks on top of a stored AutoAttack
    run only the checks.
    """
    ctx, surrogate, done = context or Context(), extras.pop("surrogate", None), extras.pop("done", None)
    if extras:
        raise KerasllError(f"autoattack_images has no option {sorted(extras)[0]!r}; its options: surrogate, done")
    plan, eps, norm, seed = settings.plan(), settings.eps, settings.norm, settings.seed
    progress = ctx.progress
    check_budget(eps, eps, 1, norm, 1)
    x = backend.to_numpy(as_float(x))
    y = backend.to_numpy(labels_of(np.asarray(y)))
    keys = noise.keys_of(x, keys)
    seconds, records = {}, {}
    done = done or {}
    correct = done["correct"] if "correct" in done else predict_classes(model, x) == y
    robust, x_adv = correct.copy(), (done["x_adv"] if "x_adv" in done else x).copy()
    found_here = np.zeros(len(x), bool)  # images whose adversarial version a stage of this run found
    stages = [(name, name, settings, False, 0) for name, settings in plan]
    stages += extra_stages(plan, bool(settings.budget_check), surrogate is not None)
    for name, attacked, settings, on_surrogate, offset in stages:
        if robust_record(name) in done:  # finished by the earlier run
            robust = done[robust_record(name)].copy()
            records[robust_record(name)] = robust.copy()
            continue
        def attack(_name=name, _attacked=attacked, _settings=settings, _ids=np.flatnonzero(robust),
                   _on=surrogate if on_surrogate else model, _seed=seed + offset):
            if not len(_ids):
                return {"fooled": _ids, "adv": x[:0]}

            def report(done, total, fooled=0):
                if progress is not None:  # robust accuracy so far, this attack's finds included
                    progress(_name, done, total, (len(_ids) - fooled) / len(x))
            runs = lambda part, fn: stage(StageId(_name, part), fn, report=False)  # noqa: E731  (an attack's runs)
            adv = np.asarray(run_attack(_attacked, _on, x[_ids], y[_ids], eps, norm, seed=_seed, keys=keys[_ids],
                                        progress=report, batch_size=ctx.batch_size, stage=runs, **_settings))
            fooled = predict_classes(model, adv) != y[_ids]  # the attacked model's examples, shown to `model`
            return {"fooled": _ids[fooled], "adv": adv[fooled]}

        found, seconds[name] = stage(name, attack)
        x_adv[found["fooled"]] = found["adv"]
        robust[found["fooled"]] = False
        found_here[found["fooled"]] = True
        records[robust_record(name)] = robust.copy()
    records["correct"] = correct
    records["robust"] = predict_classes(model, x_adv) == y
    if "robust" in done and "x_adv" not in done:  # the earlier run's images are not kept: its own verdict
        records["robust"] = np.where(found_here, records["robust"], done["robust"])
    return x_adv, records, seconds


PLAN_RECORDS = ("correct", "robust", "x_adv")  # with every ``robust:<stage>``: what `autoattack_images` returns


def robust_record(stage):
    """The record name of the per-image flags "still robust after `stage`" (an attack of the plan, or an
    adaptive check's stage, `adaptive.BUDGET_STAGE` and `adaptive.TRANSFER_STAGES`)."""
    return f"robust:{stage}"


def plan_records(plan):
    """Every record name a run of `plan` (with any adaptive checks) can write: the rest are the self-checks'."""
    return {*PLAN_RECORDS, *(robust_record(name) for name in [*(n for n, _ in plan), BUDGET_STAGE, *TRANSFER_STAGES])}


def reusable(records, settings, n, keep_images=False):
    """Whether the per-image `records` of a finished evaluation (`EvalResult.records`, or a stored result's
    records file) can seed `evaluate` under `settings` on `n` images: the same images, every stage of the
    plan, and the adversarial images where they must be kept."""
    if not records or any(len(v) != n for v in records.values()):
        return False
    needed = ["correct", "robust", *(robust_record(name) for name, _ in settings.plan())]
    return all(k in records for k in needed) and (not keep_images or "x_adv" in records)


def summarize(records, plan, run_checks=True, version=None):
    """Accuracies and flags from per-image `records` (`autoattack_images`, plus `checks.image_checks`
    when `run_checks`), concatenated over any chunks of the evaluated set. `version`: AutoAttack's
    (or "custom"); None for a single attack."""
    names = [name for name, _ in plan]
    robust = records["robust"]
    by_attack = {name: float(records[robust_record(name)].mean()) for name in names}
    out = {"clean_accuracy": float(records["correct"].mean()), "robust_accuracy": float(robust.mean()),
           "by_attack": by_attack, "flags": []}
    black_box = [i for i, name in enumerate(names) if get_attack(name).gradient_free]
    if black_box and black_box[0] > 0:  # images Square broke that every (white-box) attack before it left robust
        i = black_box[0]
        before = records[robust_record(names[i - 1])]
        flag = checks.check_square(int(np.sum(before & ~records[robust_record(names[i])])), int(np.sum(before)),
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
    out, before = {}, records[robust_record(names[-1])]
    if robust_record(BUDGET_STAGE) in records:
        after = records[robust_record(BUDGET_STAGE)]
        out["budget_check"] = {"broken": int(np.sum(before & ~after)), "robust_before": int(before.sum())}
        before = after
    transfer = [robust_record(s) for s in TRANSFER_STAGES if robust_record(s) in records]
    if transfer:
        after = records[transfer[-1]]
        out["transfer"] = {"broken": int(np.sum(before & ~after)), "robust_before": int(before.sum())}
    return out


@dataclass(frozen=True)
class EvalOptions:
    """What `evaluate` computes beside the plan's accuracy.

    Attributes:
        run_checks: also compute the self-checks' flags.
        keep_images: keep the adversarial images (`EvalResult.x_adv`).
        surrogate: with `settings.transfer` (its name), the surrogate model whose white-box examples are also
            tried on the model (same inputs and classes); see `kerasll.attacks.adaptive`.
        reuse: the per-image records of a finished evaluation of the same attacks on the same images
            (`EvalResult.records`, e.g. AutoAttack without the adaptive checks): its stages, and its self-checks,
            are taken from there, so only what it lacks runs (refused if it does not fit).
    """

    run_checks: bool = True
    keep_images: bool = False
    surrogate: object = None
    reuse: dict | None = None

    @classmethod
    def of(cls, options):
        """The options of a call; an unknown name is one line listing the valid ones, and where the run's
        environment goes."""
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise KerasllError(f"no option {unknown[0]!r}; the options: {', '.join(cls.__dataclass_fields__)}, and "
                               "how the run goes (progress, log, batch_size, fresh, strategy) is "
                               "context=kerasll.Context.of(...)")
        return cls(**options)


class AttackMeasure(Measure):
    """The plan of `settings` (and the self-checks) on every image: `evaluate`'s measure."""

    def __init__(self, model, images, settings, options):
        self.model, self.images, self.settings, self.options = model, images, settings, options
        self.plan, self.auto = settings.plan(), settings.attack == "autoattack"
        self.of_plan = plan_records(self.plan)
        reuse = options.reuse
        self.reused = {} if reuse is None else {k: np.asarray(v) for k, v in reuse.items()}
        self.checks_reused = options.run_checks and "noise" in self.reused

    def what(self):
        return {"kind": "attack", "settings": self.settings.to_dict(), "checks": self.options.run_checks,
                "images": self.options.keep_images}

    def compute(self, ctx, a, b, stages):
        s, o, im = self.settings, self.options, self.images
        done = {k: v[a:b] for k, v in self.reused.items()}
        x_adv, records, seconds = autoattack_images(self.model, im.x[a:b], im.y[a:b], s, ctx, stages, im.keys[a:b],
                                                    surrogate=o.surrogate,
                                                    done={k: v for k, v in done.items() if k in self.of_plan})
        if o.keep_images:
            records["x_adv"] = x_adv
        if self.checks_reused:
            records |= {k: v for k, v in done.items() if k not in self.of_plan}
        elif o.run_checks:
            found, seconds["checks"] = stages("checks", lambda: checks.image_checks(
                self.model, im.x[a:b], im.y[a:b], s.eps, s.norm, s.seed, order=self.auto,
                runtime=Runtime(keys=im.keys[a:b], batch_size=ctx.batch_size)))
            records |= found
        return records, seconds

    def line(self, records):
        return f"robust {100 * records['robust'].mean():.2f}% of {len(records['robust'])} images so far"


def evaluate(model, x, y, settings, checkpoint=None, context=None, keys=None, **options):
    """Clean and robust accuracy of `model` under `settings` (an `EvalSettings`), with flags.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x, y: test images (N, H, W, C) in [0,1] and labels ((N,), (N, 1) or one-hot).
        settings: from `attack_settings`.
        checkpoint: a folder in which finished chunks are kept; the same call continues
            where an interrupted one stopped (see module doc).
        context: the run's `Context` (`Context.of(progress, log, batch_size, fresh, strategy)`):
            `progress(name, done, total, robust_accuracy)` while each attack runs, `log(line)`
            after each chunk, `batch_size` (images per chunk and compiled batch), `fresh`
            (forget kept chunks) and `strategy` (a `tf.distribute` strategy whose replicas
            share the chunks; every worker returns the one-process result, only the chief writes).
            Default: one process, no callbacks, chunks of `CHUNK_SIZE`.
        keys: the images' random-draw keys (default: from their content, `noise.image_keys`).
        **options: `EvalOptions`' fields: run_checks, keep_images, surrogate, reuse.

    Returns:
        An `EvalResult`.
    """
    options = EvalOptions.of(options)
    images = Images.of(model, x, y, keys)
    if (settings.transfer is None) != (options.surrogate is None):
        raise KerasllError("a transfer evaluation needs both settings.transfer (the surrogate's name) and the "
                           "surrogate model")
    if options.surrogate is not None:
        check_surrogate(model, options.surrogate, images.x, settings.transfer)
    start = time.perf_counter()
    s, measure = settings, AttackMeasure(model, images, settings, options)
    if options.reuse is not None and not reusable(options.reuse, s, len(images), options.keep_images):
        raise KerasllError("the records passed as `reuse` are not of this plan on these images (every stage of "
                           + ", ".join(name for name, _ in measure.plan) + f" on {len(images)} images"
                           + (", with the adversarial images" if options.keep_images else "") + ")")
    ctx = context or Context()
    if measure.reused and ctx.log is not None and ctx.writes:
        extras = extra_stages(measure.plan, s.budget_check, options.surrogate is not None)
        stages = [name for name, _ in measure.plan] + [name for name, *_ in extras
                                                       if robust_record(name) in measure.reused]
        ctx.log(f"reused from the stored run: {', '.join(stages)}"
                + (" and the self-checks" if measure.checks_reused else ""))
    records, seconds = run(measure, model, images, checkpoint, ctx)
    summary = summarize(records, measure.plan, options.run_checks, s.version if measure.auto else None)
    return EvalResult(settings=s, samples=len(images), clean_accuracy=summary["clean_accuracy"],
                      robust_accuracy=summary["robust_accuracy"], flags=tuple(summary["flags"]),
                      by_attack=summary["by_attack"] if measure.auto else {},
                      noise_accuracy=summary.get("noise_accuracy"),
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


def autoattack(model, x, y, eps, norm="linf", version="standard", context=None, **options):
    """Robust accuracy under AutoAttack, with self-checks: `evaluate` at AutoAttack's settings.

    Args:
        model: a Keras classifier, [0,1] images → logits.
        x: clean images (N, H, W, C) in [0,1]; y: integer or one-hot labels.
        eps: budget in pixel units (Fashion-MNIST 25/255; CIFAR-10 8/255 L∞, 0.5 L2).
        norm: "linf", "l2" or "l1" (L1: the reference's L1 settings, versions "standard" and "fast").
        version: one of `VERSIONS` (see `VERSION_HELP`): "standard", "fast", "plus" or "rand".
        context: the run's `Context`, as for `evaluate` (progress, log, batch_size, fresh, strategy).
        **options:
            seed: seed of every attack's random draws (default 0).
            attacks: run these registered attacks in turn instead of the version's list.
            check_budget: also rerun the strongest white-box stage at twice its iterations and restarts
                (the `budget` flag).
            transfer_from: a surrogate model (same inputs and classes, e.g. the architecture trained without
                the defense): its APGD-CE and APGD-T examples are also tried (the `transfer` flag).
            run_checks: also run the self-checks (FGSM and PGD-10 for the ordering check, random noise,
                gradients, output range; default True); they cost about one PGD-10 run.
            keys: the images' random-draw keys (default: from their content): every random draw depends on
                (seed, key), so the same image gives the same result in any chunk, order, subset or file format.
            checkpoint: as for `evaluate`.

    Returns:
        An `EvalResult` with the adversarial images kept (`x_adv`, `robust`).

    Example:
        >>> result = kerasll.autoattack(model, x_test, y_test, eps=8/255)
        >>> result.robust_accuracy, [str(f) for f in result.flags]
    """
    surrogate = options.pop("transfer_from", None)
    settings = attack_settings(None, "autoattack", eps, norm=norm, version=version, seed=options.pop("seed", 0),
                               attacks=options.pop("attacks", None), budget_check=options.pop("check_budget", False),
                               transfer=None if surrogate is None else surrogate.name)
    return evaluate(model, x, y, settings, options.pop("checkpoint", None), context, options.pop("keys", None),
                    keep_images=True, surrogate=surrogate, **options)


def robust_accuracy(model, x, y, settings, progress=None):
    """Accuracy on adversarial examples made with `settings` (no self-checks)."""
    report = (lambda name, done, total, acc: progress(done, total)) if progress else None
    return evaluate(model, x, y, settings, context=Context(report), run_checks=False).robust_accuracy
