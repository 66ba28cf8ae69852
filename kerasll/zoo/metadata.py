"""What an entry's metadata.json records, written by one function."""

import datetime
import os
import platform
import socket
import subprocess
from pathlib import Path

import kerasll


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def library_versions():
    """The versions that made an entry: kerasll, Keras, its backend (by name: "tensorflow", "jax" or "torch")
    and the backend's name, NumPy, Python."""
    import importlib

    import keras
    import numpy

    backend = keras.backend.backend()
    return {"kerasll": kerasll.__version__, backend: importlib.import_module(backend).__version__,
            "backend": backend, "keras": keras.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def git_commit():
    """The commit of the kerasll checkout in use, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(kerasll.__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def new_metadata(name, config, recipe=None, data_source=None):
    """The metadata of a new entry whose training is about to start."""
    defense_params = config.defense_params()
    return {
        "name": name,
        "arch": config.arch,
        "dataset": config.dataset,
        "defense": config.defense,
        "defense_params": defense_params,
        "training": config.to_dict(),
        "optimizer": {"name": "sgd", "momentum": config.momentum, "lr": config.lr,
                      "weight_decay": config.weight_decay, "weight_decay_mode": config.weight_decay_mode,
                      "lr_schedule": "piecewise constant: lr ÷10 after 50% and again after 75% of the epochs"},
        "recipe": recipe,
        "data_source": data_source,
        "status": "training",
        "epochs_completed": 0,
        "history": {},
        "parameters": None,
        "versions": library_versions(),
        "git_commit": git_commit(),
        "created": now(),
        "updated": now(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
