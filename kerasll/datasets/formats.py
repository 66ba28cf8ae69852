"""Readers for the data sets' own file formats: IDX (MNIST family), CIFAR python pickles."""

import gzip
import pickle
import tarfile
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TARBALL = "cifar-10-python.tar.gz"


def read_idx(path):
    """An IDX file (optionally .gz) as a numpy array; checks the magic number."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)




def find_idx(folder, split):
    """Paths of the split's image and label IDX files in `folder` (.gz or not), or None."""
    found = []
    for stem in IDX_FILES[split]:
        candidates = [Path(folder) / f"{stem}{ext}" for ext in (".gz", "")]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found


def load_idx(folder, split):
    """(images uint8 (N, 28, 28), labels) from IDX files in `folder`."""
    images, labels = (read_idx(p) for p in find_idx(folder, split))
    return images, labels


def find_cifar(folder):
    """Where the CIFAR-10 python release is in `folder`: its folder, its tarball, or None."""
    folder = Path(folder)
    for candidate in (folder / CIFAR_FOLDER, folder):
        if (candidate / "test_batch").is_file():
            return candidate
    tarball = folder / CIFAR_TARBALL
    return tarball if tarball.is_file() else None


def _cifar_batch(raw):
    batch = pickle.loads(raw, encoding="bytes")
    data = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, np.asarray(batch[b"labels"], np.int64)


def load_cifar(location, split):
    """(images uint8 (N, 32, 32, 3), labels) from the python release (folder or tarball)."""
    names = CIFAR_BATCHES[split]
    location = Path(location)
    if location.is_dir():
        parts = [_cifar_batch((location / n).read_bytes()) for n in names]
    else:
        with tarfile.open(location, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            parts = [_cifar_batch(tar.extractfile(members[n]).read()) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def write_cifar_batch(path, images, labels):
    """Write images (N, 32, 32, 3) uint8 and labels as one CIFAR python batch file."""
    data = np.asarray(images, np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [int(v) for v in labels], b"batch_label": b"kerasll"}, f)
