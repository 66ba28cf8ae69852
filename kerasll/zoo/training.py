"""Train a zoo entry: resumable, recorded epoch by epoch, atomically completed."""

import contextlib
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, fields
from typing import Callable

import keras

from kerasll.architectures import build_model
from kerasll.datasets import DataEpoch, dataset_info, epoch_counter, load_dataset, make_pipeline
from kerasll.defenses import CatastrophicOverfittingGuard, get_defense
from kerasll.distribution.strategies import all_agree, check_batch, is_chief, lost_peer, make_strategy, precision_policy
from kerasll.errors import Interrupted, KerasllError, is_ctrl_c
from kerasll.zoo.config import TrainConfig
from kerasll.zoo.entry import Entry
from kerasll.options import known
from kerasll.optimizers import CoupledWeightDecaySGD, WarmupPiecewise

from kerasll.zoo.metadata import new_metadata, now


class TrainingStopped(KerasllError):
    """Training ended without completing (NaN loss, interruption); the entry says why."""


def build_trainable(config):
    """The classifier for `config`, wrapped in its defense."""
    net = build_model(config.arch, dataset=config.dataset)
    return get_defense(config.defense).build(net, config.defense_params(), seed=config.seed)


def optimizer_for(config, steps_per_epoch):
    """SGD with momentum and the paper's piecewise LR (÷10 after 50% and 75% of the epochs), after a linear
    warm-up over `config.warmup_epochs` (ResNet18's default; see docs/method.md#training-protocol).

    Weight decay is coupled (added to the gradient before momentum, on every
    trainable variable) unless `config.weight_decay_mode == "decoupled"` (Keras's).
    """
    boundaries = [max(1, int(config.epochs * f)) * steps_per_epoch for f in (0.5, 0.75)]
    schedule = WarmupPiecewise(boundaries, [config.lr, config.lr / 10, config.lr / 100],
                               round(config.warmup_epochs * steps_per_epoch))
    if config.weight_decay_mode == "decoupled":
        return keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay)
    return CoupledWeightDecaySGD(schedule, momentum=config.momentum, l2=config.weight_decay)


def compile_for(model, config, steps_per_epoch, jit_compile=False):
    """Compile `model` with `optimizer_for(config)`, sparse CE on logits and accuracy. `jit_compile` asks for
    XLA on TensorFlow; on JAX the step is always compiled (uncompiled, JAX runs op by op, ~10× slower)."""
    jit_compile = bool(jit_compile) or keras.backend.backend() == "jax"
    model.compile(optimizer_for(config, steps_per_epoch), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)


class EntryRecorder(keras.callbacks.Callback):
    """Writes each finished epoch's logs into metadata.json (unless `write=False`); stops training at the
    step whose loss is NaN or infinite (`nan` then says where)."""

    def __init__(self, entry, write=True):
        super().__init__()
        self.entry = entry
        self.write = write
        self.nan = None  # (epoch, step) of the first non-finite loss
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and self.nan is None and not math.isfinite(float(loss)):
            self.nan = (self.epoch, batch)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if not all(math.isfinite(v) for v in logs.values()):
            self.nan = self.nan or (epoch, None)
            self.model.stop_training = True
        if not self.write:
            return
        meta = self.entry.metadata()
        # Index = epoch; an epoch whose logs were lost to a crash stays None.
        history = {k: (list(v) + [None] * epoch)[:epoch] for k, v in meta.get("history", {}).items()}
        for key, value in logs.items():
            history.setdefault(key, [None] * epoch).append(value)
        self.entry.update_metadata(history=history, epochs_completed=epoch + 1, updated=now())


def resolve_entry(zoo, config, name, recipe, data_source, force=False):
    """The entry to train into: new, or an unfinished one trained under the same settings and data.

    An entry trained under other settings (or on other data) is refused, naming what differs,
    unless `force`, which removes it and starts over."""
    name = name or config.default_name()
    if force and zoo.exists(name) and not zoo.get(name).read_only:
        zoo.remove(name)
    if not zoo.exists(name):
        try:
            return zoo.create(name, new_metadata(name, config, recipe, data_source)), False
        except KerasllError:
            if not zoo.exists(name):  # not a lost creation race: a real error
                raise
    entry = Entry(zoo.path / name)
    meta = entry.metadata()
    diff = config.differences(meta.get("training", {}))
    if meta.get("data_source", data_source) != data_source:
        diff.append(f"data source: {meta.get('data_source')!r} ≠ {data_source!r}")
    if diff:
        raise KerasllError(f"entry {name!r} was trained under other settings ({'; '.join(diff)}): --force starts "
                           "it over, or pick another --name")
    return entry, True


