"""Known answers that need no TensorFlow: this file imports only Keras, NumPy and kerasll, so it runs on every
Keras backend; CI runs it on JAX in an environment where TensorFlow is not installed (.ci/run)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll import backend

ROOT = Path(__file__).resolve().parents[1]


def linear(dim=12, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(dim, classes)).astype(np.float32), rng.normal(size=classes).astype(np.float32)
    inputs = keras.Input((dim,))
    dense = keras.layers.Dense(classes)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w, b])
    return model, w, b


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_amsreg_exact_penalty_is_the_closed_form_of_a_linear_model():
    """‖∇x log p̃(x)‖² = ‖W softmax(Wᵀx + b)‖² per image, through the defense's own objective."""
    net, w, b = linear()
    x = np.random.default_rng(1).uniform(size=(6, 12)).astype(np.float32)
    model = kl.AMSRegModel(net, 1.0, estimator="exact")
    objective = model.objective(lambda z: net(z, training=True), {"x": keras.ops.convert_to_tensor(x)}, None, 0)
    expected = np.sum((softmax(x @ w + b) @ w.T) ** 2, axis=1).mean()
    np.testing.assert_allclose(backend.to_numpy(objective.penalty), expected, rtol=1e-4)


def test_one_sgd_step_of_amsreg_on_a_linear_model_follows_the_closed_form_gradient():
    """fit's step = w − lr·∇w[CE + (λ/2)‖W p‖²], the gradient by float64 finite differences of the closed form."""
    net, w, b = linear(dim=4, classes=3, seed=2)
    x = np.random.default_rng(3).uniform(size=(8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    strength, lr = 0.7, 0.1
    model = kl.AMSRegModel(net, strength, estimator="exact")
    model.compile(keras.optimizers.SGD(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)

    def loss(w64):
        p = softmax(x.astype(np.float64) @ w64 + b)
        ce = -np.log(p[np.arange(8), y]).mean()
        return ce + 0.5 * strength * np.sum((p @ w64.T) ** 2, axis=1).mean()

    w64, grad, h = w.astype(np.float64), np.zeros(w.shape), 1e-6
    for idx in np.ndindex(w.shape):
        step = np.zeros(w.shape)
        step[idx] = h
        grad[idx] = (loss(w64 + step) - loss(w64 - step)) / (2 * h)
    np.testing.assert_allclose(backend.to_numpy(net.layers[-1].kernel), w64 - lr * grad, atol=2e-5)


def test_pgd_on_a_linear_two_class_model_reaches_the_corner_of_the_ball():
    """For logits Wᵀx and label 0, the cross-entropy grows along sign(w₁ − w₀) everywhere: PGD ends at
    x + ε·sign(w₁ − w₀), the corner of the L∞ ball, from any start."""
    rng = np.random.default_rng(0)
    w = rng.choice([-1.0, 1.0], size=(16, 2)).astype(np.float32)
    w[:, 1] = -w[:, 0]
    inputs = keras.Input((16,))
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([w])
    x = np.full((3, 16), 0.5, np.float32)
    x_adv = backend.to_numpy(kl.pgd(model, x, np.zeros(3, np.int64), 0.1, 0.05, 5, seed=0))
    np.testing.assert_allclose(x_adv, x + 0.1 * np.sign(w[:, 1] - w[:, 0]), atol=1e-6)


@pytest.mark.parametrize("dim, eps", [(10, 1.0), (784, 12.0)])
def test_the_l1_projection_is_the_float64_kkt_optimum_on_this_backend(dim, eps):
    """L1's exact projection onto the ball ∩ the box (sorts, top-k, the widest float the backend has) equals
    the float64 bisection oracle, and never leaves the ball."""
    from kerasll.attacks.l1 import project_l1_box
    from test_l1 import oracle

    rng = np.random.default_rng(dim)
    x = rng.uniform(0, 1, (16, dim)).astype(np.float32)
    x[:, : dim // 4] = rng.choice([0.0, 1.0], (16, dim // 4))
    y = (rng.normal(scale=0.4, size=(16, dim)) * (rng.random((16, dim)) < 0.5)).astype(np.float32)  # sparse
    delta = backend.to_numpy(project_l1_box(keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y), eps))
    np.testing.assert_allclose(delta, oracle(x, y, eps), atol=2e-5)
    assert np.abs(delta.astype(np.float64)).sum(1).max() <= eps and (x + delta).min() >= 0 and (x + delta).max() <= 1


def test_fab_l1_reaches_the_nearest_boundary_of_a_linear_model():
    """Untargeted FAB at L1 (the move onto a hyperplane: whole pixels by decreasing |w|, then part of one) ends
    on the exact smallest L1 distance to another class of a linear model, by the greedy knapsack (the case of
    tests/test_strong_attacks.py)."""
    from helpers import min_l1_to_plane

    net, w, b = linear(seed=1)
    x = np.random.default_rng(1).uniform(0.3, 0.7, size=(300, 12)).astype(np.float32)
    y = np.argmax(x @ w + b, 1)
    minimal = np.array([min(min_l1_to_plane(x[i:i + 1], w[:, y[i]] - w[:, j], b[y[i]] - b[j])[0]
                            for j in range(w.shape[1]) if j != y[i]) for i in range(len(x))])
    _, norms = kl.fab(net, x, y, 50.0, norm="l1", targeted=False, steps=20, seed=0, return_norms=True)
    assert np.all(norms >= minimal * (1 - 1e-4)) and np.all(norms <= minimal * 1.01)


def test_verify_gives_the_closed_form_of_a_linear_model_and_milp_decides_a_residual_net():
    """`kl.verify` reads the layers on this backend: on a linear model IBP and CROWN equal the closed form of the
    smallest margin over the box; on a small residual network MILP nests above CROWN, CROWN above IBP, and
    CROWN-IBP's keras.ops bound (what `--defense crown-ibp` trains on) equals its float64 twin."""
    from kerasll.verification.backward import crown_ibp_margins
    from kerasll.verification.bounds import crown_ibp_margins as float64_twin
    from kerasll.verification.network import chain

    net, w, b = linear()
    x = np.random.default_rng(2).uniform(size=(4, 12)).astype(np.float32)
    y = np.array([0, 1, 2, 3])
    lower, upper = np.clip(x - 0.1, 0, 1), np.clip(x + 0.1, 0, 1)
    diff = w[:, y].T[:, None, :].astype(np.float64) - w.T[None, :, :]
    exact = np.minimum(diff * lower[:, None], diff * upper[:, None]).sum(-1) + (b[y][:, None] - b[None, :])
    exact = np.where(np.eye(5)[y] > 0, np.inf, exact).min(-1)
    for method in ("ibp", "crown"):
        np.testing.assert_allclose(kl.verify(net, x, y, 0.1, method=method).margin_lower, exact, atol=1e-5)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((2,))
    h = keras.layers.Dense(8)(inputs)
    block = keras.layers.Dense(8)(keras.layers.Dense(8, activation="relu")(h))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.ReLU()(keras.layers.Add()([h, block]))))
    x2 = np.random.default_rng(3).uniform(0.2, 0.8, (6, 2)).astype(np.float32)
    y2 = backend.to_numpy(model(x2)).argmax(-1)
    ibp, crown, milp = (kl.verify(model, x2, y2, 0.1, method=m, time_limit=30) for m in ("ibp", "crown", "milp"))
    solved = milp.status != "attackable"
    assert milp.timed_out == 0 and np.all(ibp.margin_lower <= crown.margin_lower + 1e-9)
    assert np.all(crown.margin_lower[solved] <= milp.margin_lower[solved] + 1e-6)
    chained = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    ours = crown_ibp_margins(chained, keras.ops.convert_to_tensor(x2), keras.ops.convert_to_tensor(y2), 0.1, 3)
    np.testing.assert_allclose(backend.to_numpy(ours), float64_twin(chain(chained)[0], x2, y2, 0.1), atol=1e-5)


@pytest.mark.pipeline
def test_the_cli_evaluates_certifies_and_trains_on_this_backend(tmp_path):
    """`kerasll eval`, `certify` and `train` on the embedded data, on whatever backend KERAS_BACKEND names."""
    env = os.environ | {"KERASLL_ZOO": str(tmp_path / "zoo"), "OMP_WAIT_POLICY": "PASSIVE",
                        "PYTHONPATH": str(ROOT)}

    def kerasll(*args):
        done = subprocess.run([sys.executable, "-m", "kerasll", *args], env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    result = json.loads(kerasll("eval", "fmnist-lenet-at", "--limit", "100", "--source", "embedded", "--json", "-"))
    assert result["attack"].get("backend", "tensorflow") == keras.backend.backend()  # TensorFlow: keys as before
    assert 0.7 <= result["attack"]["clean_accuracy"] and result["attack"]["robust_accuracy"] <= 0.75
    kerasll("certify", "fmnist-lenet-gaussian", "--limit", "10", "--n", "500", "--source", "embedded")
    kerasll("train", "--defense", "at", "--source", "embedded", "--epochs", "1", "--name", "t", "--no-tensorboard")
    meta = json.loads((tmp_path / "zoo" / "t" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["versions"]["backend"] == keras.backend.backend()
