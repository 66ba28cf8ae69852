"""Models that end in a softmax are evaluated on their logits; other probability outputs are refused."""

import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import kerasll as kl
from helpers import small_cnn
from kerasll.cli.main import app


def _endings(base):
    """The ways a Keras classifier ends in a softmax, each around `base`'s logits."""
    inputs = keras.Input(base.input_shape[1:])
    z = base(inputs)
    layer = keras.Model(inputs, keras.layers.Softmax()(z))
    activation = keras.Model(inputs, keras.layers.Activation("softmax")(z))
    log_softmax = keras.Model(inputs, keras.layers.Activation("log_softmax")(z))
    nested = keras.Model(inputs, layer(inputs))  # a classifier with its softmax inside a sub-model
    # Dense(activation="softmax"): the last layer's own activation; its linear part is the logits.
    x = keras.Input((6, 6, 1))
    h = keras.layers.Flatten()(x)
    dense = keras.layers.Dense(4, activation="softmax")
    fused = keras.Model(x, dense(h))
    plain = keras.Model(x, keras.layers.Dense(4, name="same")(h))
    plain.get_layer("same").set_weights(dense.get_weights())
    sequential = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax")])
    return {"Softmax layer": (layer, base), "Activation": (activation, base), "log_softmax": (log_softmax, base),
            "nested": (nested, base), "Dense(activation=softmax)": (fused, plain), "Sequential": (sequential, None)}


@pytest.mark.parametrize("ending", ["Softmax layer", "Activation", "log_softmax", "nested",
                                    "Dense(activation=softmax)", "Sequential"])
def test_a_final_softmax_is_removed_and_the_logits_are_the_original_ones(ending):
    base = small_cnn((6, 6, 1), 4)
    model, logits = _endings(base)[ending]
    x = np.random.default_rng(0).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    stripped, note = kl.as_logits(model, x, name="m.keras")
    assert note is not None and "m.keras ends in a softmax" in note
    if logits is None:  # the Sequential: its softmax's input is its Dense layer's linear part
        dense = model.layers[-1]
        logits_now = x.reshape(5, -1) @ dense.get_weights()[0] + dense.get_weights()[1]
    else:
        logits_now = np.asarray(logits(x))
    np.testing.assert_allclose(np.asarray(stripped(x)), logits_now, rtol=1e-5, atol=1e-6)
    assert kl.as_logits(stripped, x)[1] is None  # logits stay as they are


def test_probabilities_from_a_layer_kerasll_cannot_see_into_are_refused():
    from devtools.masked import saturated

    base = small_cnn((6, 6, 1), 4)
    x = np.random.default_rng(0).uniform(size=(5, 6, 6, 1)).astype(np.float32)
    with pytest.raises(kl.KerasllError, match="returns probabilities .* pass a model that returns logits"):
        kl.as_logits(saturated(base), x, name="m.keras")
    model, note = kl.as_logits(base, x)
    assert model is base and note is None


@pytest.mark.pipeline  # a whole CLI run: CI runs it (`-m pipeline`)
def test_a_softmax_ending_model_gets_the_numbers_of_its_logits(trained_lenet, tmp_path):
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Softmax()(trained_lenet(inputs))).save(tmp_path / "soft.keras")
    trained_lenet.save(tmp_path / "plain.keras")
    runner, outs = CliRunner(), {}
    for name in ("soft", "plain"):
        result = runner.invoke(app, [str(a) for a in (
            "eval", tmp_path / f"{name}.keras", "--dataset", "fashion_mnist", "--source", "embedded", "--limit", "16",
            "--attack", "autoattack", "--version", "fast", "--flatness", "--json", tmp_path / f"{name}.json")])
        assert result.exit_code == 0, result.output
        assert ("ends in a softmax: evaluating its pre-softmax logits" in result.output) == (name == "soft")
        outs[name] = json.loads((tmp_path / f"{name}.json").read_text())
    soft, plain = outs["soft"], outs["plain"]
    for field in ("clean_accuracy", "robust_accuracy", "by_attack", "flags"):
        assert soft["attack"][field] == plain["attack"][field], field
    assert not soft["attack"]["flags"]  # no `probabilities` flag: the logits were evaluated
    assert soft["flatness"]["phi"] == pytest.approx(plain["flatness"]["phi"], rel=1e-5)
