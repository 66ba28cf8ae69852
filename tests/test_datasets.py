import tarfile

import numpy as np
import pytest
import tensorflow as tf

import kerasll as kl
from devtools.idx import write_idx
from kerasll.datasets import formats, loading


def fake_images(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n,) + shape, dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.fixture
def no_system_sources(monkeypatch, tmp_path):
    """Point the system locations and tfds at empty folders."""
    monkeypatch.setattr(loading, "SYSTEM_DIRS", {"fashion_mnist": [tmp_path / "none"], "cifar10": [tmp_path / "none"]})
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(loading, "_from_tfds", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError("no prepared data")))


@pytest.mark.parametrize("ext", [".gz", ""])
def test_fashion_mnist_from_idx_files(tmp_path, ext):
    for split, n in (("train", 12), ("test", 5)):
        images, labels = fake_images(n, (28, 28), seed=n)
        img_name, lab_name = formats.IDX_FILES[split]
        write_idx(tmp_path / f"{img_name}{ext}", images)
        write_idx(tmp_path / f"{lab_name}{ext}", labels)
    x, y = kl.load_dataset("fashion_mnist", "test", data_dir=tmp_path)
    images, labels = fake_images(5, (28, 28), seed=5)
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[..., 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(y, labels)


def test_idx_reader_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="IDX"):
        formats.read_idx(tmp_path / "bad")


def make_cifar_folder(root):
    folder = root / formats.CIFAR_FOLDER
    folder.mkdir(parents=True)
    for i, name in enumerate(formats.CIFAR_BATCHES["train"] + formats.CIFAR_BATCHES["test"]):
        formats.write_cifar_batch(folder / name, *fake_images(4, (32, 32, 3), seed=i))
    return folder


@pytest.mark.parametrize("packed", [False, True])
def test_cifar10_from_python_release(tmp_path, packed):
    folder = make_cifar_folder(tmp_path / "src")
    root = tmp_path / "src"
    if packed:
        root = tmp_path / "packed"
        root.mkdir()
        with tarfile.open(root / formats.CIFAR_TARBALL, "w:gz") as tar:
            tar.add(folder, arcname=formats.CIFAR_FOLDER)
    x, y = kl.load_dataset("cifar10", "train", data_dir=root)
    assert x.shape == (20, 32, 32, 3) and y.shape == (20,)
    images, labels = fake_images(4, (32, 32, 3), seed=0)
    np.testing.assert_allclose(x[:4] * 255, images, atol=1e-4)  # channel order restored
    xt, yt = kl.load_dataset("cifar10", "test", data_dir=root)
    assert xt.shape == (4, 32, 32, 3)


@pytest.mark.parametrize("source", ["tfds", "download"])
@pytest.mark.parametrize("name,shape", [("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tensorflow_datasets_source(name, shape, source):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        x, y = kl.load_dataset(name, "test", source=source)
    assert x.shape == (6,) + shape and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and y.dtype == np.int64


def test_embedded_subset_is_balanced_and_real():
    x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
    xt, yt = kl.load_dataset("fashion_mnist", "test", source="embedded")
    assert x.shape == (5000, 28, 28, 1) and xt.shape == (1000, 28, 28, 1)
    assert np.all(np.bincount(y) == 500) and np.all(np.bincount(yt) == 100)
    assert 0.2 < x.mean() < 0.4  # real images (Fashion-MNIST's mean is 0.286), not noise


def test_missing_data_names_every_place_tried(no_system_sources, tmp_path):
    with pytest.raises(kl.DataNotFoundError) as info:
        kl.load_dataset("fashion_mnist", "train")
    message = str(info.value)
    assert str(tmp_path / "none") in message and "tensorflow-datasets" in message
    assert "dataset-fashion-mnist" in message and "embedded" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(kl.DataNotFoundError, match="cifar-10-python.tar.gz"):
        kl.load_dataset("cifar10", "test", data_dir=tmp_path / "empty")
    with pytest.raises(kl.DataNotFoundError, match="data_dir .*missing does not exist"):
        kl.load_dataset("cifar10", "test", data_dir=tmp_path / "missing")


@pytest.mark.parametrize("bad", [dict(name="mnist"), dict(split="val"), dict(source="web")])
def test_bad_arguments(bad):
    args = dict(name="fashion_mnist", split="test", source="embedded") | bad
    with pytest.raises(kl.KerasllError, match="valid choices"):
        kl.load_dataset(**args)


def test_pipeline_batches_and_augments():
    x = np.random.default_rng(0).uniform(size=(10, 32, 32, 3)).astype(np.float32)
    y = np.arange(10)
    ds = kl.make_pipeline(x, y, batch_size=4, training=True, augment="crop_flip", seed=1)
    epochs = [np.concatenate([b[0].numpy() for b in ds]) for _ in range(2)]
    assert epochs[0].shape == (10, 32, 32, 3)
    assert not np.allclose(np.sort(epochs[0].ravel()), np.sort(x.ravel()))  # padded/cropped
    assert not np.allclose(epochs[0], epochs[1])  # new augmentation every epoch
    plain = np.concatenate([b[0].numpy() for b in kl.make_pipeline(x, y, 4, training=False)])
    np.testing.assert_array_equal(plain, x)
    assert isinstance(ds, tf.data.Dataset)


def test_augmentation_is_redrawn_each_epoch_even_without_reshuffling():
    """One image: the order cannot change, so a different second pass can only be new augmentation."""
    x = np.random.default_rng(1).uniform(size=(1, 32, 32, 3)).astype(np.float32)
    ds = kl.make_pipeline(x, np.zeros(1), batch_size=1, training=True, augment="crop_flip", seed=3)
    passes = [next(iter(ds))[0].numpy() for _ in range(4)]
    assert sum(not np.allclose(passes[0], p) for p in passes[1:]) >= 2


def test_epoch_order_is_a_function_of_seed_and_epoch():
    """Epoch e's order does not depend on how many passes this process made: resumed runs continue it."""
    x = np.arange(20, dtype=np.float32).reshape(20, 1, 1, 1)
    y = np.arange(20)
    first = kl.make_pipeline(x, y, batch_size=20, seed=5)
    orders = [next(iter(first))[1].numpy() for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch
    epoch = tf.Variable(2, dtype=tf.int64)
    resumed = kl.make_pipeline(x, y, batch_size=20, seed=5, epoch=epoch)
    np.testing.assert_array_equal(next(iter(resumed))[1].numpy(), orders[2])
