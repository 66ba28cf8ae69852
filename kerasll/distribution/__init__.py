"""Spreading work over devices and workers: the `tf.distribute` strategies and the cluster they read from
the environment (`strategies`), training under any of them, MultiWorkerMirroredStrategy included, where
Keras's `fit` cannot (`fit`), and an evaluation's chunks spread over replicas or workers with the
one-process records (`spread`)."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    **dict.fromkeys(["STRATEGIES", "evaluation_strategy", "is_chief", "make_strategy", "precision_policy"],
                    "kerasll.distribution.strategies"),
    "strategy_fit": "kerasll.distribution.fit",
})
