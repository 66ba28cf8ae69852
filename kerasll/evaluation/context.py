"""The environment an evaluation runs in, built once per run and passed down the path.

A `Context` carries what every evaluation of one run shares and none of them
decides: the progress and log callbacks, the images per chunk, whether to forget
kept chunks (`fresh`), and the `Spread` of devices and workers the chunks go to.
It is built once (by the CLI, or by a library function from its keyword
arguments) and it decides once who writes: only the chief reads and writes
kept chunks and stored results (`writes`).
"""

from dataclasses import dataclass, field

from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.evaluation.chunks import ChunkStore, fingerprint, run_chunks
from kerasll.evaluation.spread import Local, spread_of

CHUNK_SIZE = 1000  # images per saved chunk (and per compiled attack batch) unless the caller says otherwise


@dataclass(frozen=True)
class Context:
    """One run's environment.

    Attributes:
        progress: `progress(name, done, total, robust_accuracy)` while an attack (or Φ) runs.
        log: `log(line)` after each chunk of `batch_size` images (and each kept stage).
        batch_size: images per chunk and per compiled attack batch.
        fresh: forget the chunks an earlier run kept for the same computation.
        spread: where the chunks run (`kerasll.evaluation.spread`): one process, or a
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
            description = {**what, "samples": len(x), "chunk_size": self.batch_size,
                           "attacks_revision": ATTACKS_REVISION}
            store = ChunkStore(checkpoint, fingerprint(description, model, (x, y)), description).open(self.fresh)
        def on_chunk(i, total, records, cached):
            state = "reused from an earlier run" if cached else ("saved" if store is not None else "done")
            self.log(f"batch {i + 1}/{total} {state}: {summary_line(records)}")

        def on_stage(i, total, name):
            self.log(f"batch {i + 1}/{total}: {name} done and kept")

        logs = self.log is not None and self.writes
        return run_chunks(compute, len(x), self.batch_size, store, on_chunk if logs else None, self.spread,
                          on_stage if logs else None)
