"""Where training runs: TensorFlow's distribution strategies, chosen by name.

- ``"auto"``: mirrored over all GPUs when there are several, else the default (one device).
- ``"one"``: one device (the first GPU, else the CPU).
- ``"mirrored"``: `MirroredStrategy` over all GPUs (or all logical CPUs when there is no GPU).

`KERASLL_CPU_DEVICES=N` (a testing aid) splits the CPU into N logical devices, so
the mirrored path runs on a CPU-only machine; the `kerasll` command applies it
before TensorFlow initialises its devices (`split_cpu_from_env`).
"""

import os

import tensorflow as tf

from kerasll.errors import KerasllError, check_choice

STRATEGIES = ("auto", "one", "mirrored")


def cpu_devices_from_env():
    """The value of KERASLL_CPU_DEVICES as a positive int, None when unset; one-line error otherwise."""
    value = os.environ.get("KERASLL_CPU_DEVICES")
    if value in (None, ""):
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise KerasllError(f"KERASLL_CPU_DEVICES must be a positive integer (logical CPU devices), got {value!r}")
    return count


def split_cpu_from_env():
    """Split the CPU into KERASLL_CPU_DEVICES logical devices; must run before TensorFlow uses a device."""
    count = cpu_devices_from_env()
    if count is None or count == 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise KerasllError("KERASLL_CPU_DEVICES is set but TensorFlow's devices are already initialised; "
                           "set it before the process starts TensorFlow") from None


def make_strategy(name="auto"):
    """The `tf.distribute.Strategy` called `name` (see module doc)."""
    check_choice("strategy", name, STRATEGIES)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def check_batch(batch_size, strategy, name):
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise KerasllError(f"batch size {batch_size} is not divisible by the {replicas} replicas of strategy "
                           f"{name!r}; choose a multiple of {replicas}")


def precision_policy(mixed):
    """The Keras dtype policy for `--mixed-precision`: float16 on GPUs, bfloat16 on CPUs, else float32."""
    if not mixed:
        return "float32"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
