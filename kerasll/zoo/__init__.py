"""The model zoo: entries on disk, training into them, evaluating them, reporting."""

from kerasll._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "TrainConfig": "kerasll.zoo.config", "Entry": "kerasll.zoo.entry",
    **dict.fromkeys(["Zoo", "default_zoo_path"], "kerasll.zoo.store"),
})
