"""tf.distribute on two logical CPU devices (fresh processes): equivalence, per-replica draws, bad input."""

import os
import subprocess
import sys
import textwrap

import pytest

from helpers import KERASLL

pytestmark = pytest.mark.processes  # every test starts fresh processes: `pytest -m processes` (CI runs it)

TWO_CPUS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np, kerasll as kl
"""


def run(code, timeout=300):
    out = subprocess.run([sys.executable, "-c", TWO_CPUS + textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=timeout, env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_one_mirrored_step_equals_the_single_device_step():
    """AMSReg with the exact (deterministic) penalty: the same update on 1 device and on 2 replicas."""
    run("""
        x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
        x, y = x[:64], y[:64]
        weights = {}
        for name, strategy in [("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                               ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = kl.AMSRegModel(kl.build_model("lenet", dataset="fashion_mnist"), 5.0, estimator="exact")
                model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            start = [w.numpy() for w in model.trainable_weights]
            model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
            weights[name] = ([w.numpy() for w in model.trainable_weights], start)
        (one, s1), (two, s2) = weights["one"], weights["mirrored"]
        for a, b in zip(s1, s2):
            np.testing.assert_array_equal(a, b)  # same start
        for a, b, s in zip(one, two, s1):
            step = np.abs(a - s).max()
            assert step > 1e-4  # the step moved the weights
            assert np.abs(a - b).max() <= 1e-4 * max(np.abs(a).max(), 1e-3), (np.abs(a - b).max(), step)
        print("OK")
    """)


def test_replicas_draw_different_but_reproducible_random_starts():
    run("""
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        from kerasll.attacks import noise, random_start
        draws = []
        for _ in range(2):
            with strategy.scope():
                model = kl.AdversarialTrainingModel(kl.build_model("lenet", dataset="fashion_mnist"), 0.1, seed=3)
                model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
            x = tf.fill([4, 28, 28, 1], 0.5)

            @tf.function
            def draw():
                return strategy.run(lambda: random_start(x, 0.1, "linf", model.step_seed(), keys=noise.row_keys(4)))

            per_replica = strategy.experimental_local_results(draw())
            draws.append([r.numpy() for r in per_replica])
        (a0, a1), (b0, b1) = draws
        assert not np.allclose(a0, a1)  # the replicas draw differently…
        np.testing.assert_array_equal(a0, b0)  # …and the same again under the same seed
        np.testing.assert_array_equal(a1, b1)
        print("OK")
    """)


def test_cli_mirrored_training_records_replicas_and_refuses_an_uneven_batch(tmp_path):
    env = os.environ | {"KERASLL_CPU_DEVICES": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    base = [sys.executable, "-m", "kerasll.cli", "train", "--source", "embedded", "--train-limit", "256",
            "--epochs", "1", "--strategy", "mirrored", "--zoo", str(tmp_path)]
    bad = subprocess.run(base + ["--batch-size", "63"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "batch size 63 is not divisible by the 2 replicas" in bad.stderr
    assert not list(tmp_path.iterdir())  # nothing written
    good = subprocess.run(base + ["--batch-size", "64", "--name", "m"], capture_output=True, text=True, env=env)
    assert good.returncode == 0, good.stderr[-2000:]
    import json

    runtime = json.loads((tmp_path / "m" / "metadata.json").read_text())["runtime"]
    assert runtime["strategy"] == "mirrored" and runtime["replicas"] == 2 and runtime["global_batch_size"] == 64


@pytest.mark.parametrize("value", ["0", "two", "-3"])
def test_bad_cpu_device_count_is_one_line(tmp_path, value):
    out = subprocess.run([*KERASLL, "train", "--zoo", str(tmp_path)], capture_output=True,
                         text=True, env=os.environ | {"KERASLL_CPU_DEVICES": value})
    assert out.returncode == 1 and out.stderr.strip() == (
        f"error: KERASLL_CPU_DEVICES must be a positive integer (logical CPU devices), got {value!r}")
    assert not list(tmp_path.iterdir())
