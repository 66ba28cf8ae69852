"""kerasll on Keras's other backends: what is written in `keras.ops` (`kerasll.backend`) gives TensorFlow's
numbers on JAX and PyTorch, without importing TensorFlow; what is not yet is refused by name."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import kerasll as kl
from helpers import hiding_site

ROOT = Path(__file__).resolve().parents[1]
OTHER_BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(importlib.util.find_spec(b) is None,
                                                           reason=f"{b} is not installed"))
                  for b in ("jax", "torch")]

CHILD = """
import json, sys
import numpy as np
import keras
import kerasll as kl

model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
out = {"log_px": kl.backend.to_numpy(kl.log_px(model(x))).tolist(),
       "grad": kl.backend.to_numpy(kl.grad_log_px(model, x, batch_size=5)).ravel().tolist(),
       "ams": kl.backend.to_numpy(kl.ams_score(model, x)).tolist()}
out["pipeline"] = type(kl.make_pipeline(x, np.zeros(len(x)), 4)).__name__
from kerasll.attacks import noise
keys = noise.key_words(np.load(sys.argv[3]))
out["words"] = kl.backend.to_numpy(noise._bits(7, keys, 3, 6)).astype("int64").tolist()
out["uniform"] = kl.backend.to_numpy(noise.uniform(7, keys, 3, [2, 3])).tolist()
out["normal"] = kl.backend.to_numpy(noise.normal(7, keys, 3, [2, 3])).tolist()
out["word"] = kl.backend.ops().WORD
y = np.argmax(kl.backend.to_numpy(model(x)), -1)
out["phi"] = kl.flatness(model, x, pairs=2, grid=3, radius=0.1, seed=1).per_sample.tolist()
out["phi_fgsm"] = kl.flatness(model, x, y, pairs=1, grid=3, radius=0.1, directions="fgsm").per_sample.tolist()
out["surface"] = kl.likelihood_surface(model, x[0], y[0], grid=5, radius=0.1, seed=2).values.tolist()
out["fgsm"] = kl.backend.to_numpy(kl.fgsm(model, x, y, 0.1)).ravel().tolist()
out["pgd"] = kl.backend.to_numpy(kl.pgd(model, x, y, 0.1, 0.025, 10, seed=0)).ravel().tolist()
out["apgd"] = kl.backend.to_numpy(kl.apgd(model, x, y, 0.1, steps=20, seed=0)).ravel().tolist()
out["apgd_t_l2"] = kl.backend.to_numpy(kl.apgd(model, x, y, 0.5, norm="l2", targeted=True, target_classes=2,
                                               steps=20, seed=0)).ravel().tolist()
out["apgd_l1"] = kl.backend.to_numpy(kl.apgd(model, x, y, 3.0, norm="l1", steps=20, seed=0)).ravel().tolist()
out["fab_l1"] = kl.backend.to_numpy(kl.fab(model, x, y, 3.0, norm="l1", seed=0)).ravel().tolist()
out["square_l1"] = kl.backend.to_numpy(kl.square_attack(model, x, y, 3.0, norm="l1", queries=200, seed=0)).ravel().tolist()
out["square"] = kl.backend.to_numpy(kl.square_attack(model, x, y, 0.1, queries=300, seed=0)).ravel().tolist()
fast = kl.autoattack(model, x, y, 0.1, version="fast", seed=0)
out["autoattack_fast"] = {"robust": fast.robust_accuracy, "clean": fast.clean_accuracy, "flags": [str(f) for f in fast.flags]}
standard = kl.autoattack(model, x, y, 0.1, seed=0)
out["autoattack_standard"] = {"robust": standard.robust_accuracy, "flags": [str(f) for f in standard.flags]}
out["fab"] = kl.backend.to_numpy(kl.fab(model, x, y, 0.1, seed=0)).ravel().tolist()
out["fab_untargeted_l2"] = kl.backend.to_numpy(kl.fab(model, x, y, 0.5, norm="l2", targeted=False, seed=0)).ravel().tolist()
l1 = kl.autoattack(model, x, y, 3.0, norm="l1", seed=0)
out["autoattack_l1"] = {"robust": l1.robust_accuracy, "flags": [str(f) for f in l1.flags]}
one = kl.certify(model, x, y, 0.25, n0=50, n=2000, batch_size=300)
other = kl.certify(model, x[::-1], y[::-1], 0.25, n0=50, n=2000, batch_size=37)
out["certify"] = {"prediction": one.prediction.tolist(), "p_lower": one.p_lower.tolist(),
                  "reordered": other.p_lower[::-1].tolist()}
