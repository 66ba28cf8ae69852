"""Real processes: kill a training run and resume it; several trainers in one zoo."""

import json
import math
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerasll  # noqa: F401  (registers kerasll's classes for load_model)

pytestmark = pytest.mark.processes  # real trainer processes: `pytest -m processes` (CI runs it)

BASE = [sys.executable, "-m", "kerasll.cli", "train", "--source", "embedded", "--train-limit", "1500",
        "--batch-size", "64"]


def start(zoo, *args):
    # SIGINT back to its default in the child: a test run launched in the background (`pytest &`) inherits it
    # ignored, and a trainer that ignores Ctrl-C would make the interrupt tests fail for the wrong reason.
    return subprocess.Popen([*BASE, *map(str, args), "--zoo", str(zoo)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=os.environ | {"COLUMNS": "200"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def metadata(zoo, name):
    try:
        return json.loads((zoo / name / "metadata.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


# Trains entry "r" into the zoo argv[1] with defense argv[2]; with argv[3] = k > 0 the process kills
# itself (SIGKILL, like a power loss) right after epoch k is recorded: driven by the epoch count, not
# by timing, so a fast machine cannot finish first.
TRAIN_SCRIPT = """
import os, signal, sys, keras
from kerasll.zoo import TrainConfig, Zoo
from kerasll.zoo.training import train_entry

class KillAfter(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)

config = TrainConfig(defense=sys.argv[2], epochs=4, train_limit=640, batch_size=64)
train_entry(Zoo(sys.argv[1], bundled=False), config, name="r", source="embedded",
            callbacks=[KillAfter()] if int(sys.argv[3]) else [])
"""


def train_script(zoo, defense, kill_after=0):
    return subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(zoo), defense, str(kill_after)],
                          capture_output=True, text=True)


def test_killed_training_resumes_from_the_last_finished_epoch(tmp_path):
    epochs, kill_after = 4, 2
    killed = train_script(tmp_path, "none", kill_after)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert metadata(tmp_path, "r")["epochs_completed"] == kill_after
    assert metadata(tmp_path, "r")["status"] == "training"  # as left by the dead process
    listing = subprocess.run([sys.executable, "-m", "kerasll.cli", "zoo", "list", "--zoo", str(tmp_path)],
                             capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"})
    assert "interrupted" in listing.stdout

    # Resume from the command line, as a user would.
    again = start(tmp_path, "--epochs", epochs, "--train-limit", 640, "--name", "r")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert f"resuming entry 'r' after epoch {kill_after}" in out
    assert [f"epoch {e}/{epochs}" in out for e in range(1, epochs + 1)] == [False] * kill_after + [True] * (
        epochs - kill_after), out  # only the missing epochs run again
    meta = metadata(tmp_path, "r")
    assert meta["status"] == "complete" and meta["epochs_completed"] == epochs
    assert all(len(v) == epochs and None not in v for v in meta["history"].values())
    model = keras.saving.load_model(tmp_path / "r" / "model.keras")
    # The optimizer state survived: its step counter covers all epochs, so the LR schedule is right.
    assert int(model.optimizer.iterations.numpy()) == epochs * math.ceil(640 / 64)


@pytest.mark.parametrize("defense", [pytest.param("none", marks=pytest.mark.long), "at"])
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, defense):
    """The data order (and the defense's random draws) continue where the killed run stopped."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert train_script(whole, defense).returncode == 0
    assert train_script(cut, defense, kill_after=2).returncode == -signal.SIGKILL
    resumed = train_script(cut, defense)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = keras.saving.load_model(whole / "r" / "model.keras").get_weights()
    b = keras.saving.load_model(cut / "r" / "model.keras").get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


def test_concurrent_trainers_share_a_zoo(tmp_path):
    procs = {name: start(tmp_path, "--epochs", 2, "--name", name, "--seed", seed)
             for seed, name in enumerate(["p1", "p2", "p3"])}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    for name in procs:
        meta = metadata(tmp_path, name)
        assert meta["status"] == "complete" and len(meta["history"]["loss"]) == 2
        keras.saving.load_model(tmp_path / name / "model.keras")


def test_second_trainer_of_the_same_entry_is_refused(tmp_path):
    # 2,000 short epochs (~0.3 s each): still running when the second trainer, slow to start on a busy machine, is done
    first = start(tmp_path, "--epochs", 2000, "--name", "same")
    for line in first.stdout:  # the event: the trainer reports its first finished epoch
        if line.startswith("epoch 1/2000"):
            break
    else:
        pytest.fail(f"the first trainer ended before its first epoch (status {first.wait()})")
    second = start(tmp_path, "--epochs", 2000, "--name", "same")
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 1 and "being trained by another process" in out
    assert first.poll() is None, "the first trainer finished before it could be interrupted"
    first.send_signal(signal.SIGINT)  # Ctrl-C: the entry is marked interrupted
    try:
        out, _ = first.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # once seen on a loaded machine: say where it hung (message printed or not)
        first.kill()
        out, _ = first.communicate()
        pytest.fail(f"no exit 120 s after SIGINT; entry status {metadata(tmp_path, 'same').get('status')!r}; "
                    f"output ends: {out[-1500:]}")
    assert first.returncode == 130 and "interrupted: entry 'same' keeps" in out and "re-run the same command" in out
    assert metadata(tmp_path, "same")["status"] == "interrupted"


@pytest.fixture(autouse=True)
def _no_tf_logs(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


def test_resume_survives_a_checkpoint_cut_mid_write(tmp_path):
    # A kill while BackupAndRestore writes its weights leaves a truncated file; the
    # previous copy it keeps (double_checkpoint) must be used instead of failing.
    from kerasll.zoo.config import TrainConfig
    from kerasll.zoo.store import Zoo
    from kerasll.errors import Interrupted
    from kerasll.zoo.training import train_entry

    class StopAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    zoo = Zoo(tmp_path, bundled=False)
    config = TrainConfig(epochs=3, batch_size=64, train_limit=256)
    with pytest.raises(Interrupted, match="entry 'c' keeps 2 finished epoch"):
        train_entry(zoo, config, name="c", source="embedded", callbacks=[StopAfter()], log=lambda *_: None)
    latest = tmp_path / "c" / "checkpoint" / "latest.weights.h5"
    assert (tmp_path / "c" / "checkpoint" / "latest.weights.h5.bkp").is_file()
    latest.write_bytes(latest.read_bytes()[:100])  # cut mid-write
    entry = train_entry(zoo, config, name="c", source="embedded", log=lambda *_: None)
    assert entry.metadata()["status"] == "complete" and entry.metadata()["epochs_completed"] == 3


@pytest.mark.long
def test_reproduce_trains_and_evaluates_a_recipe_then_skips_it(tmp_path):
    command = [sys.executable, "-m", "kerasll.cli", "reproduce", "fmnist-lenet-none", "--epochs", "1",
               "--source", "embedded", "--zoo", str(tmp_path)]
    first = subprocess.run(command, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert metadata(tmp_path, "fmnist-lenet-none")["status"] == "complete"
    results = json.loads((tmp_path / "fmnist-lenet-none" / "eval.json").read_text())["results"]
    assert "pgd-linf-eps25/255-steps10-step6.25/255-r1-n1000-embedded" in results
    assert any(k.startswith("phi-") for k in results) and any(k.startswith("phifgsm-") for k in results)
    assert "1 runs done" in (tmp_path / "reproduce.log").read_text()
    again = subprocess.run(command, capture_output=True, text=True)  # complete: skipped, results cached
    assert again.returncode == 0 and "failed: none" in again.stdout, again.stdout[-2000:]
    bad = subprocess.run(command[:4] + ["table9"] + command[5:], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: 'table9' is neither a group")
