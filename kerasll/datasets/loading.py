"""`load_dataset`: find a data set in the places it may be, without downloading by surprise.

Sources, tried in order (`source="auto"`):

- ``dir``: `data_dir`, holding the data set's own files (Fashion-MNIST IDX files,
  the CIFAR-10 python release as folder or tarball) or a tensorflow-datasets
  data directory. When `data_dir` is given, only it is tried.
- ``system``: Debian's `dataset-fashion-mnist` IDX files and the Keras cache
  (`~/.keras/datasets`).
- ``tfds``: tensorflow-datasets, from its default data directory; it downloads
  only with `download=True`.
- ``embedded`` (only when asked for): the small real Fashion-MNIST subset shipped
  inside kerasll, so examples and tests run offline.
- ``download`` (only when asked for): tensorflow-datasets, downloading if needed.
  Opt-in because an offline download attempt hangs for minutes before failing.
"""

import os
from pathlib import Path

import numpy as np

from kerasll.datasets import formats
from kerasll.datasets.registry import dataset_info
from kerasll.errors import KerasllError, check_choice

SOURCES = ("auto", "dir", "system", "tfds", "embedded", "download")
SPLITS = ("train", "test")
EMBEDDED = Path(__file__).parent / "embedded" / "fashion_mnist_subset.npz"
SYSTEM_DIRS = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist"),
                      Path.home() / ".keras" / "datasets" / "fashion-mnist"],
    "cifar10": [Path.home() / ".keras" / "datasets"],
}


class DataNotFoundError(KerasllError):
    """No source held the data set; the message lists every place tried and how to fix it.

    `str(error)` names the library's arguments (`data_dir=`, `source=`); `for_cli()`
    says the same with the command line's options (`--data-dir`, `--source`).
    """

    def __init__(self, message):
        super().__init__(self._render(message, cli=False))
        self.template = message

    @staticmethod
    def _render(message, cli):
        words = {"{data_dir}": "--data-dir" if cli else "data_dir", "{source}": "--source " if cli else "source=",
                 "{q}": "" if cli else "'"}
        for key, word in words.items():
            message = message.replace(key, word)
        return message

    def for_cli(self):
        return self._render(self.template, cli=True)


def _from_files(name, folder, split):
    """(x, y) from the data set's own files in `folder`, or None if they are not there."""
    if name == "fashion_mnist":
        if formats.find_idx(folder, split) is None:
            return None
        images, labels = formats.load_idx(folder, split)
        return images[..., None], labels
    location = formats.find_cifar(folder)
    return None if location is None else formats.load_cifar(location, split)


def _from_tfds(name, split, data_dir=None, download=False):
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, download=download, as_supervised=True)
    chunks = list(tfds.as_numpy(ds.batch(10000)))
    return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])


def _from_embedded(name, split):
    if name != "fashion_mnist":
        raise KerasllError(f"no embedded subset of {name!r}; only 'fashion_mnist' has one")
    with np.load(EMBEDDED) as data:
        return data[f"x_{split}"][..., None], data[f"y_{split}"]


def _attempts(name, split, data_dir, source, download):
    """(description, loader) pairs in the order they are tried."""
    if source == "embedded":
        return [(f"embedded subset {EMBEDDED}", lambda: _from_embedded(name, split))]
    if source == "download":
        download = True
    attempts = []
    if data_dir is not None or source == "dir":
        if data_dir is None:
            raise DataNotFoundError("{source}{q}dir{q} needs {data_dir}, the folder with the data set's files")
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise DataNotFoundError(f"{{data_dir}} {folder} {what}; give the folder that holds the {name} files")
        attempts.append((f"data set files in {folder}", lambda: _from_files(name, folder, split)))
        if (folder / name).is_dir():
            attempts.append((f"tensorflow-datasets data dir {folder}",
                             lambda: _from_tfds(name, split, str(folder))))
        return attempts
    if source in ("auto", "system"):
        for folder in SYSTEM_DIRS[name]:
            attempts.append((f"data set files in {folder}",
                             lambda folder=folder: _from_files(name, folder, split)))
    if source in ("auto", "tfds", "download"):
        where = os.environ.get("TFDS_DATA_DIR", str(Path.home() / "tensorflow_datasets"))
        attempts.append((f"tensorflow-datasets in {where}" + (" (download allowed)" if download else ""),
                         lambda: _from_tfds(name, split, download=download)))
    return attempts


def load_dataset(name, split="train", data_dir=None, source="auto", download=False):
    """Load a data set as `(x, y)`: float32 images in [0,1] (NHWC) and int64 labels.

    Args:
        name: "fashion_mnist" or "cifar10".
        split: "train" or "test".
        data_dir: a folder with the data set's own files or a tfds data dir.
        source: "auto", "dir", "system", "tfds", "embedded" or "download" (see module doc).
        download: let tensorflow-datasets download when nothing local is found.

    Raises:
        DataNotFoundError: no source had it; the message lists every place tried.

    Example:
        >>> x, y = load_dataset("fashion_mnist", "test", source="embedded")
    """
    dataset_info(name)
    check_choice("split", split, SPLITS)
    check_choice("data source", source, SOURCES)
    tried = []
    for where, load in _attempts(name, split, data_dir, source, download):
        try:
            found = load()
        except KerasllError:
            raise
        except Exception as error:  # a source that is absent or unreadable: try the next
            tried.append(f"{where} ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
            continue
        if found is None:
            tried.append(f"{where} (no files)")
            continue
        images, labels = found
        return (np.asarray(images, np.float32) / 255.0, np.asarray(labels, np.int64).reshape(-1))
    hint = {
        "fashion_mnist": "install Debian's dataset-fashion-mnist, give {data_dir} the folder with the IDX files, "
                         "use {source}{q}embedded{q} for the small bundled subset, or {source}{q}download{q} to let "
                         "tensorflow-datasets fetch it",
        "cifar10": "give {data_dir} the folder with cifar-10-python.tar.gz (or its extracted "
                   "cifar-10-batches-py folder), or use {source}{q}download{q} to let tensorflow-datasets fetch it",
    }[name]
    raise DataNotFoundError(f"{name} ({split}) not found; tried: {'; '.join(tried)}. To fix: {hint}.")
