"""Defenses beyond the paper (adflat, fastat), coupled weight decay and the defense registry."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import linear_model

import kerasll as kl
from kerasll.defenses import DefenseSpec, get_defense
from kerasll.optimizers import CoupledWeightDecaySGD


def two_class_linear(dim=16, scale=1.0, seed=0):
    """A linear model whose CE input gradient for label 0 has the constant sign of w₁ − w₀."""
    rng = np.random.default_rng(seed)
    w = rng.choice([-1.0, 1.0], size=(dim, 2)).astype(np.float32) * scale
    w[:, 1] = -w[:, 0]  # w₁ − w₀ = −2w₀: no zero entries
    inputs = keras.Input((dim,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w, np.zeros(2, np.float32)])
    return model, np.sign(w[:, 1] - w[:, 0])


# --- coupled weight decay --------------------------------------------------------------------------

def test_coupled_weight_decay_follows_the_formula_for_two_steps():
    """g ← g + wd·w before momentum: m ← 0.9m − lr·g, w ← w + m (not Keras's decoupled w ← w − lr·wd·w)."""
    lr, mom, wd = 0.1, 0.9, 0.05
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    grads = [np.array([0.5, 0.5, -1.0], np.float32), np.array([-0.2, 0.1, 0.3], np.float32)]
    var = keras.Variable(w0)
    opt = CoupledWeightDecaySGD(lr, momentum=mom, l2=wd)
    w, m = w0.astype(np.float64), np.zeros(3)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
        m = mom * m - lr * (g + wd * w)
        w = w + m
        np.testing.assert_allclose(var.numpy(), w, rtol=1e-6)
    # Keras's decoupled decay ends elsewhere: the two forms really differ.
    var2 = keras.Variable(w0)
    keras_opt = keras.optimizers.SGD(lr, momentum=mom, weight_decay=wd)
    for g in grads:
        keras_opt.apply_gradients([(tf.constant(g), var2)])
    assert np.max(np.abs(var2.numpy() - w)) > 1e-3


def test_coupled_optimizer_round_trips_and_refuses_negative_decay():
    opt = CoupledWeightDecaySGD(0.01, momentum=0.9, l2=5e-4)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, CoupledWeightDecaySGD) and again.l2 == 5e-4
    with pytest.raises(kl.KerasllError, match="l2"):
        CoupledWeightDecaySGD(l2=-1.0)


def test_training_uses_coupled_decay_by_default():
    from kerasll.zoo.config import TrainConfig
    from kerasll.zoo.training import optimizer_for

    assert isinstance(optimizer_for(TrainConfig().resolved(), 10), CoupledWeightDecaySGD)
    decoupled = optimizer_for(TrainConfig(weight_decay_mode="decoupled").resolved(), 10)
    assert not isinstance(decoupled, CoupledWeightDecaySGD) and decoupled.weight_decay == 5e-4


# --- fast adversarial training ---------------------------------------------------------------------

def test_fast_at_takes_one_fgsm_step_of_1_25_eps_from_a_random_start():
    """With a constant gradient sign s, δ = clip(u + 1.25ε·s, −ε, ε) with u ∈ [−ε, ε]: s·δ ∈ [0.25ε, ε]."""
    net, s = two_class_linear()
    eps = 0.1
    model = kl.FastAdversarialTrainingModel(net, eps=eps, seed=0)
    assert model.step_size == pytest.approx(1.25 * eps)
    x = np.full((64, 16), 0.5, np.float32)
    delta = model.adversarial_examples(x, np.zeros(64, np.int64)).numpy() - x
    signed = delta * s
    assert signed.min() >= 0.25 * eps - 1e-6 and signed.max() <= eps + 1e-6
    assert np.mean(np.isclose(signed, eps, atol=1e-6)) > 0.5  # most land on the ball's face…
    assert np.mean(signed < eps - 1e-3) > 0.1  # …but the random start leaves some inside


