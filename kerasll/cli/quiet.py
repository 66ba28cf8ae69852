"""TensorFlow's start-up chatter, muted for the command line's process only, whenever TensorFlow is imported.

TensorFlow's C++ start-up lines (oneDNN, CUDA probing, "All log messages before
absl::InitializeLog()") are written to file descriptor 2 while it is imported,
before its logging can be configured. The command line imports TensorFlow only
when a command needs it (`--help` and `zoo list` never do), so instead of
importing it up front, `install()` puts a finder on `sys.meta_path` that runs
TensorFlow's own import with descriptor 2 pointed at /dev/null, then applies
KERASLL_CPU_DEVICES (before any device is used; on JAX, as XLA's host device count). The library itself changes
nothing global; set KERASLL_TF_LOGS=1 to see TensorFlow's lines.
"""

import importlib.abc
import importlib.util
import os
import sys
from contextlib import nullcontext

from kerasll._descriptors import muted
from kerasll.errors import KerasllError


def after_import():
    """Once TensorFlow is imported: its Python loggers at ERROR, and the CPU split that KERASLL_CPU_DEVICES
    asks for (a testing aid; a bad value is a one-line `KerasllError`)."""
    import absl.logging
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    absl.logging.set_verbosity(absl.logging.ERROR)
    split_cpu_from_env(tf)  # nothing of kerasll that imports TensorFlow: it may be what is importing it now


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


def split_cpu_from_env(tf):
    """Split the CPU into KERASLL_CPU_DEVICES logical devices; must run before TensorFlow (`tf`, the module
    being imported) uses a device."""
    count = cpu_devices_from_env()
    if count is None or count == 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise KerasllError("KERASLL_CPU_DEVICES is set but TensorFlow's devices are already initialised; "
                           "set it before the process starts TensorFlow") from None


class QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the normal machinery and wraps its loader's `exec_module` in `muted(2)`
    (unless `mute` is False), followed by `after_import`."""

    def __init__(self, mute=True):
        self.mute = mute

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the normal finders take it from here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            from kerasll.errors import KerasllError

            error = None
            with muted(2) if self.mute else nullcontext():
                load(module)
                try:
                    after_import()  # the CPU split comes before any device is initialised
                except KerasllError as bad:
                    error = bad
                if error is None and not os.environ.get("TF_CONFIG"):  # multiworker needs them uninitialised
                    module.config.list_logical_devices()  # the CUDA probe logs here
            if error is not None:  # said once the descriptor is back
                raise error

        spec.loader.exec_module = exec_module
        return spec


def split_jax_cpu_from_env():
    """On Keras's JAX backend, KERASLL_CPU_DEVICES=N as XLA's N host devices (before JAX is imported)."""
    if os.environ.get("KERAS_BACKEND") != "jax" or "jax" in sys.modules:
        return
    try:
        count = cpu_devices_from_env()
    except KerasllError as error:  # before the command line's own error handling: said here, in one line
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    if count is None or count == 1:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def install():
    """Mute TensorFlow's start-up lines in this process, whenever it is first imported (see the module's doc);
    on JAX, KERASLL_CPU_DEVICES becomes XLA's host device count."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    split_jax_cpu_from_env()
    if sys.modules.get("tensorflow") is not None:
        after_import()
    elif not any(isinstance(f, QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlow(mute=not os.environ.get("KERASLL_TF_LOGS")))
