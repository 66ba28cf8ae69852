"""Evaluations in chunks of images, each chunk saved atomically as it finishes: the base of resume.

An evaluation is a function of a chunk, `compute(start, stop) → (records, seconds)`,
where `records` holds one value per image ((n,) arrays) that depends only on the
image and its content (kerasll's random draws are keyed by `noise.image_keys`).
So the records of all chunks, concatenated, are the records of the whole set,
whether the chunks ran in one go, across restarts, or on several machines.

A `ChunkStore` keeps the finished chunks of one evaluation in a folder named
by a fingerprint of everything that determines them: the settings, the model's
weights, the images and labels. A different setting never finds another's
chunks. Each chunk file is named by the images it covers, not by its index, so
a run resumed with another chunk size (`--batch-size`, on which no result
depends) keeps every finished chunk and splits only the images still missing.
When every chunk is done, they are merged into one `records.npz`, which stays as
the evaluation's per-image record.

Within a chunk, `Stages` keeps each finished stage (one of AutoAttack's attacks,
the self-checks, one budget of an ε-curve) as soon as it is done, so a chunk
interrupted half-way resumes at its first unfinished stage: an interruption
keeps finished work whatever the set and batch size, at little cost to a run
that is not interrupted (the chunk's small stage file is rewritten as each
stage finishes, and dropped when the chunk is saved).

A `Context` carries what every evaluation of one run shares and none of them
decides: the progress and log callbacks, the images per chunk, whether to forget
kept chunks (`fresh`), and the `Spread` of devices and workers the chunks go to
(`kerasll.distribution.spread`). It is built once (by the CLI, or by a library
function from its keyword arguments), passed down the path, and decides once who
writes: only the chief reads and writes kept chunks and stored results.
"""

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from typing import NamedTuple
from pathlib import Path

import numpy as np

from kerasll._files import atomic_write_bytes, write_json
from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.errors import Interrupted, is_ctrl_c
from kerasll.distribution.spread import Local, pack, spread_of, unpack

RECORDS_FILE = "records.npz"
FINGERPRINT_FILE = "fingerprint.json"
CHUNK_SIZE = 1000  # images per saved chunk (and per compiled attack batch) unless the caller says otherwise


@dataclass(frozen=True)
class Context:
    """One run's environment.

    Attributes:
        progress: `progress(name, done, total, robust_accuracy)` while an attack (or Φ) runs.
        log: `log(line)` after each chunk of `batch_size` images (and each kept stage).
        batch_size: images per chunk and per compiled attack batch.
        fresh: forget the chunks an earlier run kept for the same computation.
        spread: where the chunks run (`kerasll.distribution.spread`): one process, or a
            strategy's devices and workers.
    """

    progress: object = None
    log: object = None
    batch_size: int = CHUNK_SIZE
    fresh: bool = False
    spread: Local = field(default_factory=Local)

    @classmethod
    def of(cls, progress=None, log=None, batch_size=CHUNK_SIZE, fresh=False, strategy=None):
        """A context from a library call's keyword arguments (`strategy`: a `tf.distribute` strategy or None)."""
        return cls(progress, log, int(batch_size), bool(fresh), spread_of(strategy))

    @property
    def writes(self):
        """Whether this process reads and writes kept chunks and stored results: only the chief does."""
        return self.spread.is_chief

    def run(self, compute, model, x, y, checkpoint, what, summary_line):
        """Records of every image from `compute(start, stop, stages)`, chunk by chunk (`run_chunks`).

        With a `checkpoint` folder, finished chunks (and finished stages of a chunk) are kept
        there under a fingerprint of `what`, the model and the images, and a rerun resumes.
        `summary_line(records)` is logged after each chunk.
        """
        store = None
        if checkpoint is not None and self.writes:
            description = {**what, "samples": len(x), "attacks_revision": ATTACKS_REVISION}  # not the chunk size
            store = ChunkStore(checkpoint, fingerprint(description, model, (x, y)), description).open(self.fresh)

        def on_chunk(i, total, records, cached):
            state = "reused from an earlier run" if cached else ("saved" if store is not None else "done")
            self.log(f"batch {i + 1}/{total} {state}: {summary_line(records)}")

        def on_stage(i, total, name):
            self.log(f"batch {i + 1}/{total}: {name} done and kept")

        logs = self.log is not None and self.writes
        return run_chunks(compute, len(x), self.batch_size, store, on_chunk if logs else None, self.spread,
                          on_stage if logs else None)


def fingerprint(description, model=None, arrays=()):
    """A hex digest of `description` (JSON-ready), the model's weights and `arrays`."""
    h = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode())
    for w in (model.get_weights() if model is not None else []):
        h.update(np.ascontiguousarray(w).tobytes())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _save(path, records, seconds=None):
    """Written atomically: readers see a whole file or none."""
    atomic_write_bytes(path, pack(records, seconds))


