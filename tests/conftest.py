import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # the kernels the `kerasll` command runs (kerasll.numerics)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def small_cnn(input_shape=(6, 6, 1), num_classes=4, dtype="float32", seed=0):
    """A tiny conv net with a max-pool (a non-smooth op, like the real models)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, dtype=dtype)
    x = keras.layers.Conv2D(3, 3, activation="tanh", dtype=dtype)(inputs)
    x = keras.layers.MaxPooling2D(2, dtype=dtype)(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(8, activation="tanh", dtype=dtype)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, dtype=dtype)(x))


def linear_model(dim=12, num_classes=5, seed=0):
    """Logits = W·flatten(x) + b on (dim,) inputs, with W, b returned in numpy."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(dim, num_classes)).astype(np.float32)
    b = rng.normal(size=num_classes).astype(np.float32)
    inputs = keras.Input((dim,))
    dense = keras.layers.Dense(num_classes)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w, b])
    return model, w, b


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
    """`make(n_train, n_test)`: a folder holding a generated CIFAR-10 release (scripts/make_cifar_like.py)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "make_cifar_like.py"
    spec = importlib.util.spec_from_file_location("make_cifar_like", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def make(n_train, n_test):
        out = tmp_path_factory.mktemp("cifar")
        module.write_release(out, n_train=n_train, n_test=n_test)
        return out
    return make


@pytest.fixture(scope="session")
def model_file(trained_lenet, tmp_path_factory):
    """`trained_lenet` saved as a .keras file, for tests that start `kerasll` processes."""
    path = tmp_path_factory.mktemp("model") / "lenet.keras"
    trained_lenet.save(path)
    return path
