"""`import kerasll` changes nothing global: no environment variables, no device initialisation."""

import json
import os
import subprocess
import sys

PROBE = """
import json, os
{first}
before = dict(os.environ)
import kerasll
after = dict(os.environ)
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
print(json.dumps({{"changed": changed, "devices": len(tf.config.list_logical_devices("CPU"))}}))
"""


def probe(first):
    # Without the variables kerasll once set itself, so that setting them again would show.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_after_tensorflow_sets_no_variable_and_leaves_devices_configurable():
    result = probe("import tensorflow, keras")
    assert result == {"changed": [], "devices": 2}


def test_import_first_still_leaves_devices_configurable():
    # TensorFlow sets variables of its own on import (KMP_*, TF2_BEHAVIOR…); kerasll adds none of its own.
    result = probe("")
    assert result["devices"] == 2
    assert not {"TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND"} & set(result["changed"])
