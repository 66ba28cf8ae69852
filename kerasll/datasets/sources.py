"""`load_data`: test images from wherever a user keeps them, as [0,1] arrays or a `tf.data.Dataset`.

A source is one string:

- a registered data set name (``fashion_mnist``, ``cifar10``), found by `load_dataset`;
- a ``.npz`` file with an image array and a label array (keys ``x`` and ``y`` unless told);
- a folder with one subfolder of images per class, read by Keras's own
  `keras.utils.image_dataset_from_directory` (classes in alphanumeric order);
- ``tfds:NAME[:SPLIT]``, a tensorflow-datasets data set already prepared in the data
  dir (never downloaded here); its split defaults to ``test``.

Images come back as float32 NHWC in [0,1]: uint8 (and 0–255 integer) arrays and
image files are divided by 255; float arrays must already be in [0,1]. Labels
come back as int64 (N,), from (N,), (N, 1) or one-hot. Every problem is one
`KerasllError` line naming the source and what is wrong.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerasll.errors import KerasllError, requires

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


@dataclass(frozen=True)
class TestData:
    """Images and labels with what they are.

    Attributes:
        x: float32 images (N, H, W, C) in [0,1]; y: int64 labels (N,).
        name: the source as given.
        dataset: the registered data set whose presets (ε, radius) apply, or None.
        tag: the eval.json key suffix naming these images ("" for a registered data
            set's own test split, "-embedded" for the bundled subset, "-data<hash>" otherwise).
        class_names: the folder's or tfds's class names, when known.
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    name: str
    dataset: str | None = None
    tag: str = ""
    class_names: tuple | None = None

    def limited(self, limit):
        """The first `limit` images (all when None)."""
        if limit is None:
            return self
        if int(limit) < 1:
            raise KerasllError(f"--limit must be ≥ 1, got {limit}")
        return TestData(self.x[:limit], self.y[:limit], self.name, self.dataset, self.tag, self.class_names)


def load_data(source, split="test", keys=("x", "y"), image_shape=None, data_dir=None, where="auto", limit=None,
              batched=None):
    """Test data from `source` (see module doc), as a `TestData` or a batched `tf.data.Dataset`.

    Args:
        source: a registered data set name, a ``.npz`` path, an image folder or ``tfds:NAME[:SPLIT]``.
        split: the split of a registered data set ("train" or "test").
        keys: the image and label arrays' names in a ``.npz`` (or features of a tfds set
            without supervised keys).
        image_shape: (H, W, C) the model takes: an image folder is read at that size and
            colour mode (default: its first image's).
        data_dir: where a registered data set's files, or tensorflow-datasets' data, are.
        where: for a registered data set, where to look ("auto", "embedded", …; see `load_dataset`).
        limit: keep the first N images.
        batched: a batch size: return a `tf.data.Dataset` of (x, y) batches of that size instead.

    Example:
        >>> data = kerasll.load_data("my_test_set.npz")
        >>> kerasll.autoattack(model, data.x, data.y, eps=8/255)
    """
    data = _load(str(source), split, tuple(keys), image_shape, data_dir, where).limited(limit)
    if batched is not None:
        tf = requires("tensorflow", "load_data(batched=...), a tf.data.Dataset,", "leave batched out for NumPy arrays")

        return tf.data.Dataset.from_tensor_slices((data.x, data.y)).batch(int(batched))
    return data


def _load(source, split, keys, image_shape, data_dir, where):
    from kerasll.datasets.loading import load_dataset
    from kerasll.datasets.registry import list_datasets

    if source.startswith("tfds:"):
        return _from_tfds(source, keys, data_dir)
    path = Path(source).expanduser()
    if source in list_datasets() and not path.exists():
        x, y = load_dataset(source, split, data_dir=data_dir, source=where)
        return TestData(x, y, source, source, "-embedded" if where == "embedded" else "")
    if path.suffix == ".npz":
        if not path.is_file():
            raise KerasllError(f"data file {path} does not exist")
        return _from_npz(path, keys)
    if path.is_dir():
        return _from_folder(path, image_shape)
    raise KerasllError(f"unknown data {source!r}: give a .npz file, a folder with one subfolder per class, "
                       f"tfds:NAME[:SPLIT], or a registered data set ({', '.join(list_datasets())})")


def _tagged(x, y, name, dataset=None, class_names=None):
    x, y = _images(x, name), _labels(y, len(x), name)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:10]
    return TestData(x, y, name, dataset, f"-data{digest}", class_names)


def _from_npz(path, keys):
    if len(keys) != 2 or not all(keys):
        raise KerasllError(f"--data-keys must name two arrays, images and labels, e.g. x,y; got {','.join(keys)!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise KerasllError(f"{path} has no array {missing[0]!r}; its arrays: {', '.join(data.files) or 'none'} "
                                   "(name them with --data-keys IMAGES,LABELS)")
            x, y = data[keys[0]], data[keys[1]]
    except KerasllError:
        raise
    except Exception as error:  # not a zip, pickled objects, truncated file
        raise KerasllError(f"{path} is not a readable .npz file ({str(error).splitlines()[0][:120]})") from None
    return _tagged(x, y, str(path))


