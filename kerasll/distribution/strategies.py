"""Where training runs: TensorFlow's distribution strategies, chosen by name.

- ``"auto"``: mirrored over all GPUs when there are several, else the default (one device).
- ``"one"``: one device (the first GPU, else the CPU).
- ``"mirrored"``: `MirroredStrategy` over all GPUs (or all logical CPUs when there is no GPU).
- ``"multiworker"``: `MultiWorkerMirroredStrategy` over the cluster in ``TF_CONFIG``
  (every worker runs the same command; the chief writes the results). It must
  be created before TensorFlow initialises its devices, so in a fresh process.

On Keras's JAX and PyTorch backends a run is one process (`OneProgram`): "auto" and "one" on one device;
on JAX, training with "mirrored" (and "auto" where there are several GPUs) spreads the global batch over the
local devices with `keras.distribution.DataParallel`. `tf.distribute` is TensorFlow's: "multiworker" (and
"mirrored" on PyTorch, and spread evaluation off TensorFlow) say so in one line (`tensorflow_only`).

`KERASLL_CPU_DEVICES=N` (a testing aid) splits the CPU into N logical devices, so
the mirrored path runs on a CPU-only machine; the `kerasll` command applies it
before TensorFlow initialises its devices (`kerasll.cli.quiet.split_cpu_from_env`).
"""

import contextlib
import json
import os
import re

from kerasll.errors import KerasllError, NotOnThisBackend, check_choice

STRATEGIES = ("auto", "one", "mirrored", "multiworker")

TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')




def cluster_from_env():
    """TF_CONFIG, parsed and checked: returns (task type, task index, number of workers incl. a chief).

    Raises a one-line `KerasllError` naming what is wrong and showing a valid example.
    """
    raw = os.environ.get("TF_CONFIG", "")
    hint = f"; e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}'"
    if not raw.strip():
        raise KerasllError("strategy 'multiworker' needs the cluster in the TF_CONFIG environment variable" + hint)
    try:
        config = json.loads(raw)
    except ValueError:
        raise KerasllError(f"TF_CONFIG is not valid JSON: {raw!r}" + hint) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster.get("worker") and not cluster.get("chief"):
        raise KerasllError(f"TF_CONFIG has no cluster with 'worker' (and optionally 'chief') addresses: {raw!r}" + hint)
    for role, addresses in cluster.items():
        if role not in ("chief", "worker"):
            raise KerasllError(f"TF_CONFIG cluster role {role!r} is not used by multiworker; valid roles: chief, worker")
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise KerasllError(f"TF_CONFIG cluster {role!r} must be a list of 'host:port' strings, got {addresses!r}")
    task = config.get("task")
    task_type = task.get("type") if isinstance(task, dict) else None
    if task_type not in cluster:
        raise KerasllError(f"TF_CONFIG task type {task_type!r} is not a role of the cluster; valid: "
                           + ", ".join(cluster))
    index = task.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise KerasllError(f"TF_CONFIG task index {index!r} is out of range for the {len(cluster[task_type])} "
                           f"{task_type!r} addresses; valid: 0 to {len(cluster[task_type]) - 1}")
    return task_type, index, sum(len(a) for a in cluster.values())


def chief_from_env():
    """Whether TF_CONFIG names this process the chief: task "chief", or worker 0 of a cluster without one."""
    task_type, index, _ = cluster_from_env()
    cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
    return task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)


