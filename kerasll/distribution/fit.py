"""`fit` for the strategies Keras's own `fit` cannot drive (MultiWorkerMirroredStrategy).

Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` ("Attempt to convert a
value (PerReplica…)", keras-team/keras#20585). This loop runs the model's own
`train_step` and `test_step` with `strategy.run` inside a `tf.function` over
`strategy.experimental_distribute_dataset`, so a defense's training step stays
the single source of truth, and drives ordinary Keras callbacks
(`on_train_begin`, `on_epoch_begin`/`end`, `on_train_batch_begin`/`end` without
logs, `stop_training`). Metrics are read
in the cross-replica context, so they cover the global batch.

Backup and resume replace `BackupAndRestore` (which needs `fit`): after every
epoch the chief writes the weights and optimizer state to `backup_dir`
(atomically, in `BackupAndRestore`'s files; other workers write theirs to a
scratch folder, as TensorFlow's multi-worker saving expects), and a re-run
restores them on every worker and continues with the next epoch. The workers must therefore share `backup_dir`'s
file system (one machine, or a shared mount).
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"


def _step_function(strategy, step, jit_compile):
    replica_step = tf.function(step, jit_compile=jit_compile, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def run(batch):
        strategy.run(replica_step, args=(batch,))

    return run


def _metrics(model):
    """The model's metric results, read across all replicas and workers."""
    return {k: float(v) for k, v in model.get_metrics_result().items()}


def _save(model, folder, finished, chief):
    """Write the weights (with optimizer state) and the number of finished epochs, atomically.

    The files are `BackupAndRestore`'s (`latest.weights.h5`, `training_metadata.json`),
    so a run started under `fit` resumes here and the other way round.
    """
    target = Path(folder) if chief else Path(tempfile.mkdtemp(prefix="kerasll-worker-"))
    target.mkdir(parents=True, exist_ok=True)
    model.save_weights(target / "tmp.weights.h5")
    os.replace(target / "tmp.weights.h5", target / WEIGHTS)
    (target / "tmp.json").write_text(json.dumps({"epoch": finished, "batch": 0}))
    os.replace(target / "tmp.json", target / METADATA)
    if not chief:
        shutil.rmtree(target, ignore_errors=True)


def restore(model, backup_dir):
    """Load the backup in `backup_dir` into `model`; returns the number of finished epochs (0 without one).

    Falls back to `BackupAndRestore`'s previous copy (`.bkp`) when the latest is unreadable.
    """
    folder = Path(backup_dir)
    for suffix in ("", ".bkp"):
        weights, metadata = folder / (WEIGHTS + suffix), folder / (METADATA + suffix)
        if not weights.is_file():
            continue
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(weights)
        except OSError:
            continue
        return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0
    return 0


def strategy_fit(model, dataset, epochs, strategy, *, validation_data=None, callbacks=(), backup_dir=None,
                 jit_compile=False):
    """Train the compiled, built `model` under `strategy` for `epochs`; returns the `History`.

    Args:
        dataset, validation_data: batched `tf.data.Dataset`s of (x, y) with the global batch size.
        callbacks: Keras callbacks (give the chief-only ones, such as loggers, only to the chief).
        backup_dir: where the per-epoch backup lives; a re-run resumes from it.

    Only the chief (`kerasll.distribution.strategies.is_chief`) writes the backup.
    """
    from kerasll.distribution.strategies import is_chief

    chief = is_chief(strategy)
    history = keras.callbacks.History()
    steps = int(dataset.cardinality())  # batches per epoch, for progress bars (None when unknown)
    callback_list = keras.callbacks.CallbackList([*callbacks, history], model=model, epochs=epochs,
                                                 steps=steps if steps >= 0 else None, verbose=0)
    with strategy.scope():  # the optimizer's variables are built, if need be, under the strategy
        start = restore(model, backup_dir) if backup_dir else 0
    train = _step_function(strategy, model.train_step, jit_compile)
    test = _step_function(strategy, model.test_step, jit_compile)
    train_data = strategy.experimental_distribute_dataset(dataset)
    val_data = strategy.experimental_distribute_dataset(validation_data) if validation_data is not None else None
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(start, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step, batch in enumerate(train_data):
            callback_list.on_train_batch_begin(step)
            train(batch)
            callback_list.on_train_batch_end(step)  # no logs: reading metrics per batch would cost a collective
        logs = _metrics(model)
        if val_data is not None:
            model.reset_metrics()
            for batch in val_data:
                test(batch)
            hidden = {m.name for m in getattr(model, "train_only_metrics", list)()}
            logs.update({f"val_{k}": v for k, v in _metrics(model).items() if k not in hidden})
        if backup_dir:
            _save(model, backup_dir, epoch + 1, chief)
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history