@pytest.mark.parametrize("bad", [dict(step_size=0.0), dict(step_size=1.5), dict(eps=0.0)])
def test_fast_at_refuses_bad_budgets(bad):
    with pytest.raises(kl.KerasllError, match="step|eps"):
        kl.FastAdversarialTrainingModel(two_class_linear()[0], **(dict(eps=0.1) | bad))


def test_guard_rolls_back_and_stops_when_heldout_pgd_accuracy_collapses():
    """Epoch 0: a robust model (100% under PGD); epoch 1: weights flipped (0%) → restore epoch 0, stop."""
    net, _ = two_class_linear(dim=4, scale=5.0)
    x = np.tile(np.array([[0.1], [0.9]], np.float32), (8, 4))  # mean pixel 0.1 → class 1, 0.9 → class 0
    y = np.tile([1, 0], 8)
    dense = net.layers[-1]
    good = [np.stack([np.ones(4), -np.ones(4)], 1).astype(np.float32) * 5.0, np.zeros(2, np.float32)]
    good[1][:] = [-10.0, 10.0]  # logit margin 10·(2·mean − 1)·2: sign flips at mean pixel 0.5
    dense.set_weights(good)
    model = kl.FastAdversarialTrainingModel(net, eps=0.05)
    guard = kl.CatastrophicOverfittingGuard(x, y, eps=0.05, steps=5, drop=0.2)
    guard.set_model(model)
    logs = {}
    guard.on_epoch_end(0, logs)
    assert logs["holdout_pgd_accuracy"] == 1.0 and not getattr(model, "stop_training", False)
    dense.set_weights([-good[0], -good[1]])
    logs = {}
    guard.on_epoch_end(1, logs)
    assert logs["holdout_pgd_accuracy"] == 0.0
    assert model.stop_training and guard.stopped_epoch == 1 and guard.best_epoch == 0
    np.testing.assert_array_equal(dense.get_weights()[0], good[0])


# --- attack-direction flattening -------------------------------------------------------------------

def lse(z):
    z = np.asarray(z, np.float64)
    top = z.max(-1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(-1, keepdims=True)))[..., 0]


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("variant", ["gradient", "difference"])
def test_adflat_penalty_matches_the_closed_form_of_a_linear_model(variant):
    """gradient: ‖Wᵀ softmax(Wx′+b)‖²; difference: (lse(Wx′+b) − lse(Wx+b))²."""
    net, w, b = linear_model(dim=12, num_classes=5)
    model = kl.AttackFlatteningModel(net, 1.0, variant=variant)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(6, 12)).astype(np.float32)
    x_adv = np.clip(x + rng.uniform(-0.05, 0.05, size=x.shape), 0, 1).astype(np.float32)
    got = model.penalty(lambda z: net(z, training=True), tf.constant(x_adv), net(x)).numpy()
    z, z_adv = x @ w + b, x_adv @ w + b
    if variant == "gradient":
        expected = np.sum((softmax(z_adv) @ w.T) ** 2, axis=1)
    else:
        expected = (lse(z_adv) - lse(z)) ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_adflat_gradient_penalty_weight_gradient_matches_finite_differences_in_float64():
    """Double backprop through ‖∇x log p̃(x′)‖² gives the weights' true gradient."""
    keras.utils.set_random_seed(1)
    kl.AMSRegModel(kl.build_model("lenet", dataset="fashion_mnist"), 1.0)  # a float32 model first: the old trap
    keras.backend.set_floatx("float64")
    try:
        rng = np.random.default_rng(0)
        inputs = keras.Input((5,), dtype="float64")
        hidden = keras.layers.Dense(4, activation="tanh", dtype="float64")
        out = keras.layers.Dense(3, dtype="float64")
        net = keras.Model(inputs, out(hidden(inputs)))
        model = kl.AttackFlatteningModel(net, 1.0, variant="gradient")  # computes in its classifier's float64
        x = tf.constant(rng.uniform(size=(4, 5)))
        x_adv = tf.constant(np.clip(x.numpy() + rng.uniform(-0.1, 0.1, size=(4, 5)), 0, 1))
        kernel = hidden.kernel

        def value():
            return tf.reduce_mean(model.penalty(net, x_adv, net(x))).numpy()

        with tf.GradientTape() as tape:
            p = tf.reduce_mean(model.penalty(net, x_adv, net(x)))
        analytic = tape.gradient(p, kernel).numpy()
        numeric = np.zeros_like(analytic)
        base = kernel.numpy()
        h = 1e-6
        for idx in np.ndindex(base.shape):
            for sign in (1, -1):
                shifted = base.copy()
                shifted[idx] += sign * h
                kernel.assign(shifted)
                numeric[idx] += sign * value() / (2 * h)
        kernel.assign(base)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)
    finally:
        keras.backend.set_floatx("float32")


