"""MultiWorkerMirroredStrategy: TF_CONFIG checks, and two worker processes on localhost."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from devtools.cluster import localhost_cluster
from kerasll.distribution.strategies import chief_from_env, cluster_from_env, lost_peer
from kerasll.errors import KerasllError
from helpers import KERASLL, finish, start_workers



@pytest.mark.parametrize("value, needle", [
    ("", "needs the cluster in the TF_CONFIG environment variable"),
    ("{bad", "TF_CONFIG is not valid JSON: '{bad'"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker"}}', "TF_CONFIG has no cluster with 'worker'"),
    ('{"cluster": {"ps": ["h:1"], "worker": ["h:2"]}, "task": {"type": "worker"}}', "role 'ps' is not used"),
    ('{"cluster": {"worker": ["h"]}, "task": {"type": "worker"}}', "must be a list of 'host:port' strings"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief' is not a role"),
    ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}', "valid: 0 to 1"),
])
def test_bad_tf_config_is_one_line(monkeypatch, value, needle):
    monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(KerasllError) as error:
        cluster_from_env()
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_the_chief_is_the_chief_task_or_worker_0_without_one(monkeypatch):
    found = {}
    for chief_role in (False, True):
        for index in range(3):
            monkeypatch.setenv("TF_CONFIG", localhost_cluster(3, chief=chief_role)[index])
            found[chief_role, index] = chief_from_env()
            assert cluster_from_env()[2] == 3
    assert found == {(False, 0): True, (False, 1): False, (False, 2): False,
                     (True, 0): True, (True, 1): False, (True, 2): False}


@pytest.mark.processes
@pytest.mark.parametrize("value", ["", '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 5}}'])
def test_cli_multiworker_without_a_valid_tf_config_is_one_line_and_writes_nothing(tmp_path, value):
    out = subprocess.run([*KERASLL, "train", "--strategy", "multiworker", "--source", "embedded",
                          "--zoo", str(tmp_path / "zoo")], capture_output=True, text=True,
                         env=os.environ | {"TF_CONFIG": value})
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and "TF_CONFIG" in out.stderr
    assert not (tmp_path / "zoo").exists() or not list((tmp_path / "zoo").iterdir())


def test_lost_peer_names_the_silent_worker_or_the_lost_connection():
    # The two messages TensorFlow 2.21 gave here when worker 1, then the chief, was SIGKILLed mid-run.
    silent = ("Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are "
              "unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed.")
    reset = ("{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_/job:worker/replica:0/task:1/"
             "device:CPU:0}} Collective ops is aborted by: recvmsg:Connection reset by peer")
    assert lost_peer(silent) == "worker 1 stopped sending heartbeats"
    assert lost_peer(reset) == "the connection to another worker was lost"


@pytest.mark.processes
def test_two_workers_on_localhost_train_one_entry_through_the_cli(tmp_path):
    zoo = tmp_path / "zoo"
    args = [*KERASLL, "train", "--strategy", "multiworker", "--source", "embedded",
            "--train-limit", "256", "--epochs", "1", "--batch-size", "64", "--defense", "jacreg",
            "--name", "two", "--zoo", str(zoo)]
    outputs = finish(start_workers(args))
    for code, out, err in outputs:
        assert code == 0, out[-2000:] + err[-3000:]
    assert "entry two is complete" in outputs[0][1]
    assert "this worker is done; the chief writes entry two" in outputs[1][1]
    assert [p.name for p in zoo.iterdir()] == ["two"]  # exactly one entry
    meta = json.loads((zoo / "two" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["epochs_completed"] == 1
    assert meta["runtime"]["strategy"] == "multiworker" and meta["runtime"]["replicas"] == 2
    assert (zoo / "two" / "model.keras").is_file() and not (zoo / "two" / "checkpoint").exists()


WORKER = """
import os, signal, sys
from kerasll.distribution.strategies import make_strategy  # MultiWorkerMirroredStrategy before TF touches a device
import keras
from kerasll.zoo.config import TrainConfig
from kerasll.zoo.store import Zoo
from kerasll.zoo.training import train_entry

zoo, kill_after = sys.argv[1], int(sys.argv[2])


class Kill(keras.callbacks.Callback):  # a worker dies once the epoch's backup is written
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