out["jacobian"] = {f"{t}-{p}": kl.backend.to_numpy(kl.jacobian_sq_norm(model, x, t, 3, p, seed=4)).tolist()
                   for t in ("jacobian", "weighted", "exact") for p in ("vjp", "jvp")}
out["steps"] = one_step_per_defense(sys.argv[1], x)
out["tensorflow_imported"] = "tensorflow" in sys.modules
print("RESULT " + json.dumps(out))
"""

DEFENSES = {  # one fit step of each defense, from the same weights, on every backend
    "amsreg": "kl.AMSRegModel(c, 0.5, projections=2, seed=1)",
    "amsreg-exact-jvp": "kl.AMSRegModel(c, 0.5, estimator='exact', projection='jvp', projections=2, seed=1)",
    "jacreg": "kl.JacobianRegModel(c, 0.1, projections=2, seed=1)",
    "at": "kl.AdversarialTrainingModel(c, 0.1, steps=3, seed=1)",
    "at-l2": "kl.AdversarialTrainingModel(c, 0.5, steps=3, norm='l2', seed=1)",
    "fast": "kl.FastAdversarialTrainingModel(c, 0.1, seed=1)",
    "adflat": "kl.AttackFlatteningModel(c, 1.0, seed=1)",
    "adflat-difference": "kl.AttackFlatteningModel(c, 1.0, variant='difference', seed=1)",
    "adflat-at-difference": "kl.AttackFlatteningModel(c, 1.0, variant='at-difference', seed=1)",
    "gaussian": "kl.GaussianNoiseModel(c, 0.25, seed=1)",
    "ibp": "kl.IBPTrainingModel(relu_net(), 0.1, warmup_steps=0, ramp_steps=1)",  # step 0 clean, step 1 at ε
    "crown-ibp": "kl.CROWNIBPTrainingModel(relu_net(), 0.1, warmup_steps=0, ramp_steps=2)",  # step 1: β = 0.5
}

STEP = """
def relu_net():  # certified training needs ReLUs (the test model's tanh is refused); weights fixed by NumPy
    net = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                            keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(5)])
    rng = np.random.default_rng(5)
    net.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in net.get_weights()])
    return net


def one_step_per_defense(path, x):
    steps = {}
    y = np.arange(len(x)) % 5
    flat = lambda ws: np.concatenate([np.ravel(kl.backend.to_numpy(w)) for w in ws]).tolist()  # noqa: E731
    for name, make in DEFENSES.items():
        c = keras.saving.load_model(path)
        model = eval(make)
        start = flat(model.classifier.weights)
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(x, y, batch_size=len(x), epochs=2, shuffle=False, verbose=0).history
        steps[name] = {"history": {k: [float(v) for v in vs] for k, vs in history.items()},
                       "start": start, "weights": flat(model.classifier.weights)}
    return steps
"""
CHILD = "DEFENSES = " + repr(DEFENSES) + "\n" + STEP + CHILD


KEYS = np.array([0, 1, 2**62 + 12345, 2**63 - 1, 987654321987654321], np.int64)  # both halves of the key count


_RUNS = {}


def run_on(backend, model_path, x_path, keys_path):
    """The child's results on `backend` (one child process per backend and model, shared by the tests)."""
    if (backend, model_path) not in _RUNS:
        _RUNS[backend, model_path] = _run(backend, model_path, x_path, keys_path)
    return _RUNS[backend, model_path]


