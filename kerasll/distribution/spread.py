"""Spreading an evaluation's chunks over devices and machines with `tf.distribute`.

An evaluation is a list of chunks of images (`kerasll.evaluation.chunks`), each
a pure function of its images and their indices. A `Spread` deals the pending
chunks out in rounds: chunk `pending[r·W + k]` goes to replica k in round r, where
the W replicas are the strategy's devices (one thread each) on every worker.
After each round the workers exchange what they computed with an all-gather
collective, and the chief saves it. Since every chunk is computed exactly as in
one process, the per-image records, and so the accuracies and flags, are those
of a one-process run.

- `Local()`: one process, the default device: the plain loop.
- `Spread(strategy)`: `OneDeviceStrategy` / `MirroredStrategy` (the local devices, a
  thread each) or `MultiWorkerMirroredStrategy` (the cluster in ``TF_CONFIG``: every
  worker runs the same command; its local devices as above).
- `JaxDevices(devices)`: on Keras's JAX backend, the local devices, a thread each
  (`jax.default_device`), one process.
"""

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kerasll.errors import KerasllError


def pack(records, seconds=None):
    """Records (and seconds per stage) as the bytes of a compressed .npz: one format for files and collectives
    (per-image flags and verdicts shrink several times over)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **records, **({} if seconds is None else {"__seconds__": np.asarray(json.dumps(seconds))}))
    return buffer.getvalue()


def unpack(blob):
    """(records, seconds) from `pack`'s bytes."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(str(arrays.pop("__seconds__", "{}")))


class Local:
    """One process on its default device: chunks one after another."""

    width = 1
    is_chief = True
    multiworker = False
    name = "one process"

    def run_round(self, compute, bounds):
        """[(records, seconds)] for `bounds`, the chunks of one round, in order."""
        return [compute(a, b) for a, b in bounds]

    def share(self, blob):
        """The chief's `blob`, on every worker."""
        return blob


class Spread(Local):
    """A `tf.distribute` strategy's replicas: local devices in threads, workers through collectives."""

    def __init__(self, strategy):
        import tensorflow as tf

        from kerasll.distribution.strategies import is_chief

        self.strategy = strategy
        self.devices = list(strategy.extended.worker_devices)
        self.multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.workers = strategy.num_replicas_in_sync // len(self.devices)
        self.worker = strategy.cluster_resolver.task_id if self.multiworker else 0
        if self.multiworker and strategy.cluster_resolver.task_type == "worker" and \
                "chief" in strategy.cluster_resolver.cluster_spec().as_dict():
            self.worker += 1  # a cluster with a chief: the chief is replica 0
        self.width = strategy.num_replicas_in_sync
        self.is_chief = is_chief(strategy)
        kind = "workers" if self.multiworker else "devices"
        self.name = f"{self.width} replicas ({self.workers} {kind})" if self.multiworker else \
            f"{len(self.devices)} device(s): {', '.join(self.devices)}"

    def run_round(self, compute, bounds):
        import tensorflow as tf

        local = len(self.devices)
        mine = bounds[self.worker * local:(self.worker + 1) * local]

        def on(device, ab):
            with tf.device(device):
                return compute(*ab)

        with ThreadPoolExecutor(max_workers=max(len(mine), 1)) as pool:
            done = list(pool.map(on, self.devices[:len(mine)], mine))
        if not self.multiworker:
            return done
        blobs = self._all_gather(pack_list(done))
        return [item for blob in blobs for item in unpack_list(blob)]

    def share(self, blob):
        if not self.multiworker:
            return blob
        return self._all_gather(blob if self.is_chief else b"")[0]

    def _all_gather(self, blob):
        """Every worker's `blob`, in worker order (the chief first)."""
        import tensorflow as tf

        from kerasll.distribution.strategies import lost_peer

        try:
            sizes = self._gather(np.array([len(blob)], np.int64))
            padded = np.zeros(-(-int(sizes.max()) // 8) * 8 or 8, np.uint8)  # whole int64 words: collectives
            padded[:len(blob)] = np.frombuffer(blob, np.uint8)               # do not take uint8
            data = self._gather(padded.view(np.int64)).view(np.uint8)
        except tf.errors.UnavailableError as error:
            raise KerasllError(f"the multiworker evaluation stopped: {lost_peer(error)}; the chief kept every "
                               "finished batch: start every worker again with the same command to resume") from None
        width = len(data) // len(sizes)
        return [data[i * width:i * width + int(n)].tobytes() for i, n in enumerate(sizes)]

    def _gather(self, array):
        """All-gather a 1-D array over the workers: [worker 0's, worker 1's, …] concatenated.

        Every replica contributes its worker's array (uniform shapes), and one copy per
        worker is kept."""
        import tensorflow as tf

        value = tf.constant(array[None])
        gathered = self.strategy.gather(self.strategy.run(lambda: tf.identity(value)), axis=0).numpy()
        return gathered[::len(self.devices)].reshape(-1)


def pack_list(items):
    blobs = [pack(r, s) for r, s in items]
    header = np.array([len(b) for b in blobs], np.int64).tobytes()
    return np.array([len(blobs)], np.int64).tobytes() + header + b"".join(blobs)


def unpack_list(blob):
    if not blob:
        return []
    count = int(np.frombuffer(blob[:8], np.int64)[0])
    sizes = np.frombuffer(blob[8:8 + 8 * count], np.int64)
    out, at = [], 8 + 8 * count
    for size in sizes:
        out.append(unpack(blob[at:at + int(size)]))
        at += int(size)
    return out


class JaxDevices(Local):
    """Keras's JAX backend: the local devices, a thread each; each chunk's arrays are made, and its compiled
    functions run, on its thread's device (`jax.default_device`)."""

    def __init__(self, devices):
        self.devices = list(devices)
        self.width = len(self.devices)
        self.name = f"{self.width} device(s): {', '.join(str(d) for d in self.devices)}"

    def run_round(self, compute, bounds):
        from kerasll import backend

        def on(device, ab):
            with backend.on_device(device):
                return compute(*ab)

        with ThreadPoolExecutor(max_workers=max(len(bounds), 1)) as pool:
            return list(pool.map(on, self.devices[:len(bounds)], bounds))


def spread_of(strategy):
    """`Local()` for None, a spread as it is (`JaxDevices`), else a `Spread` over the strategy's replicas."""
    if strategy is None:
        return Local()
    return strategy if isinstance(strategy, Local) else Spread(strategy)