def tensorflow_only(what, name):
    """`tensorflow`, or a one-line refusal of `what` ("strategy 'mirrored'") on Keras's other backends."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise NotOnThisBackend(f"{what} is TensorFlow's (tf.distribute), not available on Keras's {backend!r} "
                               f"backend; use {name} (one process, one device) or KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    return tf


def is_chief(strategy):
    """Whether this process writes results: always, except on the non-chief workers of a multiworker run."""
    if strategy is None or isinstance(strategy, OneProgram):
        return True
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return chief_from_env()
    return True


class OneProgram:
    """A training run's strategy off TensorFlow: one process, one program; on JAX, optionally over several
    devices with a `keras.distribution.Distribution` (data parallel). It offers what the training code asks of
    a `tf.distribute.Strategy`: `scope()` and `num_replicas_in_sync`."""

    def __init__(self, distribution=None, devices=1):
        self.distribution = distribution
        self.num_replicas_in_sync = devices

    def scope(self):
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()


def _one_program(name):
    """`make_strategy` on Keras's JAX and PyTorch backends."""
    import keras

    if name in ("multiworker",) or (name == "mirrored" and keras.backend.backend() != "jax"):
        tensorflow_only(f"strategy {name!r}", "--strategy one")
    if keras.backend.backend() != "jax" or name == "one":
        return OneProgram()
    devices = keras.distribution.list_devices()
    if name == "auto" and not (len(devices) > 1 and devices[0].lower().startswith(("gpu", "cuda"))):
        return OneProgram()
    return OneProgram(keras.distribution.DataParallel(devices=devices), len(devices))


def make_strategy(name="auto"):
    """The `tf.distribute.Strategy` called `name` (see module doc); off TensorFlow, a `OneProgram`."""
    import keras

    check_choice("strategy", name, STRATEGIES)
    if keras.backend.backend() != "tensorflow":
        return _one_program(name)
    tf = tensorflow_only(f"strategy {name!r}", "--strategy one")
    if name == "multiworker":
        cluster_from_env()
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as error:
            raise KerasllError("strategy 'multiworker' must be created before TensorFlow initialises its devices "
                               f"(run it in a fresh process, as the kerasll command does): {error}") from None
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def evaluation_strategy(name="auto"):
    """The strategy an evaluation spreads its chunks over, or None for one device in one process
    ("auto" on a machine with at most one GPU, or "one" on the CPU; "auto" and "one" on Keras's other
    backends). On JAX, "mirrored" (and "auto" with several GPUs) is `spread.JaxDevices` over the local devices;
    "multiworker" is TensorFlow's."""
    import keras

    check_choice("strategy", name, STRATEGIES)
    if keras.backend.backend() == "jax" and name in ("auto", "mirrored"):  # the local devices, a thread each
        from kerasll import backend
        from kerasll.distribution.spread import JaxDevices

        devices = backend.local_devices()
        if name == "auto" and not (len(devices) > 1 and backend.has_gpu()):
            return None
        return JaxDevices(devices)
    if keras.backend.backend() != "tensorflow":
        if name in ("auto", "one"):
            return None
        tensorflow_only(f"spreading an evaluation (strategy {name!r})", "--strategy one")
    strategy = make_strategy(name)
    import tensorflow as tf

    if name == "auto" and not isinstance(strategy, tf.distribute.MirroredStrategy):
        return None
    return strategy


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
    from kerasll import backend

    return "mixed_float16" if backend.has_gpu() else "mixed_bfloat16"


def all_agree(strategy, ok):
    """True when `ok` holds on every worker of `strategy`: a barrier that also shares a verdict.

    A multiworker run calls it where the chief decides (e.g. whether the zoo entry
    may be written), so the other workers stop with it instead of waiting forever.
    """
    import tensorflow as tf

    flag = tf.constant(0.0 if ok else 1.0)
    refusals = strategy.run(lambda: tf.identity(flag))
    return float(strategy.reduce(tf.distribute.ReduceOp.SUM, refusals, axis=None)) == 0.0


def lost_peer(error):
    """What a multiworker collective lost, in words, from TensorFlow's `UnavailableError`.

    A dead worker stops sending heartbeats to the coordination service (the others
    hear of it within about 10 s); a dead chief resets the connections at once.
    """
    text = str(error)
    if "unhealthy" in text:
        tasks = re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text.split("unhealthy", 1)[1])
        if tasks:
            return ", ".join(f"{job} {index}" for job, index in dict.fromkeys(tasks)) + " stopped sending heartbeats"
    return "the connection to another worker was lost"