def _images(x, name):
    x = np.asarray(x)
    if x.size == 0 or len(x) == 0:
        raise KerasllError(f"{name} holds no images (an empty set)")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or not np.issubdtype(x.dtype, np.number) or \
            np.issubdtype(x.dtype, np.complexfloating):
        raise KerasllError(f"{name}: images of shape {x.shape} and type {x.dtype} are not images; expected numbers "
                           "shaped (N, H, W) or (N, H, W, C) with C = 1, 3 or 4")
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        if x.min() < 0 or x.max() > 255:
            raise KerasllError(f"{name}: integer pixels span [{x.min()}, {x.max()}]; expected 0–255")
        return (x.astype(np.float32) / 255.0).astype(np.float32)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise KerasllError(f"{name}: the images hold NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1 + 1e-6:
        raise KerasllError(f"{name}: float pixels span [{lo:g}, {hi:g}], but kerasll attacks images in [0,1]: divide "
                           "by 255 (or store uint8); a model that expects 0–255 takes --input-scale 255")
    return x


def _labels(y, n, name):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = np.argmax(y, -1)
    y = y.reshape(-1) if y.ndim <= 2 else y
    if y.ndim != 1 or len(y) != n:
        raise KerasllError(f"{name}: {n} images but labels of shape {np.shape(y)}; expected ({n},)")
    if not np.issubdtype(y.dtype, np.number) or (np.issubdtype(y.dtype, np.floating) and
                                                  not np.all(np.isfinite(y) & (y == np.round(y)))):
        raise KerasllError(f"{name}: labels must be class indices (integers), got type {y.dtype}")
    return y.astype(np.int64)


def _from_folder(folder, image_shape):
    import keras

    requires("tensorflow", f"reading the image folder {folder}", "save the images as a .npz of x (N, H, W, C) in "
             "[0, 1] and integer y, and pass that to --data")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise KerasllError(f"{folder} has no class subfolders: put each class's images in a subfolder of its own "
                           f"({folder}/CLASS/IMAGE.png)")
    if image_shape is None:
        image_shape = _first_image_shape(folder, classes)
    height, width, channels = image_shape
    modes = {1: "grayscale", 3: "rgb", 4: "rgba"}
    if channels not in modes:
        raise KerasllError(f"the model takes {channels} channels; image folders give 1 (grayscale), 3 or 4")
    try:
        ds = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", class_names=classes, color_mode=modes[channels],
            image_size=(height, width), shuffle=False, batch_size=256, verbose=False)
    except ValueError as error:
        raise KerasllError(f"{folder}: {str(error).splitlines()[0][:160]}") from None
    xs, ys = [], []
    for xb, yb in ds:
        xs.append(xb.numpy())
        ys.append(yb.numpy())
    if not xs:
        raise KerasllError(f"{folder} holds no images (an empty set); image files: {', '.join(IMAGE_SUFFIXES)}")
    x = np.clip(np.concatenate(xs) / 255.0, 0.0, 1.0).astype(np.float32)
    return _tagged(x, np.concatenate(ys), str(folder), class_names=tuple(classes))


def _first_image_shape(folder, classes):
    tf = requires("tensorflow", f"reading the image folder {folder}", "save the images as a .npz and pass that")

    for c in classes:
        for p in sorted((folder / c).iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                shape = tf.io.decode_image(tf.io.read_file(str(p)), expand_animations=False).shape
                return tuple(int(d) for d in shape)
    raise KerasllError(f"{folder} holds no images (an empty set); image files: {', '.join(IMAGE_SUFFIXES)}")


def _from_tfds(source, keys, data_dir):
    tfds = requires("tensorflow_datasets", f"the source {source!r}", "export the split to a .npz of x and y and "
                    "pass that to --data")

    from kerasll.datasets.registry import list_datasets

    parts = source.split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise KerasllError(f"tfds data is named tfds:NAME[:SPLIT], e.g. tfds:fashion_mnist:test; got {source!r}")
    name, split = parts[1], parts[2] if len(parts) == 3 and parts[2] else "test"
    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
        ds = builder.as_dataset(split=split, as_supervised=builder.info.supervised_keys is not None)
    except Exception as error:  # not registered, not prepared, unknown split
        where = data_dir or "the default tensorflow-datasets data dir"
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise KerasllError(f"tensorflow-datasets {name!r} (split {split!r}) is not prepared in {where}: {reason}; "
                           "kerasll never downloads here: prepare it with tensorflow-datasets and pass --data-dir") \
            from None
    xs, ys = [], []
    for item in tfds.as_numpy(ds.batch(1024)):
        if isinstance(item, dict):
            if keys == ("x", "y") and keys[0] not in item:  # tfds's own convention
                keys = ("image", "label")
            if keys[0] not in item or keys[1] not in item:
                raise KerasllError(f"tfds {name!r} has no features {keys[0]!r} and {keys[1]!r}; its features: "
                                   f"{', '.join(item)} (name them with --data-keys IMAGES,LABELS)")
            item = (item[keys[0]], item[keys[1]])
        xs.append(item[0])
        ys.append(item[1])
    if not xs:
        raise KerasllError(f"tfds {name!r} split {split!r} holds no images (an empty set)")
    label = builder.info.features[builder.info.supervised_keys[1] if builder.info.supervised_keys else keys[1]] \
        if (builder.info.supervised_keys or keys[1] in builder.info.features) else None
    names = tuple(label.names) if hasattr(label, "names") else None
    return _tagged(np.concatenate(xs), np.concatenate(ys), source, name if name in list_datasets() else None, names)