def _run(backend, model_path, x_path, keys_path):
    env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, model_path, x_path, keys_path], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(5)])
    model.save(folder / "m.keras")
    x = np.random.default_rng(2).uniform(0, 1, (12, 6, 6, 1)).astype(np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "keys.npy", KEYS)
    return model, x, str(folder / "m.keras"), str(folder / "x.npy"), str(folder / "keys.npy")


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_likelihood_gives_tensorflows_numbers_without_tensorflow(saved, backend):
    model, x, *paths = saved
    out = run_on(backend, *paths)
    assert not out["tensorflow_imported"]  # the ported names need no TensorFlow
    np.testing.assert_allclose(out["log_px"], np.asarray(kl.log_px(model(x))), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["grad"], np.asarray(kl.grad_log_px(model, x)).ravel(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["ams"], np.asarray(kl.ams_score(model, x)), rtol=1e-5)
    assert out["pipeline"] == "ArrayBatches"  # a keras.utils.PyDataset off TensorFlow


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_keyed_draws_hash_the_same_words_on_every_backend(saved, backend):
    """The per-image draws (`noise`) hash (seed, key, counter) to the same 32-bit words everywhere; PyTorch
    draws TensorFlow's very numbers, JAX (no 64-bit floats by default) the same ones to float32 rounding."""
    from kerasll.attacks import noise

    out = run_on(backend, *saved[2:])
    keys = noise.key_words(KEYS)
    np.testing.assert_array_equal(out["words"], np.asarray(noise._bits(7, keys, 3, 6)))
    exact = out["word"] == "int64"
    for name in ("uniform", "normal"):
        ours = np.asarray(getattr(noise, name)(7, keys, 3, [2, 3]))
        if exact:
            np.testing.assert_array_equal(out[name], ours)
        else:
            np.testing.assert_allclose(out[name], ours, atol=1e-5)
    assert 0 <= np.min(out["uniform"]) and np.max(out["uniform"]) < 1


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_every_attack_runs_on_every_backend_and_finds_what_tensorflow_finds(saved, backend):
    model, x, *paths = saved
    out = run_on(backend, *paths)
    y = np.argmax(np.asarray(model(x)), -1)
    ours = {"fgsm": kl.fgsm(model, x, y, 0.1), "pgd": kl.pgd(model, x, y, 0.1, 0.025, 10, seed=0),
            "square": kl.square_attack(model, x, y, 0.1, queries=300, seed=0),
            "fab": kl.fab(model, x, y, 0.1, seed=0),
            "fab_untargeted_l2": kl.fab(model, x, y, 0.5, norm="l2", targeted=False, seed=0),
            "apgd": kl.apgd(model, x, y, 0.1, steps=20, seed=0),
            "apgd_t_l2": kl.apgd(model, x, y, 0.5, norm="l2", targeted=True, target_classes=2, steps=20, seed=0),
            "apgd_l1": kl.apgd(model, x, y, 3.0, norm="l1", steps=20, seed=0),
            "fab_l1": kl.fab(model, x, y, 3.0, norm="l1", seed=0),
            "square_l1": kl.square_attack(model, x, y, 3.0, norm="l1", queries=200, seed=0)}
    for name, ours in ours.items():
        theirs, ours = np.asarray(out[name]).reshape(x.shape), np.asarray(ours)
        norm = name[-2:] if name[-2:] in ("l2", "l1") else "linf"
        size = {"l2": np.sqrt(np.sum((theirs - x) ** 2, axis=(1, 2, 3))).max(),
                "l1": np.abs(theirs - x).sum(axis=(1, 2, 3)).max(), "linf": np.abs(theirs - x).max()}[norm]
        assert size <= {"l2": 0.5, "l1": 3.0, "linf": 0.1}[norm] * (1 + 1e-6) + 1e-6, (name, size)
        assert theirs.min() >= 0 and theirs.max() <= 1
        same = np.mean(np.abs(theirs - ours) < 1e-4)
        # L1-APGD counts nonzero coordinates and keeps the top-k of the gradient: a float32 ulp in the projection
        # (PyTorch's float64 sums are not TensorFlow's, in order) changes a count, and the runs part. JAX's agree.
        exact = name == "fgsm" or (backend == "torch" and not name.endswith("l1"))
        assert same >= (0.98 if exact else 0.5), (name, same)
        fooled = lambda adv: int(np.sum(np.argmax(np.asarray(model(adv)), -1) != y))  # noqa: E731
        assert abs(fooled(theirs) - fooled(ours)) <= 1, (name, fooled(theirs), fooled(ours))


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_phi_and_the_landscapes_give_tensorflows_numbers_on_every_backend(saved, backend):
    """Φ (random and FGSM directions) and a landscape: the directions are NumPy's, the lattice and its
    gradients `keras.ops`, so each backend gives TensorFlow's numbers to float32 rounding."""
    model, x, *paths = saved
    out = run_on(backend, *paths)
    y = np.argmax(np.asarray(model(x)), -1)
    np.testing.assert_allclose(out["phi"], kl.flatness(model, x, pairs=2, grid=3, radius=0.1, seed=1).per_sample,
                               rtol=1e-4)
    np.testing.assert_allclose(out["phi_fgsm"], kl.flatness(model, x, y, pairs=1, grid=3, radius=0.1,
                                                            directions="fgsm").per_sample, rtol=1e-4)
    surface = kl.likelihood_surface(model, x[0], y[0], grid=5, radius=0.1, seed=2).values
    np.testing.assert_allclose(out["surface"], surface, atol=1e-5)


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_autoattack_runs_on_every_backend_at_every_norm(saved, backend):
    """AutoAttack's driver, the self-checks and the flags on JAX and PyTorch: the fast and standard versions at
    L∞, and the standard version at L1 (L1-APGD, FAB-T and Square with the exact projections), give TensorFlow's
    robust accuracy on this model (within an image) and its flags."""
    model, x, *paths = saved
    out = run_on(backend, *paths)
    y = np.argmax(np.asarray(model(x)), -1)
    ours = kl.autoattack(model, x, y, 0.1, version="fast", seed=0)
    theirs = out["autoattack_fast"]
    assert theirs["clean"] == ours.clean_accuracy == 1.0
    assert abs(theirs["robust"] - ours.robust_accuracy) <= 1 / len(x) + 1e-9
    assert theirs["flags"] == [str(f) for f in ours.flags]
    standard = kl.autoattack(model, x, y, 0.1, seed=0)
    assert abs(out["autoattack_standard"]["robust"] - standard.robust_accuracy) <= 1 / len(x) + 1e-9
    assert out["autoattack_standard"]["flags"] == [str(f) for f in standard.flags]
    l1 = kl.autoattack(model, x, y, 3.0, norm="l1", seed=0)
    assert abs(out["autoattack_l1"]["robust"] - l1.robust_accuracy) <= 1 / len(x) + 1e-9
    assert out["autoattack_l1"]["flags"] == [str(f) for f in l1.flags]


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_certification_runs_on_every_backend_and_agrees_with_tensorflows_within_sampling_noise(saved, backend):
    """Randomized smoothing's noise blocks are each backend's own generator (`backend.block_normal`): the
    counts differ from TensorFlow's by sampling noise only, and on one backend they depend on neither order
    nor batch size."""
    model, x, *paths = saved
    out = run_on(backend, *paths)["certify"]
    y = np.argmax(np.asarray(model(x)), -1)
    ours = kl.certify(model, x, y, 0.25, n0=50, n=2000, batch_size=300)
    np.testing.assert_array_equal(out["p_lower"], out["reordered"])
    clear = ours.p_lower > 0.6  # a top class well above its runner-up: both backends select it
    assert clear.sum() >= 4
    np.testing.assert_array_equal(np.asarray(out["prediction"])[clear], ours.prediction[clear])
    # n = 2,000 draws: the estimated proportions differ by a few standard errors (≤ 0.011) at most
    np.testing.assert_allclose(np.asarray(out["p_lower"])[clear], ours.p_lower[clear], atol=0.05)
    assert not np.array_equal(out["p_lower"], ours.p_lower)  # its own draws, not TensorFlow's


def test_the_gradient_matches_float64_finite_differences():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,), dtype="float64"), keras.layers.Dense(7, "tanh", dtype="float64"),
                              keras.layers.Dense(3, dtype="float64")])
    x = np.random.default_rng(0).normal(size=(4, 5))
    grad = np.asarray(kl.grad_log_px(model, x))
    h, numeric = 1e-6, np.zeros_like(x)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = h
        numeric[:, j] = (np.asarray(kl.log_px(model(x + step))) - np.asarray(kl.log_px(model(x - step)))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_only_the_backend_layer_imports_jax_or_torch_and_the_ported_modules_import_no_tensorflow():
    """The ported modules (docs/backends.md) name no backend library; jax and torch appear only in
    kerasll/backend. The list grows as the port goes on."""
    ported = {f"kerasll/{m}.py" for m in ("likelihood", "backend/__init__", "attacks/losses", "attacks/noise",
                                          "attacks/driver", "attacks/pgd", "attacks/compiled", "attacks/attack",
                                          "attacks/catalog", "attacks/registry", "attacks/apgd",
                                          "landscapes/lattice", "landscapes/directions", "landscapes/flatness",
                                          "landscapes/landscape", "certification/smoothing", "stats")}
    found = []
    for path in sorted((ROOT / "kerasll").rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in ("jax", "torch") and not rel.startswith("kerasll/backend/"):
                    found.append(f"{rel} imports {name}")
                if top == "tensorflow" and rel in ported:
                    found.append(f"{rel} imports {name}")
    assert not found, found


def test_the_cross_entropy_takes_a_softmax_output_as_it_is():
    """Keras's own cross-entropy, inside a compiled graph, looks through a softmax that made its input and
    scores the pre-softmax values: kerasll measures what the model outputs (the `probabilities` check's case)."""
    from kerasll.attacks.losses import cross_entropy

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Softmax()])
    x, y = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32), np.array([0, 1, 2, 3, 0])
    ours = np.asarray(kl.backend.compiled(lambda xx: cross_entropy(keras.ops.convert_to_tensor(y), model(xx)))(x))
    p = np.asarray(model(x), np.float64)
    log_softmax = p - np.log(np.exp(p).sum(-1, keepdims=True))
    np.testing.assert_allclose(ours, -log_softmax[np.arange(5), y], rtol=1e-5)


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_cli_evaluates_and_trains_where_tensorflow_cannot_be_imported(backend, tmp_path):
    """`kerasll eval` on a shipped (TensorFlow-trained) entry, with `import tensorflow` failing: the entry loads,
    PGD runs, and the stored result says which backend computed it, under its own key; `kerasll train` trains a
    defense on the embedded data and records the backend."""
    hiding_site(tmp_path / "site", "tensorflow", "tensorflow_datasets")
    env = os.environ | {"KERAS_BACKEND": backend, "OMP_WAIT_POLICY": "PASSIVE", "KERASLL_ZOO": str(tmp_path / "zoo"),
                        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-lenet-at", "--limit", "40",
                           "--source", "embedded", "--json", "-"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)["attack"]
    assert result["key"].endswith(f"-embedded-on-{backend}") and result["backend"] == backend
    assert result["computed_on"]["backend"] == backend
    assert 0.5 <= result["clean_accuracy"] <= 1 and result["robust_accuracy"] <= result["clean_accuracy"]
    if backend == "jax":  # JAX spreads over its own local devices, no TensorFlow needed; multiworker stays TF's
        spread = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-lenet-at", "--limit", "40",
                                 "--source", "embedded", "--strategy", "mirrored", "--json", "-"],
                                env=env | {"KERASLL_CPU_DEVICES": "2"}, capture_output=True, text=True, timeout=600)
        assert spread.returncode == 0, spread.stderr[-3000:]
        assert json.loads(spread.stdout)["attack"]["robust_accuracy"] == result["robust_accuracy"]
    tf_only = "multiworker" if backend == "jax" else "mirrored"
    refused = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-lenet-at", "--limit", "40",
                              "--source", "embedded", "--strategy", tf_only], env=env, capture_output=True,
                             text=True, timeout=600)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr + refused.stdout
    assert f"(strategy {tf_only!r}) is TensorFlow's (tf.distribute)" in refused.stderr + refused.stdout
    train = subprocess.run([sys.executable, "-m", "kerasll", "train", "--defense", "amsreg", "--source", "embedded",
                            "--epochs", "1", "--name", "trained"], env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "TensorBoard event files need TensorFlow" in train.stdout  # said in one line; the CSV history remains
    meta = json.loads((tmp_path / "zoo" / "trained" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["versions"]["backend"] == backend and "tensorflow" not in meta["versions"]
    assert meta["history"]["val_accuracy"][0] > 0.5  # one epoch of AMSReg on the embedded subset learns
    assert (tmp_path / "zoo" / "trained" / "logs" / "history.csv").is_file()
    assert sorted(p.name for p in (tmp_path / "zoo").iterdir()) == ["fmnist-lenet-at", "trained"]


@pytest.mark.backends
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_every_defense_trains_through_fit_to_tensorflows_weights(saved, backend):
    """Two `fit` steps of each defense from the same weights on the same batch: the backend's own training
    step (`kerasll.backend.train_step`) gives TensorFlow's losses, penalties and weights; so do the squared
    Jacobian norms (vjp and jvp projections). Catches a penalty dropped from the gradient, a missing double
    backprop, a wrong sign or scale, a step that draws other examples; for IBP certified training, the interval
    bounds taken from the weights the step differentiates (JAX: inside `stateless_call`)."""
    model, x, path, *_ = saved
    out = run_on(backend, *saved[2:])
    namespace = {"np": np, "keras": keras, "kl": kl, "DEFENSES": DEFENSES}
    exec(STEP, namespace)
    ours = namespace["one_step_per_defense"](path, x)
    for name, step in out["steps"].items():
        for key, values in step["history"].items():
            np.testing.assert_allclose(values, ours[name]["history"][key], rtol=2e-3, atol=1e-5, err_msg=f"{name} {key}")
        moved = np.abs(np.asarray(ours[name]["weights"]) - np.asarray(ours[name]["start"])).max()
        assert moved > 1e-3, name  # the step moved the weights…
        np.testing.assert_allclose(step["weights"], ours[name]["weights"], rtol=0, atol=2e-3 * moved, err_msg=name)
    for key, values in out["jacobian"].items():  # …as TensorFlow's did
        target, projection = key.split("-")
        np.testing.assert_allclose(values, kl.jacobian_sq_norm(model, x, target, 3, projection, seed=4), rtol=1e-3,
                                   atol=1e-6, err_msg=key)


SPREAD_PROBE = """
import keras, numpy as np
import kerasll as kl
from kerasll import backend
from kerasll.distribution.strategies import evaluation_strategy
spread = evaluation_strategy("mirrored")
model = kl.load_model(MODEL, compile=False)
f = backend.model_function(model, "probe", lambda call, x: call(x))
placed = spread.run_round(lambda a, b: str(f(keras.ops.convert_to_tensor(np.zeros((b - a, 28, 28, 1), "float32"))).devices()),
                          [(0, 4), (4, 8)])
print(spread.width, len(set(placed)))
"""


@pytest.mark.backends
@pytest.mark.long  # CI checks the spread's accuracy through the CLI (test_the_cli_evaluates_and_trains_…[jax])
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_spreads_an_evaluation_over_two_devices_and_gives_the_one_device_result(tmp_path):
    """`kerasll eval --strategy mirrored` on JAX (KERASLL_CPU_DEVICES=2: two XLA host devices): the chunks of a
    round run on different devices (a thread each) and the result is the one-device run's, image for image."""
    env = os.environ | {"KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "KERASLL_CPU_DEVICES": "2",
                        "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    model = ROOT / "zoo" / "fmnist-lenet-at" / "model.keras"
    probe = subprocess.run([sys.executable, "-c", f"MODEL = {str(model)!r}\n" + SPREAD_PROBE], env=env,
                           capture_output=True, text=True, timeout=600)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.split()[-2:] == ["2", "2"]  # two devices, and the two chunks' outputs on different ones
    results = {}
    for strategy in ("one", "mirrored"):
        done = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-lenet-at", "--limit", "96",
                               "--batch-size", "32", "--source", "embedded", "--strategy", strategy, "--json", "-"],
                              env=env | {"KERASLL_ZOO": str(tmp_path / strategy)}, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        results[strategy] = json.loads(done.stdout)["attack"]
        records = np.load(next((tmp_path / strategy / "fmnist-lenet-at" / "records").glob("*-n96-embedded-on-jax/*/records.npz")))
        results[strategy]["records"] = {k: records[k] for k in records.files if k != "__seconds__"}
    one, spread = results["one"], results["mirrored"]
    assert spread["robust_accuracy"] == one["robust_accuracy"] and spread["flags"] == one["flags"]
    for key, values in one["records"].items():
        np.testing.assert_array_equal(spread["records"][key], values, err_msg=key)


@pytest.mark.backends
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_spreads_training_over_two_devices_and_gives_the_one_device_result(tmp_path):
    """`kerasll train --strategy mirrored` on JAX: `keras.distribution.DataParallel` over two host devices
    (XLA_FLAGS) shards the global batch; the epoch's losses are the one-device run's to float32 rounding."""
    env = os.environ | {"KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "KERASLL_ZOO": str(tmp_path / "zoo"),
                        "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    histories = {}
    for strategy in ("one", "mirrored"):
        done = subprocess.run([sys.executable, "-m", "kerasll", "train", "--defense", "at", "--source", "embedded",
                               "--epochs", "1", "--train-limit", "1024", "--strategy", strategy, "--name", strategy,
                               "--no-tensorboard"], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        meta = json.loads((tmp_path / "zoo" / strategy / "metadata.json").read_text())
        histories[strategy] = meta["history"]
        assert meta["runtime"]["replicas"] == (2 if strategy == "mirrored" else 1)
    for key, values in histories["one"].items():
        np.testing.assert_allclose(histories["mirrored"][key], values, rtol=1e-3, err_msg=key)
    odd = subprocess.run([sys.executable, "-m", "kerasll", "train", "--defense", "at", "--source", "embedded",
                          "--epochs", "1", "--batch-size", "127", "--strategy", "mirrored", "--name", "odd"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert odd.returncode == 1 and "Traceback" not in odd.stderr + odd.stdout and "127" in odd.stderr + odd.stdout