def log_callbacks(entry, tensorboard=True, log=print):
    """The epoch history as CSV (`logs/history.csv`, appended on resume) and, with
    `tensorboard`, TensorBoard event files (`logs/train`, `logs/validation`): Keras writes them with
    TensorFlow's summary writer, so where TensorFlow cannot be imported `log` says so and the CSV remains."""
    entry.logs_dir.mkdir(exist_ok=True)
    found = [keras.callbacks.CSVLogger(str(entry.logs_dir / "history.csv"), append=True)]
    if tensorboard and not _has_tensorflow():
        log("TensorBoard event files need TensorFlow, which is not installed: the history is in "
            f"{entry.logs_dir / 'history.csv'} (pass --no-tensorboard to skip this note)")
    elif tensorboard:
        found.append(keras.callbacks.TensorBoard(str(entry.logs_dir), write_graph=False))
    return found


def _has_tensorflow():
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


@dataclass(frozen=True)
class TrainRuntime:
    """How a training run goes, not what it trains: a run may resume under other values.

    Attributes:
        strategy: "auto", "one", "mirrored" or "multiworker" (`kerasll.distribution.strategies`).
        mixed_precision: train under mixed_float16 (GPU) or mixed_bfloat16 (CPU).
        jit_compile: compile the train step with XLA.
        tensorboard: write TensorBoard logs beside the CSV history.
        callbacks: more Keras callbacks.
        log: where progress lines go.
    """

    strategy: str = "auto"
    mixed_precision: bool = False
    jit_compile: bool = False
    tensorboard: bool = True
    callbacks: tuple = ()
    log: Callable = print