def test_adflat_attack_points_step_along_the_fgsm_sign_within_the_ball():
    net, s = two_class_linear()
    eps = 0.08
    model = kl.AttackFlatteningModel(net, 1.0, eps=eps, step_size=eps, seed=0)
    x = np.full((32, 16), 0.5, np.float32)
    delta = model.attack_points(tf.constant(x), tf.zeros(32, tf.int64)).numpy() - x
    assert np.all(delta * s >= -1e-6) and np.abs(delta).max() <= eps + 1e-6


def test_adflat_loss_is_cross_entropy_plus_half_strength_times_penalty():
    net, w, b = linear_model(dim=12, num_classes=5)
    model = kl.AttackFlatteningModel(net, 3.0, variant="difference", seed=0)
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(2).uniform(size=(16, 12)).astype(np.float32)
    y = np.arange(16) % 5
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    z = x @ w + b
    ce = np.mean(lse(z) - z[np.arange(16), y])
    np.testing.assert_allclose(logs["loss"][0], ce + 1.5 * logs["penalty"][0], rtol=1e-5)
    assert logs["penalty"][0] > 0


def test_adflat_at_difference_takes_the_cross_entropy_at_the_attack_point():
    """loss = CE(f(x′), y) + (μ/2)·mean (lse f(x′) − lse f(x))², x′ the step's FGSM point."""
    net, w, b = linear_model(dim=12, num_classes=5)
    model = kl.AttackFlatteningModel(net, 3.0, variant="at-difference", eps=0.1, seed=0)
    model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    x = np.random.default_rng(2).uniform(size=(16, 12)).astype(np.float32)
    y = np.arange(16) % 5
    x_adv = model.attack_points(tf.constant(x), tf.constant(y)).numpy()  # the first step's draws (step 0)
    assert np.abs(x_adv - x).max() > 0.05
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    z, z_adv = x @ w + b, x_adv @ w + b
    penalty = np.mean((lse(z_adv) - lse(z)) ** 2)
    np.testing.assert_allclose(logs["penalty"][0], penalty, rtol=1e-4)
    np.testing.assert_allclose(logs["loss"][0], np.mean(lse(z_adv) - z_adv[np.arange(16), y]) + 1.5 * penalty,
                               rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"][0], np.mean(z_adv.argmax(-1) == y))  # metrics at x′, as AT's


def test_adflat_at_difference_at_zero_strength_is_one_fast_at_step():
    def step(make):
        net, _, _ = linear_model(dim=12, num_classes=5)
        model = make(net)
        model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)  # the same x′ for the same seed
        return net.get_weights()

    x = np.random.default_rng(3).uniform(size=(16, 12)).astype(np.float32)
    y = np.arange(16) % 5
    fast = step(lambda net: kl.FastAdversarialTrainingModel(net, eps=0.1, seed=4))
    flat = step(lambda net: kl.AttackFlatteningModel(net, 0.0, variant="at-difference", eps=0.1, seed=4))
    clean = step(lambda net: kl.AttackFlatteningModel(net, 0.0, variant="difference", eps=0.1, seed=4))
    for a, b in zip(flat, fast):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert max(np.abs(a - b).max() for a, b in zip(clean, fast)) > 1e-3  # the clean-CE variants differ


