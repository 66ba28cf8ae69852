import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the kernels the `kerasll` command runs (kerasll.numerics)

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fmnist():
    """The embedded Fashion-MNIST subset: (x_train, y_train, x_test, y_test)."""
    from kerasll import load_dataset

    x, y = load_dataset("fashion_mnist", "train", source="embedded")
    xt, yt = load_dataset("fashion_mnist", "test", source="embedded")
    return x, y, xt, yt


@pytest.fixture(scope="session")
def trained_lenet(fmnist):
    """A LeNet trained briefly on the embedded subset (shared by attack tests)."""
    from kerasll import build_model

    x, y, _, _ = fmnist
    keras.utils.set_random_seed(0)
    model = build_model("lenet", (28, 28, 1), 10)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    return model


@pytest.fixture(scope="session")
def cifar_release(tmp_path_factory):
    """`make(n_train, n_test)`: a folder holding a generated CIFAR-10 release, written by the script users run
    for the same purpose (scripts/make_cifar_like.py, as a command)."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "make_cifar_like.py"

    def make(n_train, n_test):
        out = tmp_path_factory.mktemp("cifar")
        subprocess.run([sys.executable, str(script), "--out", str(out), "--train", str(n_train), "--test", str(n_test)],
                       check=True, capture_output=True)
        return out
    return make


@pytest.fixture(scope="session")
def model_file(trained_lenet, tmp_path_factory):
    """`trained_lenet` saved as a .keras file, for tests that start `kerasll` processes."""
    path = tmp_path_factory.mktemp("model") / "lenet.keras"
    trained_lenet.save(path)
    return path
