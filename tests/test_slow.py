"""Real training runs (minutes): `python -m pytest -m slow`."""

import keras
import pytest

import kerasll as kl
from kerasll.evaluation import accuracy, attack_settings, robust_accuracy

pytestmark = pytest.mark.slow


def trained(defense, fmnist, epochs=8):
    x, y, _, _ = fmnist
    keras.utils.set_random_seed(0)
    net = kl.build_model("lenet", (28, 28, 1), 10)
    model = {"none": lambda: net, "amsreg": lambda: kl.AMSRegModel(net, 0.5, seed=0),
             "at": lambda: kl.AdversarialTrainingModel(net, 10 / 255, seed=0)}[defense]()
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(kl.make_pipeline(x, y, 128), epochs=epochs, verbose=0)
    return model


def test_defenses_flatten_and_robustify_on_real_images(fmnist):
    """The paper's claim 1 on the embedded subset: defenses raise Φ and PGD accuracy."""
    _, _, xt, yt = fmnist
    settings = attack_settings("fashion_mnist")
    results = {}
    for defense in ("none", "amsreg", "at"):
        model = trained(defense, fmnist)
        results[defense] = (accuracy(model, xt, yt), robust_accuracy(model, xt, yt, settings),
                            kl.flatness(model, xt[:300]).phi)
    assert results["none"][0] > 0.75
    for defense in ("amsreg", "at"):
        clean, robust, phi = results[defense]
        assert clean > 0.65
        assert phi > 2 * results["none"][2]  # |Φ| at least halved
        assert robust > results["none"][1] + 0.1