class Ran(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        print("RAN epoch", epoch + 1, flush=True)


config = TrainConfig(defense="amsreg", strength=5.0, estimator="exact", epochs=2, batch_size=64, train_limit=128,
                     lr=0.05)
entry = train_entry(Zoo(zoo), config, name="mw", source="embedded", strategy=sys.argv[3], tensorboard=False,
                    callbacks=[Ran(), Kill()] if kill_after and os.environ.get("TF_CONFIG", "").endswith('"index": 1}}') else [Ran()])
print("DONE", entry.name)
"""


@pytest.mark.processes
def test_a_killed_multiworker_run_resumes_and_matches_single_device_training(tmp_path):
    """Worker 1 is killed after epoch 1; the chief stops by itself, saying so, and leaves the entry
    resumable; re-running both resumes at epoch 2.

    AMSReg with the exact penalty is deterministic, so the resumed two-worker weights must
    equal those of an uninterrupted single-device run of the same configuration.
    """
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    zoo = tmp_path / "zoo"
    chief, worker = start_workers([sys.executable, str(script), str(zoo), "1", "multiworker"])
    assert worker.wait(timeout=240) == -signal.SIGKILL, worker.communicate()
    try:  # TensorFlow's coordination service misses worker 1's heartbeats and aborts the chief's collectives
        _, err = chief.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        chief.kill()
        raise AssertionError("the chief kept waiting for its dead peer")
    assert chief.returncode == 1
    assert "TrainingStopped: the multiworker run stopped: worker 1 stopped sending heartbeats; entry 'mw' keeps " \
           "1 finished epoch(s)" in err, err[-3000:]
    meta = json.loads((zoo / "mw" / "metadata.json").read_text())
    assert meta["status"] == "interrupted" and meta["epochs_completed"] == 1
    assert (zoo / "mw" / "checkpoint" / "latest.weights.h5").is_file()

    outputs = finish(start_workers([sys.executable, str(script), str(zoo), "0", "multiworker"]))
    for code, out, err in outputs:
        assert code == 0 and "DONE mw" in out, out[-2000:] + err[-3000:]
        assert "RAN epoch 2" in out and "RAN epoch 1" not in out, out  # resumed, not restarted
    meta = json.loads((zoo / "mw" / "metadata.json").read_text())
    assert meta["status"] == "complete" and len(meta["history"]["loss"]) == 2

    single = tmp_path / "single"
    out = subprocess.run([sys.executable, str(script), str(single), "0", "one"], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "TF_CONFIG"})
    assert out.returncode == 0, out.stderr[-3000:]
    import keras

    import kerasll  # noqa: F401  (registers the defenses for loading)

    two = keras.saving.load_model(zoo / "mw" / "model.keras").get_weights()
    one = keras.saving.load_model(single / "mw" / "model.keras").get_weights()
    assert len(two) == len(one) > 0
    for a, b in zip(two, one):
        assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1e-3), np.abs(a - b).max()
    history_two, history_one = meta["history"]["loss"], json.loads((single / "mw" / "metadata.json").read_text())[
        "history"]["loss"]
    np.testing.assert_allclose(history_two, history_one, rtol=1e-4)


def _fresh_model(kl, keras):
    keras.utils.set_random_seed(0)
    model = kl.JacobianRegModel(kl.build_model("lenet", dataset="fashion_mnist"), 0.01, seed=0)
    model(np.zeros((1, 28, 28, 1), np.float32))  # built, as BackupAndRestore requires
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.mark.pipeline
def test_strategy_fit_matches_keras_fit_and_shares_its_backup(tmp_path):
    """On one device, strategy_fit gives Keras fit's weights and history; its backup resumes under fit."""
    import keras
    import tensorflow as tf

    import kerasll as kl
    from kerasll.distribution.fit import strategy_fit

    x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
    data = tf.data.Dataset.from_tensor_slices((x[:256], y[:256])).batch(64)
    val = tf.data.Dataset.from_tensor_slices((x[256:384], y[256:384])).batch(64)
    strategy = tf.distribute.get_strategy()

    ours = _fresh_model(kl, keras)
    history = strategy_fit(ours, data, 2, strategy, validation_data=val)
    theirs = _fresh_model(kl, keras)
    reference = theirs.fit(data, epochs=2, validation_data=val, verbose=0, shuffle=False)
    assert set(history.history) == set(reference.history) >= {"loss", "accuracy", "penalty", "val_loss"}
    for key in reference.history:
        np.testing.assert_allclose(history.history[key], reference.history[key], rtol=1e-5, err_msg=key)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

    backup = tmp_path / "backup"  # one epoch under strategy_fit, the second under fit + BackupAndRestore
    first = _fresh_model(kl, keras)
    strategy_fit(first, data, 1, strategy, backup_dir=backup)
    resumed = _fresh_model(kl, keras)
    rest = resumed.fit(data, epochs=2, verbose=0, shuffle=False, callbacks=[keras.callbacks.BackupAndRestore(str(backup))])
    assert len(rest.history["loss"]) == 1  # only epoch 2 ran
    for a, b in zip(resumed.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