def _load(path):
    return unpack(Path(path).read_bytes())


class StageId(NamedTuple):
    """One stage of a chunk: a `step` of the run (an attack of the plan, an adaptive check, the self-checks, a
    block of certified images) and, inside it, a `part` (an attack's 'run 3/9', Square's 'queries 1-1000')."""

    step: str
    part: str | None = None

    def __str__(self):  # for people only: never read back
        return self.step if self.part is None else f"{self.step} {self.part}"


def stage_id(name):
    """`name` as a `StageId` (a plain string is a step)."""
    return name if isinstance(name, StageId) else StageId(str(name))


class Stages:
    """The finished stages of one chunk, saved after each (in memory only without a `path`).

    Call it as `stages(name, fn)` (`name`: a `StageId`, or a step's name): `fn()` returns {key: array}; the
    result is `(arrays, seconds)`, computed and saved now, or read back from an interrupted run's file. The
    file holds each stage's arrays under its position, and the positions' `StageId`s as its index.
    """

    def __init__(self, path=None, on_save=None):
        self.path = Path(path) if path is not None else None
        self.on_save = on_save  # on_save(stage id) after a stage is written
        self.done = {}
        if self.path is not None and self.path.is_file():
            arrays, index = _load(self.path)
            for i, (step, part) in enumerate(index.get("stages", [])):  # an older file has no index: started over
                prefix = f"{i}/"
                self.done[StageId(step, part)] = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    def __call__(self, name, fn, report=True):
        """`fn()`'s arrays and seconds, computed now or read back; `report`: tell `on_save` when saved."""
        name = stage_id(name)
        if name in self.done:
            arrays = dict(self.done[name])
            return arrays, float(arrays.pop("__seconds__"))
        t0 = time.perf_counter()
        arrays = {k: np.asarray(v) for k, v in fn().items()}
        seconds = round(time.perf_counter() - t0, 2)
        self.done[name] = {**arrays, "__seconds__": np.asarray(seconds)}
        if self.path is not None:
            stages = list(self.done)
            _save(self.path, {f"{i}/{k}": v for i, s in enumerate(stages) for k, v in self.done[s].items()},
                  {"stages": [list(s) for s in stages]})
            if self.on_save is not None and report:
                self.on_save(name)
        return arrays, seconds


class ChunkStore:
    """The finished chunks of one evaluation, in `root/<fingerprint[:16]>/`, each file named by the images it
    covers (`chunk-<start>-<stop>.npz`), so chunks of any size are found again."""

    def __init__(self, root, digest, description=None):
        self.folder = Path(root) / digest[:16]
        self.digest, self.description = digest, description or {}

    def _chunk(self, bounds):
        return self.folder / f"chunk-{bounds[0]:08d}-{bounds[1]:08d}.npz"

    @property
    def records_path(self):
        return self.folder / RECORDS_FILE

    def open(self, fresh=False):
        """Create the folder (emptied first when `fresh`); a folder of another digest is refused."""
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / FINGERPRINT_FILE
        if marker.is_file():
            if json.loads(marker.read_text()).get("digest") != self.digest:  # a 16-digit prefix collision
                shutil.rmtree(self.folder)
                self.folder.mkdir(parents=True)
        if not marker.is_file():
            write_json(marker, {"digest": self.digest, **self.description})
        return self

    def stages(self, bounds, on_save=None):
        """The stages the chunk of images `bounds` (start, stop) finished before an interruption (`Stages`)."""
        return Stages(self.folder / f"stages-{bounds[0]:08d}-{bounds[1]:08d}.npz", on_save)

    def kept(self):
        """What an interrupted run leaves: finished chunks, and {bounds: finished stage names} of unfinished ones."""
        stages = {_bounds(p): list(Stages(p).done) for p in sorted(self.folder.glob("stages-*.npz"))}
        return self.finished(), stages

    def finished(self):
        """The (start, stop) image bounds of the chunks saved so far, in order."""
        return sorted(_bounds(p) for p in self.folder.glob("chunk-*.npz"))

    def load(self, bounds):
        return _load(self._chunk(bounds))

    def save(self, bounds, records, seconds):
        _save(self._chunk(bounds), records, seconds)
        for p in self.folder.glob("stages-*.npz"):  # this chunk's stages, and any other size's over its images
            a, b = _bounds(p)
            if a < bounds[1] and bounds[0] < b:
                p.unlink(missing_ok=True)

    def complete(self):
        """The merged records of a finished evaluation, or None."""
        return _load(self.records_path) if self.records_path.is_file() else None

    def merge(self, records, seconds):
        """Write the whole evaluation's records, then drop the chunk files they came from."""
        _save(self.records_path, records, seconds)
        for p in [*self.folder.glob("chunk-*.npz"), *self.folder.glob("stages-*.npz")]:
            p.unlink()


