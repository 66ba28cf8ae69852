import numpy as np
import pytest

import kerasll as kl


@pytest.mark.parametrize("name", ["lenet", "ddnet"])
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_paper_shapes_give_logits(name, shape):
    model = kl.build_model(name, shape, 10)
    out = model(np.zeros((2,) + shape, np.float32))
    assert out.shape == (2, 10) and str(out.dtype) == "<dtype: 'float32'>"


def test_lenet_matches_method_md_parameter_count():
    # conv 6@5×5 (156) + conv 16@5×5 (2416) + 400→120 (48120) + 120→84 (10164) + 84→10 (850)
    assert kl.build_model("lenet", (28, 28, 1), 10).count_params() == 61706  # Normalization given mean/std has no weights


def test_ddnet_widths():
    model = kl.build_model("ddnet", (32, 32, 3), 10)
    widths = [model.get_layer(n).filters for n in ("conv1", "conv2", "conv3", "conv4")]
    assert widths == [64, 64, 128, 128]
    assert model.get_layer("dropout").rate == 0.5


def test_resnet18_structure_on_tiny_inputs():
    model = kl.build_model("resnet18", (16, 16, 3), 10)
    assert model(np.zeros((2, 16, 16, 3), np.float32)).shape == (2, 10)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv") and "shortcut" not in layer.name]
    assert len(convs) == 17  # stem + 8 blocks × 2; + dense = 18 layers
    assert len([layer for layer in model.layers if "shortcut_conv" in layer.name]) == 3
    assert not any("max_pool" in layer.name for layer in model.layers)


def test_normalization_is_inside_the_model():
    model = kl.build_model("lenet", (28, 28, 1), 10)
    assert model.get_layer("normalize") is not None


def test_registry_lists_and_rejects():
    assert kl.list_models() == ["ddnet", "lenet", "mlp", "resnet18"]
    assert kl.list_models("res*") == ["resnet18"]
    with pytest.raises(kl.KerasllError, match="valid choices: ddnet, lenet, mlp, resnet18"):
        kl.build_model("vgg16", (32, 32, 3), 10)


def test_the_mlp_has_200_relus_and_the_exact_verifier_reads_it():
    """The small network `kl.verify(method="milp")` decides: flatten → 100 → 100 → C, ReLU."""
    from kerasll.verification.network import chain, relu_count

    model = kl.build_model("mlp", (28, 28, 1), 10)
    assert model.count_params() == 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    assert relu_count(chain(model)[0]) == 200