@pytest.mark.parametrize("bad, match", [
    (dict(variant="curvature"), "variant 'curvature'; valid choices: gradient, difference, at-difference"),
    (dict(strength=-0.5), "strength must be a number ≥ 0, got -0.5"),
    (dict(step_size=1.5), r"FGSM step size must be in \(0, 1\]"),
    (dict(step_size=0.0), r"FGSM step size must be in \(0, 1\]"),
])
def test_adflat_bad_arguments_name_the_value(bad, match):
    with pytest.raises(kl.KerasllError, match=match):
        kl.AttackFlatteningModel(two_class_linear()[0], **(dict(strength=1.0) | bad))


# --- the registry ----------------------------------------------------------------------------------

def test_registry_lists_every_defense_and_refuses_to_overwrite():
    assert kl.list_defenses() == ["none", "at", "jacreg", "amsreg", "fastat", "adflat", "gaussian", "ibp",
                                   "crown-ibp"]
    with pytest.raises(kl.KerasllError, match="already registered"):
        kl.register_defense(DefenseSpec("amsreg", "X", "x"))
    assert get_defense("adflat").describe({"strength": 2.0, "variant": "difference", "eps": 10 / 255}) == \
        "AdFlat difference μ=2 ε=10/255"


def test_a_registered_defense_is_trainable_from_a_config(tmp_path, monkeypatch):
    """Adding a defense is one registration: the zoo's configuration and naming pick it up."""
    from kerasll.defenses import registry
    from kerasll.zoo.config import TrainConfig

    spec = DefenseSpec("halfams", "HalfAMS", "AMSReg at half strength", kl.AMSRegModel, fields=("strength",),
                       params=lambda f: {"strength": f["strength"] / 2}, slug=lambda p: f"halfams-{p['strength']:g}")
    monkeypatch.setitem(registry._DEFENSES._items, "halfams", spec)  # registered for this test only
    config = TrainConfig(defense="halfams", strength=1.0, epochs=1).resolved()
    assert config.default_name() == "fmnist-lenet-halfams-0.5-e1-s0"
    from kerasll.zoo.training import build_trainable

    model = build_trainable(config)
    assert isinstance(model, kl.AMSRegModel) and model.strength == 0.5


def test_an_entry_recorded_before_a_field_existed_resumes_only_if_it_was_trained_that_way():
    from kerasll.zoo.config import TrainConfig

    config = TrainConfig(defense="jacreg", epochs=1).resolved()
    recorded = {k: v for k, v in config.to_dict().items() if k not in ("projection", "weight_decay_mode")}
    # No projection recorded: the code then used vjp, as this config does. No weight-decay mode recorded:
    # the code then used Keras's decoupled decay, which this (coupled) config does not.
    assert config.differences(recorded) == ["weight_decay_mode: 'decoupled' ≠ 'coupled'"]
    assert TrainConfig(defense="jacreg", epochs=1, weight_decay_mode="decoupled").resolved().differences(recorded) == []


@pytest.mark.parametrize("register, existing", [
    (lambda over: kl.register_model("lenet", overwrite=over)(lambda *a, **k: None), "architecture 'lenet'"),
    (lambda over: kl.datasets.registry.register_dataset(kl.dataset_info("cifar10"), overwrite=over), "dataset 'cifar10'"),
    (lambda over: kl.register_attack(kl.attacks.get_attack("pgd"), overwrite=over), "attack 'pgd'"),
])
def test_every_registry_refuses_to_overwrite_a_name_unless_asked(register, existing):
    with pytest.raises(kl.KerasllError, match=f"{existing} is already registered; pass overwrite=True"):
        register(False)


def test_registry_lists_and_rejects_unknown_names_in_one_line():
    from kerasll.registry import Registry

    reg = Registry("widget")
    reg.add("b", 1)
    reg.add("a", 2)
    assert reg.names() == ["b", "a"] and Registry("w", sort=True).names() == []
    with pytest.raises(kl.KerasllError, match="unknown widget 'c'; valid choices: b, a"):
        reg.get("c")
    reg.add("a", 3, overwrite=True)
    assert reg.get("a") == 3