def train_entry(zoo, config, name=None, recipe=None, data_dir=None, source="auto", force=False, **runtime):
    """Train (or resume, or skip if complete) the entry for `config`; returns the `Entry`.

    `runtime`: `TrainRuntime`'s fields (strategy, mixed_precision, jit_compile, tensorboard, callbacks, log).

    The entry's `logs/` folder gets the epoch history as CSV and, with
    `tensorboard`, TensorBoard logs (`tensorboard --logdir <entry>/logs`).

    `strategy` ("auto", "one", "mirrored"; see `kerasll.distribution.strategies`) spreads the
    global batch `config.batch_size` over the replicas; `mixed_precision` trains
    under mixed_float16 (GPU) or mixed_bfloat16 (CPU); `jit_compile` compiles the
    train step with XLA. They do not change the configuration: a run may resume
    under another strategy. The metadata's `runtime` records the last ones used.

    An existing entry of the same name is resumed only if it was trained under the
    same configuration and data source; `force` starts it over. Data are loaded
    before anything is written, so a missing data set leaves the zoo untouched. Re-running after an interruption resumes from the last
    finished epoch with optimizer state and LR schedule restored (Keras's
    `BackupAndRestore`); at most the epoch in progress is lost.
    """
    run = TrainRuntime(**known("train_entry", runtime, [f.name for f in fields(TrainRuntime)]))
    strategy, mixed_precision, jit_compile = run.strategy, run.mixed_precision, run.jit_compile
    tensorboard, callbacks, log = run.tensorboard, run.callbacks, run.log
    config = config.resolved()
    info = dataset_info(config.dataset)
    dist = make_strategy(strategy)
    check_batch(config.batch_size, dist, strategy)
    policy = precision_policy(mixed_precision)
    x, y = load_dataset(config.dataset, "train", data_dir=data_dir, source=source)
    xt, yt = load_dataset(config.dataset, "test", data_dir=data_dir, source=source)
    if config.train_limit:
        x, y = x[: config.train_limit], y[: config.train_limit]
    spec = get_defense(config.defense)
    guards = []
    if spec.holdout:  # the defense's own check runs on training images it never trains on
        x, y, x_held, y_held = x[: -spec.holdout], y[: -spec.holdout], x[-spec.holdout:], y[-spec.holdout:]
        guards = [CatastrophicOverfittingGuard(x_held, y_held, config.eps, seed=config.seed)]
    entry, existed = resolve_entry_on_chief(zoo, config, name, recipe, source if data_dir is None else str(data_dir),
                                            dist, strategy, force)
    chief = is_chief(dist)
    record = entry.update_metadata if chief else (lambda **_: None)  # only the chief writes the entry
    with entry.training_lock() if chief else contextlib.nullcontext():
        if existed and entry.metadata()["status"] == "complete":
            log(f"entry {entry.name!r} is already complete; nothing to do")
            return entry
        if not chief:
            log(f"worker of a multiworker run: training entry {entry.name!r}; the chief writes it")
        elif existed:
            log(f"resuming entry {entry.name!r} after epoch {entry.metadata().get('epochs_completed', 0)}")
        recorder = EntryRecorder(entry, write=chief)  # every worker stops on a NaN; the chief records
        writers = [recorder, *(log_callbacks(entry, tensorboard, log) if chief else [])]
        previous_policy = keras.mixed_precision.global_policy()
        try:
            keras.utils.set_random_seed(config.seed)
            keras.mixed_precision.set_global_policy(policy)
            with dist.scope():
                model = build_trainable(config)
                model(x[:1])  # built before fit, as BackupAndRestore requires
                compile_for(model, config, math.ceil(len(x) / config.batch_size), jit_compile)
            record(status="training", pid=os.getpid(), updated=now(), error=None,
                   parameters=int(getattr(model, "classifier", model).count_params()),
                   runtime={"strategy": strategy, "replicas": dist.num_replicas_in_sync,
                            "global_batch_size": config.batch_size, "dtype_policy": policy,
                            "jit_compile": bool(model.jit_compile), "backend": keras.backend.backend()})
            data_epoch = epoch_counter()  # resumed runs continue the data order
            train_data = make_pipeline(x, y, config.batch_size, training=True, augment=info.augment,
                                       seed=config.seed, epoch=data_epoch)
            val_data = make_pipeline(xt, yt, 512, training=False)
            if strategy == "multiworker":  # Keras's fit cannot run under MultiWorkerMirroredStrategy
                from kerasll.distribution.fit import strategy_fit  # tf.distribute's own loop

                strategy_fit(model, train_data, config.epochs, dist, validation_data=val_data,
                             callbacks=[DataEpoch(data_epoch), *guards, *writers, *callbacks],
                             backup_dir=entry.checkpoint_dir, jit_compile=jit_compile)
            else:
                model.fit(
                    train_data, epochs=config.epochs, verbose=0, shuffle=False,  # the pipeline shuffles
                    validation_data=val_data,
                    # double_checkpoint: a kill while the weights are written leaves the previous copy to resume from.
                    callbacks=[keras.callbacks.BackupAndRestore(str(entry.checkpoint_dir), delete_checkpoint=False,
                                                                double_checkpoint=True),
                               DataEpoch(data_epoch), *guards, *writers, *callbacks],
                )
        except (KeyboardInterrupt, SystemError) as error:
            if not is_ctrl_c(error):
                record(status="failed", error=f"{type(error).__name__}: {error}", updated=now())
                raise
            record(status="interrupted", updated=now())
            done = entry.metadata().get("epochs_completed", 0)
            raise Interrupted(f"entry {entry.name!r} keeps {done} finished epoch(s); re-run the same command to "
                              "resume") from None
        except Exception as error:
            if strategy == "multiworker" and type(error).__name__ == "UnavailableError":  # a peer died (tf.errors)
                record(status="interrupted", updated=now())
                done = entry.metadata().get("epochs_completed", 0)
                raise TrainingStopped(f"the multiworker run stopped: {lost_peer(error)}; entry {entry.name!r} keeps "
                                      f"{done} finished epoch(s): start every worker again with the same command "
                                      "to resume") from None
            record(status="failed", error=f"{type(error).__name__}: {error}", updated=now())
            raise
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        if recorder.nan:
            epoch, step = recorder.nan
            where = f"epoch {epoch + 1}" + ("" if step is None else f", step {step + 1}")
            record(status="failed", error=f"loss became NaN or infinite at {where}", updated=now())
            raise TrainingStopped(f"training of {entry.name!r} stopped at {where}: the loss became NaN or infinite; "
                                  f"entry marked failed (try a lower --lr or --strength, then --force)")
        stopped = [g for g in guards if g.stopped_epoch is not None]
        if stopped:
            log(f"catastrophic overfitting after epoch {stopped[0].stopped_epoch + 1}: held-out PGD accuracy fell "
                f"more than {stopped[0].drop:.0%} below its best; keeping the weights of epoch {stopped[0].best_epoch + 1}")
            record(early_stop={"epoch": stopped[0].stopped_epoch + 1, "kept_epoch": stopped[0].best_epoch + 1,
                               "reason": "catastrophic overfitting (held-out PGD accuracy collapsed)"})
        if not chief:  # workers save too (multi-worker saving is collective), but into scratch space
            with tempfile.TemporaryDirectory() as scratch:
                model.save(os.path.join(scratch, "model.keras"))
            return entry
        tmp = entry.path / "model.tmp.keras"
        model.save(tmp)
        os.replace(tmp, entry.model_path)
        entry.update_metadata(status="complete", updated=now(),
                              epochs_completed=stopped[0].stopped_epoch + 1 if stopped else config.epochs)
        shutil.rmtree(entry.checkpoint_dir, ignore_errors=True)
    return entry


def resolve_entry_on_chief(zoo, config, name, recipe, data_source, dist, strategy, force=False):
    """`resolve_entry` on the chief; in a multiworker run the other workers wait for its verdict
    and then use the same entry (read-only), or stop with it."""
    chief = is_chief(dist)
    error = None
    if chief:
        try:
            entry, existed = resolve_entry(zoo, config, name, recipe, data_source, force)
        except KerasllError as found:
            error = found
    if strategy == "multiworker" and not all_agree(dist, error is None):
        raise error or KerasllError("the chief worker refused this run (its output says why); nothing was written")
    if error is not None:
        raise error
    if not chief:
        entry = Entry(zoo.path / (name or config.default_name()))
        existed = True
    return entry, existed
