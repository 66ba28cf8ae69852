import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from helpers import small_cnn

import kerasll as kl

DEFENSES = {
    "amsreg": lambda m: kl.AMSRegModel(m, strength=0.5, seed=1),
    "amsreg_exact": lambda m: kl.AMSRegModel(m, strength=0.5, estimator="exact", seed=1),
    "jacreg": lambda m: kl.JacobianRegModel(m, strength=0.01, projections=2, seed=1),
    "at": lambda m: kl.AdversarialTrainingModel(m, eps=10 / 255, steps=3, seed=1),
    "fastat": lambda m: kl.FastAdversarialTrainingModel(m, eps=10 / 255, seed=1),
    "adflat_gradient": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="gradient", seed=1),
    "adflat_difference": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="difference", seed=1),
    "adflat_at_difference": lambda m: kl.AttackFlatteningModel(m, 1.0, variant="at-difference", seed=1),
}
EXTRA = {"amsreg": "penalty", "amsreg_exact": "penalty", "jacreg": "penalty", "at": "robust_accuracy",
         "fastat": "robust_accuracy", "adflat_gradient": "penalty", "adflat_difference": "penalty",
         "adflat_at_difference": "penalty"}


def compiled(name, seed=0):
    keras.utils.set_random_seed(seed)
    model = DEFENSES[name](kl.build_model("lenet", (28, 28, 1), 10))
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


VARIANTS = ("amsreg_exact", "adflat_difference", "adflat_at_difference")  # a variant of a defense above: long group


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.pipeline) if n in VARIANTS else n
                                  for n in sorted(DEFENSES)])
def test_fit_lowers_loss_reports_its_metric_and_round_trips(fmnist, name, tmp_path):
    """One fit per defense: the loss falls, the train-only metric is logged, and the .keras file reloads it."""
    x, y, xt, yt = fmnist
    model = compiled(name)
    history = model.fit(x[:768], y[:768], batch_size=64, epochs=2, verbose=0,
                        validation_data=(xt[:128], yt[:128]),
                        callbacks=[keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))]).history
    assert history["loss"][-1] < history["loss"][0]
    assert EXTRA[name] in history and np.all(np.isfinite(history[EXTRA[name]]))
    assert f"val_{EXTRA[name]}" not in history  # train-only quantity
    assert "val_accuracy" in history and (tmp_path / "log.csv").exists()

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    as_json = lambda m: json.dumps(m.get_config(), sort_keys=True, default=str)  # noqa: E731
    assert as_json(loaded) == as_json(model)
    np.testing.assert_array_equal(loaded.predict(xt[:8], verbose=0), model.predict(xt[:8], verbose=0))


@pytest.mark.pipeline
@pytest.mark.parametrize("name", ["amsreg", "at"])
def test_seeded_runs_repeat(fmnist, name):
    x, y, _, _ = fmnist
    losses = []
    for _ in range(2):
        model = compiled(name, seed=3)
        losses.append(model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


def test_penalty_is_the_stated_quantity():
    """AMSReg-exact's penalty equals mean ‖∇x log p‖² at the pre-step weights."""
    keras.utils.set_random_seed(0)
    net = small_cnn(num_classes=4)
    model = kl.AMSRegModel(net, strength=0.0, estimator="exact")
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).uniform(size=(8, 6, 6, 1)).astype(np.float32)
    y = np.arange(8) % 4
    expected = np.mean(np.sum(kl.grad_log_px(net, x).numpy() ** 2, axis=(1, 2, 3)))
    penalty = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["penalty"][0]
    np.testing.assert_allclose(penalty, expected, rtol=1e-4)


def test_attack_leaves_batchnorm_statistics_alone():
    keras.utils.set_random_seed(0)
    net = kl.build_model("resnet18", (8, 8, 3), 3, widths=(4, 4, 4, 4))
    model = kl.AdversarialTrainingModel(net, eps=0.1, steps=2, seed=0)
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype(np.float32)
    before = [v.numpy().copy() for v in net.non_trainable_variables]
    model.adversarial_examples(x, np.arange(4) % 3)
    for a, b in zip(before, net.non_trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())


@pytest.mark.parametrize("bad", [dict(strength=-1.0), dict(projections=0), dict(estimator="approx")])
def test_bad_arguments(bad):
    args = dict(strength=1.0) | bad
    with pytest.raises(kl.KerasllError):
        kl.AMSRegModel(small_cnn(), **args)


@pytest.mark.pipeline
def test_mixed_precision_train_step_is_finite(fmnist):
    x, y, _, _ = fmnist
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for name in ("amsreg", "at"):
            model = compiled(name)
            history = model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0).history
            assert np.isfinite(history["loss"][0]) and np.isfinite(history[EXTRA[name]][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.pipeline
def test_mirrored_strategy_on_two_logical_cpus():
    """The tf.distribute path, on two logical CPU devices in a fresh process."""
    code = textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras, numpy as np, kerasll as kl
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
        with strategy.scope():
            for make in (lambda m: kl.AMSRegModel(m, 0.5, seed=0), lambda m: kl.AdversarialTrainingModel(m, 0.05, steps=2, seed=0)):
                model = make(kl.build_model("lenet", (28, 28, 1), 10))
                model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
                h = model.fit(x[:256], y[:256], batch_size=64, epochs=2, verbose=0).history
                assert strategy.num_replicas_in_sync == 2
                assert h["loss"][1] < h["loss"][0], h
        print("OK")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


@pytest.mark.pipeline
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_with_xla_and_double_backprop_through_max_pooling(policy):
    """XLA has no half-precision MaxPoolGradGrad: kerasll's pooling runs in float32 under mixed precision."""
    x = np.random.default_rng(0).uniform(size=(16, 28, 28, 1)).astype(np.float32)
    y = np.arange(16) % 10
    losses = {}
    for mode in ("float32", policy):
        keras.mixed_precision.set_global_policy(mode)
        try:
            keras.utils.set_random_seed(0)
            model = kl.AMSRegModel(kl.build_model("lenet", dataset="fashion_mnist"), 0.5, estimator="exact", seed=0)
            model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=mode != "float32")
            losses[mode] = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
        finally:
            keras.mixed_precision.set_global_policy("float32")
    # Same initial weights (same seed), lr 0: the loss differs by rounding only. Stated tolerance:
    # 1% for float16 (10-bit mantissa), 5% for bfloat16 (7-bit mantissa).
    tol = 0.01 if policy == "mixed_float16" else 0.05
    np.testing.assert_allclose(losses[policy]["loss"][0], losses["float32"]["loss"][0], rtol=tol)
    np.testing.assert_allclose(losses[policy]["penalty"][0], losses["float32"]["penalty"][0], rtol=5 * tol)
