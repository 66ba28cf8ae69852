"""The model zoo: entries on disk, training into them, evaluating them, reporting."""

from kerasll.zoo.config import TrainConfig
from kerasll.zoo.entry import Entry
from kerasll.zoo.store import Zoo, default_zoo_path

__all__ = ["Entry", "TrainConfig", "Zoo", "default_zoo_path"]
