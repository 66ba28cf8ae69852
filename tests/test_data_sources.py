"""`load_data`: .npz files, image folders and tfds sets become [0,1] images, or one clear error."""

import numpy as np
import pytest

import kerasll as kl
from kerasll.datasets.sources import load_data
from helpers import IMAGES, LABELS, prepare_tfds, write_folder

@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return prepare_tfds(tmp_path_factory.mktemp("tfds"))


def test_npz_uint8_is_scaled_and_keys_can_be_renamed(tmp_path):
    np.savez(tmp_path / "d.npz", images=IMAGES, targets=np.eye(4)[LABELS])  # one-hot labels
    data = load_data(tmp_path / "d.npz", keys=("images", "targets"))
    assert data.x.dtype == np.float32 and data.x.shape == (12, 8, 8, 1)
    assert np.array_equal(data.x, IMAGES / np.float32(255)) and np.array_equal(data.y, LABELS)
    assert data.dataset is None and data.tag.startswith("-data")
    ds = load_data(tmp_path / "d.npz", keys=("images", "targets"), batched=5)
    assert [len(b[0]) for b in ds] == [5, 5, 2]


def test_folder_and_tfds_give_the_same_images_as_the_arrays(tmp_path, tfds_dir):
    folder = load_data(write_folder(tmp_path / "imgs"))
    order = np.argsort(LABELS, kind="stable")  # a folder lists class by class
    assert np.array_equal(folder.x, IMAGES[order] / np.float32(255)) and np.array_equal(folder.y, LABELS[order])
    assert folder.class_names == ("class0", "class1", "class2", "class3")
    from_tfds = load_data("tfds:tiny_shapes", data_dir=tfds_dir)
    assert from_tfds.dataset is None
    assert sorted(map(bytes, from_tfds.x)) == sorted(map(bytes, IMAGES / np.float32(255)))
    assert len(load_data("tfds:tiny_shapes:train", data_dir=tfds_dir).x) == 4


def test_registered_names_keep_their_presets():
    data = load_data("fashion_mnist", where="embedded", limit=7)
    assert data.dataset == "fashion_mnist" and data.tag == "-embedded" and len(data.x) == 7


@pytest.mark.parametrize("make,needle", [
    (lambda p: np.savez(p / "d.npz", x=IMAGES), "has no array 'y'; its arrays: x"),
    (lambda p: np.savez(p / "d.npz", x=IMAGES[:0], y=LABELS[:0]), "no images (an empty set)"),
    (lambda p: np.savez(p / "d.npz", x=np.zeros((4, 10)), y=np.zeros(4)), "are not images"),
    (lambda p: np.savez(p / "d.npz", x=IMAGES * 2.0, y=LABELS), "float pixels span [0, 510]"),
    (lambda p: np.savez(p / "d.npz", x=IMAGES, y=LABELS[:5]), "12 images but labels of shape (5,)"),
    (lambda p: np.savez(p / "d.npz", x=IMAGES, y=LABELS + 0.5), "labels must be class indices"),
    (lambda p: (p / "d.npz").write_text("not a zip"), "is not a readable .npz file"),
])
def test_bad_npz_files_are_one_clear_line(tmp_path, make, needle):
    make(tmp_path)
    with pytest.raises(kl.KerasllError, match=None) as error:
        load_data(tmp_path / "d.npz")
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_bad_folders_and_names_are_one_clear_line(tmp_path, tfds_dir):
    (tmp_path / "flat").mkdir()
    with pytest.raises(kl.KerasllError, match="has no class subfolders"):
        load_data(tmp_path / "flat")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(kl.KerasllError, match="no images"):
        load_data(tmp_path / "empty")
    with pytest.raises(kl.KerasllError, match="unknown data 'nothing-here'"):
        load_data("nothing-here")
    with pytest.raises(kl.KerasllError, match="is not prepared"):
        load_data("tfds:tiny_shapes", data_dir=tmp_path)
    with pytest.raises(kl.KerasllError, match="tfds:NAME"):
        load_data("tfds:")


def test_a_source_that_needs_tensorflow_datasets_says_so_in_one_line_where_it_is_missing(monkeypatch):
    """On a machine with JAX or PyTorch and no TensorFlow, `tfds:` data is refused naming what is missing and
    what to pass instead."""
    import sys

    from kerasll.errors import KerasllError

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # as if not installed
    with pytest.raises(KerasllError) as error:
        load_data("tfds:fashion_mnist:test")
    assert str(error.value) == ("the source 'tfds:fashion_mnist:test' needs tensorflow_datasets, which is not "
                                "installed here: export the split to a .npz of x and y and pass that to --data")