def _bounds(path):
    """(start, stop) from a chunk or stage file's name."""
    _, start, stop = Path(path).stem.split("-")
    return int(start), int(stop)


def chunk_bounds(n, size, finished=()):
    """[(start, stop), …] covering range(n): the `finished` chunks as they are, the images between them in
    chunks of at most `size`."""
    out, at = [], 0
    for start, stop in sorted(finished) + [(n, n)]:
        while at < start:
            out.append((at, min(at + size, start)))
            at = out[-1][1]
        if stop > start:
            out.append((start, stop))
            at = stop
    return out


def run_chunks(compute, n, size, store=None, on_chunk=None, spread=None, on_stage=None):
    """Records of images 0..n−1 from `compute(start, stop, stages)`, chunk by chunk.

    With a `store`, finished chunks are read back instead of computed, each new
    chunk is saved as soon as it is done, and `stages` (a `Stages`) keeps the
    finished stages of the chunk being computed. `on_chunk(i, total, records_so_far,
    cached)` follows every chunk. `spread` (`kerasll.distribution.spread`) deals the
    chunks out to devices and workers; the store and callbacks are the chief's only
    (other workers pass None), and every worker returns the same records. Returns (records, seconds), seconds
    summed per key. Ctrl-C raises `Interrupted`, saying what was kept.
    """
    try:
        return _run_chunks(compute, n, size, store, on_chunk, spread, on_stage)
    except (KeyboardInterrupt, SystemError) as error:
        if not is_ctrl_c(error):
            raise
        raise Interrupted(kept_message(store, n, size)) from None


def kept_message(store, n, size):
    """What an interrupted evaluation kept, in words, and how to resume."""
    if store is None:
        return "nothing was kept (no folder to keep finished batches in)"
    finished, stages = store.kept()
    bounds = chunk_bounds(n, size, finished)
    parts = [f"{len(finished)} of {len(bounds)} batch(es) finished"]
    parts += [f"batch {bounds.index(b) + 1 if b in bounds else '?'}'s finished stages ({', '.join(_outline(names))})"
              for b, names in stages.items() if names]
    return "kept " + " and ".join(parts) + "; run the same command again to resume"


def _outline(stages):
    """Stages for people: a step's parts ('apgd-t run 3/9') only while the step is unfinished, and then only
    its last finished part."""
    whole = {s.step for s in stages if s.part is None}
    return [str(s) for i, s in enumerate(stages) if s.part is None or (s.step not in whole and not any(
        m.part is not None and m.step == s.step for m in stages[i + 1:]))]


def _run_chunks(compute, n, size, store, on_chunk, spread, on_stage):
    spread = spread or Local()  # the caller (`Context.run`) gives a store and callbacks to the chief only
    done = store.complete() if store is not None else None
    finished = [] if store is None or done is not None else store.finished()
    state = json.loads(spread.share(json.dumps({"complete": done is not None, "finished": finished}).encode()))
    if state["complete"]:
        return unpack(spread.share(pack(*done) if done is not None else b""))
    finished = [tuple(b) for b in state["finished"]]
    bounds = chunk_bounds(n, size, finished)  # every worker splits the missing images alike
    parts = {}
    for i, b in enumerate(bounds):
        if b in finished and store is not None:
            parts[i] = store.load(b)
            if on_chunk is not None:
                on_chunk(i, len(bounds), concat([parts[k][0] for k in sorted(parts)]), True)
    pending = [i for i, b in enumerate(bounds) if b not in finished]

    def stages(i):
        if store is None:
            return Stages()
        return store.stages(bounds[i], None if on_stage is None else lambda name: on_stage(i, len(bounds), name))

    stages_of = {bounds[i]: stages(i) for i in pending}
    with_stages = lambda a, b: compute(a, b, stages_of[(a, b)])  # noqa: E731
    for start in range(0, len(pending), spread.width):
        ids = pending[start:start + spread.width]
        for i, (records, took) in zip(ids, spread.run_round(with_stages, [bounds[i] for i in ids])):
            parts[i] = (records, took)
            if store is not None:
                store.save(bounds[i], records, took)
            if on_chunk is not None:
                on_chunk(i, len(bounds), concat([parts[k][0] for k in sorted(parts)]), False)
    merged = None
    if spread.is_chief:
        records = concat([parts[i][0] for i in range(len(bounds))])
        seconds = {}
        for _, took in parts.values():
            for k, v in took.items():
                seconds[k] = round(seconds.get(k, 0.0) + v, 2)
        if store is not None:
            store.merge(records, seconds)
        merged = (records, seconds)
    if not spread.multiworker:
        return merged
    return unpack(spread.share(pack(*merged) if merged is not None else b""))


def concat(parts):
    """{name: array} dicts, joined along the image axis."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
