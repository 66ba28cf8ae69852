"""Verified robust accuracy (IBP, CROWN, exact MILP): closed forms, nesting, soundness against sampling, a grid
and PGD."""

import sys

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll.errors import KerasllError
from kerasll.verification.bounds import crown_margins, ibp_margins
from kerasll.verification.network import chain


def net(kind, seed=0):
    keras.utils.set_random_seed(seed)
    if kind == "linear":
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    if kind == "mlp":
        return keras.Sequential([keras.Input((2, 3, 1)), keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(12), keras.layers.ReLU(), keras.layers.Dense(4)])
    if kind == "residual":  # residual blocks (Add), a branch joined by Concatenate, a pool on the main path
        inputs = keras.Input((6, 6, 1))
        # the skips carry negative values past the branch's ReLUs (which must leave them alone)
        h = keras.layers.Conv2D(3, 3, padding="same")(keras.layers.Rescaling(2.0, -1.0)(inputs))
        block = keras.layers.Conv2D(3, 3, padding="same")(keras.layers.Conv2D(3, 3, padding="same", activation="relu")(h))
        h = keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(keras.layers.Add()([h, block])))
        h = keras.layers.Flatten()(h)
        h = keras.layers.Concatenate()([keras.layers.Dense(4)(h), keras.layers.Dense(6, activation="relu")(h)])
        h = keras.layers.Dense(8, activation="relu")(h)
        return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Add()([h, keras.layers.Dense(8)(h)])))
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Rescaling(2.0, -1.0),
                             keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.MaxPooling2D(2),
                             keras.layers.Flatten(), keras.layers.Dense(10, activation="relu"), keras.layers.Dense(3)])


def sampled_margins(model, x, y, eps, n=3000, seed=0):
    """The smallest margin z_y − z_j per image and class over random points and corners of the box."""
    rng = np.random.default_rng(seed)
    points = [np.clip(x[None] + rng.uniform(-eps, eps, (n, *x.shape)), 0, 1),
              np.clip(x[None] + eps * rng.choice([-1.0, 1.0], (n, *x.shape)), 0, 1)]
    z = np.concatenate([keras.ops.convert_to_numpy(model(p.reshape(-1, *x.shape[1:]).astype(np.float32)))
                        .reshape(n, len(x), -1) for p in points])
    return (np.take_along_axis(z, y[None, :, None].repeat(len(z), 0), -1) - z).min(0)


def test_the_bounds_of_a_linear_model_are_its_closed_form():
    """For z = Wᵀx + b the smallest margin over the box is exact: Σ_i min over [l_i, u_i] of (w_y − w_j)_i x_i."""
    model = net("linear")
    w, b = (np.asarray(v, np.float64) for v in model.layers[-1].get_weights())
    x = np.random.default_rng(1).uniform(size=(4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    eps = 0.2
    lower, upper = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
    diff = w[:, y].T[:, None, :] - w.T[None, :, :]  # (B, C, n)
    expected = np.minimum(diff * lower[:, None, :], diff * upper[:, None, :]).sum(-1) + (b[y][:, None] - b[None, :])
    steps, _ = chain(model)
    np.testing.assert_allclose(ibp_margins(steps, x, y, eps), expected, atol=1e-6)
    np.testing.assert_allclose(crown_margins(steps, x, y, eps), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp", "cnn", "residual"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ibp_and_crown_are_below_every_sampled_margin_and_verify_nests_them(kind, seed):
    """IBP and CROWN ≤ the true minimum (here: below every margin seen at 6,000 points of the box); CROWN is
    tighter on average (not everywhere: its relaxations can lose to IBP's intervals, seen with max-pooling),
    so `verify`'s "crown" takes the larger of the two sound bounds: IBP ≤ CROWN ≤ the truth, always."""
    model = net(kind, seed)
    x = np.random.default_rng(seed).uniform(0.2, 0.8, (5, *model.inputs[0].shape[1:])).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    steps, _ = chain(model)
    ibp, crown = ibp_margins(steps, x, y, 0.05), crown_margins(steps, x, y, 0.05)
    truth = sampled_margins(model, x, y, 0.05)
    assert np.all(ibp <= truth + 1e-5) and np.all(crown <= truth + 1e-5)
    assert np.mean(crown - ibp) > 0  # CROWN is tighter on the whole, not just equal
    by_ibp, by_crown = (kl.verify(model, x, y, 0.05, method=m).margin_lower for m in ("ibp", "crown"))
    assert np.all(by_ibp <= by_crown) and np.all(by_crown <= np.where(np.eye(truth.shape[1])[y] > 0, np.inf,
                                                                     truth).min(-1) + 1e-5)


def dense_backward_rows(coef, const, steps, bounds, box, image):
    """CROWN's backward pass written plainly on dense (R, n) arrays, row r bounding image `image[r]`, a loop per
    pool window: the reference for the sparse bookkeeping of `bounds._backward_rows`."""
    from kerasll.verification.network import Affine, ReLU

    coef, const = coef.toarray(), np.array(const, np.float64)  # a copy: changed in place below
    for step, (lower, upper) in reversed(list(zip(steps, bounds))):
        lower, upper = lower[image], upper[image]  # (R, n): each row's image's interval
        pos, neg = np.maximum(coef, 0), np.minimum(coef, 0)
        if isinstance(step, Affine):
            const, coef = const + coef @ step.bias, coef @ step.weight
        elif isinstance(step, ReLU):  # a coordinate where the mask is off passes through (slope 1)
            unstable = step.on & (lower < 0) & (upper > 0)
            through = (lower >= 0) | ~step.on
            up = np.where(through, 1.0, np.where(unstable, upper / np.where(unstable, upper - lower, 1), 0.0))
            low = np.where(through, 1.0, np.where(unstable, upper >= -lower, 0.0))
            const = const + np.sum(neg * np.where(unstable, -lower * up, 0.0), -1)
            coef = pos * low + neg * up
        else:
            moved = np.zeros((len(coef), lower.shape[1]))
            for r in range(len(coef)):
                for k, window in enumerate(step.windows):
                    best = window[lower[r, window].argmax()]
                    decided = lower[r, best] >= max(upper[r, i] for i in window if i != best)
                    moved[r, best] = pos[r, k] + (neg[r, k] if decided else 0)
                    const[r] += 0 if decided else neg[r, k] * upper[r, window].max()
            coef = moved
    low_box, up_box = box[0][image], box[1][image]
    return np.sum(np.maximum(coef, 0) * low_box + np.minimum(coef, 0) * up_box, -1) + const


@pytest.mark.parametrize("kind", ["mlp", "cnn", "residual"])
def test_crown_on_sparse_coefficients_equals_the_dense_formula(kind, monkeypatch):
    """CROWN's coefficients travel as sparse matrices, changed entry by entry at each ReLU and pool; margins and
    intermediate intervals equal those of the plain dense pass (to rounding)."""
    from kerasll.verification import bounds

    model = net(kind, 4)
    x = np.random.default_rng(4).uniform(0.2, 0.8, (3, *model.inputs[0].shape[1:])).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    steps, _ = chain(model)
    fast = [crown_margins(steps, x, y, eps) for eps in (0.02, 0.1)]
    monkeypatch.setattr(bounds, "_backward_rows", dense_backward_rows)
    plain = [crown_margins(steps, x, y, eps) for eps in (0.02, 0.1)]
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-12)
    assert not np.allclose(fast, [ibp_margins(steps, x, y, eps) for eps in (0.02, 0.1)])  # CROWN did the work


@pytest.mark.parametrize("kind", ["cnn", "residual"])
def test_skipping_the_crown_bounds_of_dead_neurons_changes_nothing(kind, monkeypatch):
    """`bounds._needed`: a neuron IBP proves dead ahead of a ReLU gets no CROWN bound of its own. The margins,
    and the interval of every other neuron, equal those of CROWN on every neuron; some neurons were skipped
    (the test would not notice a skip that never happens)."""
    from kerasll.verification import bounds

    model = net(kind, 2)
    x = np.random.default_rng(2).uniform(0.2, 0.8, (4, *model.inputs[0].shape[1:])).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    steps, _ = chain(model)
    box = bounds.input_box(x, 0.01)
    skipped = []
    real = bounds._needed

    def counting(step, ibp_upper):
        needed = real(step, ibp_upper)
        skipped.append(int((~needed).sum()))
        return needed

    monkeypatch.setattr(bounds, "_needed", counting)
    fast, fast_intervals = crown_margins(steps, x, y, 0.01), bounds.crown_intervals(steps, box)
    monkeypatch.setattr(bounds, "_needed", lambda step, ibp_upper: np.ones(ibp_upper.shape, bool))
    every, every_intervals = crown_margins(steps, x, y, 0.01), bounds.crown_intervals(steps, box)
    assert sum(skipped) > 0
    np.testing.assert_allclose(fast, every, rtol=0, atol=1e-12)
    for (lo, hi), (every_lo, every_hi) in zip(fast_intervals, every_intervals):
        live = hi > 0  # the skipped neurons are dead (IBP's upper end ≤ 0) both ways; the others' bounds agree
        assert np.all(every_hi[~live] <= 0)
        np.testing.assert_allclose(hi[live], every_hi[live], rtol=0, atol=1e-12)
        np.testing.assert_allclose(lo[live], every_lo[live], rtol=0, atol=1e-12)


def test_a_two_input_network_against_a_dense_grid():
    """On a 2-D input, the minimum over a fine grid of the box is ≥ the CROWN bound and near it."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    x, eps = np.array([[0.5, 0.4]], np.float32), 0.1
    y = np.asarray(model(x)).argmax(-1)
    grid = np.stack(np.meshgrid(*[np.linspace(v - eps, v + eps, 401) for v in x[0]]), -1).reshape(-1, 2)
    z = np.asarray(model(grid.astype(np.float32)))
    true = (z[:, y[0]] - z[:, 1 - y[0]]).min()
    bound = crown_margins(chain(model)[0], x, y, eps)[0, 1 - y[0]]
    assert bound <= true + 1e-6
    assert true - bound < 0.5 * (abs(true) + 0.1)  # and not vacuous


def two_input_net(seed, residual=False):
    keras.utils.set_random_seed(seed)
    if residual:  # a residual block: a skip (of values of both signs) around two Dense layers, then a ReLU
        inputs = keras.Input((2,))
        h = keras.layers.Dense(10)(inputs)
        block = keras.layers.Dense(10)(keras.layers.Dense(10, activation="relu")(h))
        return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.ReLU()(keras.layers.Add()([h, block]))))
    return keras.Sequential([keras.Input((2,)), keras.layers.Dense(10, activation="relu"),
                             keras.layers.Dense(10, activation="relu"), keras.layers.Dense(3)])


@pytest.mark.parametrize("seed, eps, residual", [
    pytest.param(0, 0.05, False, marks=pytest.mark.pipeline), pytest.param(0, 0.1, False, marks=pytest.mark.pipeline),
    pytest.param(2, 0.2, False, marks=pytest.mark.pipeline), (3, 0.2, True)])
def test_milp_decides_a_two_input_network_as_brute_force_does(seed, eps, residual):
    """On a 2-D input the exact answer is a dense grid of the box (801 × 801) up to what the grid can miss
    between its points (a piecewise-linear margin moves at most its largest step between neighbours within a
    cell): every image whose grid minimum is clear of that gets the
    grid's verdict, and the margin's lower bound is below the grid's minimum; an attackable image
    comes with a counterexample in the box that the model misclassifies; IBP ≤ CROWN ≤ MILP."""
    model = two_input_net(seed, residual)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.15, 0.85, (16, 2)).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    result = kl.verify(model, x, y, eps, method="milp", time_limit=30)
    assert result.timed_out == 0
    # The program alone (no attack's candidates first) gives the same verdicts, with its own counterexamples.
    from kerasll.verification.milp import milp_verify

    alone, _, points = milp_verify(chain(model)[0], x, y, eps, 30, lambda p: np.asarray(model(p.astype(np.float32))))
    np.testing.assert_array_equal(alone, result.status)
    for i in np.nonzero(alone == "attackable")[0]:
        assert np.abs(points[i] - x[i]).max() <= eps + 1e-6 and np.asarray(model(points[i:i + 1])).argmax() != y[i]
    crown = kl.verify(model, x, y, eps, method="crown")
    decided = 0
    for i in range(len(x)):
        grid = np.stack(np.meshgrid(*[np.linspace(max(v - eps, 0), min(v + eps, 1), 801) for v in x[i]]), -1)
        z = np.asarray(model(grid.reshape(-1, 2).astype(np.float32)))
        margins = (z[:, y[i]:y[i] + 1] - np.delete(z, y[i], 1)).reshape(801, 801, -1)
        grid_min = margins.min()
        slack = max(np.abs(np.diff(margins, axis=0)).max(), np.abs(np.diff(margins, axis=1)).max())
        status = result.status[i]
        if grid_min < -slack:
            assert status == "attackable", (i, grid_min)
        elif grid_min > slack:
            assert status == "verified", (i, grid_min)
            decided += 1
        if status == "attackable":
            point = result.counterexamples[i]
            assert np.all(np.abs(point - x[i]) <= eps + 1e-6) and point.min() >= 0 and point.max() <= 1
            assert np.asarray(model(point[None])).argmax(-1)[0] != y[i]
        else:
            assert result.margin_lower[i] <= grid_min + 1e-5  # a lower bound (exact for the classes it solved)
        assert crown.margin_lower[i] <= result.margin_lower[i] + 1e-6 or status == "attackable"
    assert 0 < result.verified_accuracy < 1 and decided > 0  # both verdicts occur


@pytest.mark.parametrize("kind", ["mlp", pytest.param("cnn", marks=pytest.mark.pipeline), "residual"])
def test_milp_nests_above_crown_and_below_every_sampled_margin(kind):
    """IBP ≤ CROWN ≤ the exact minimum ≤ every sampled margin, on random networks with ReLUs and max-pooling;
    MILP verifies at least what CROWN does and never an image whose sampled margin is negative."""
    model = net(kind, 4)
    x = np.random.default_rng(4).uniform(0.2, 0.8, (6, *model.inputs[0].shape[1:])).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    eps = 0.08
    exact = kl.verify(model, x, y, eps, method="milp", time_limit=30)
    crown = kl.verify(model, x, y, eps, method="crown")
    ibp = kl.verify(model, x, y, eps, method="ibp")
    truth = sampled_margins(model, x, y, eps)
    truth = np.where(np.eye(truth.shape[1])[y] > 0, np.inf, truth).min(-1)
    assert exact.timed_out == 0
    solved = exact.status != "attackable"
    assert np.all(ibp.margin_lower <= crown.margin_lower + 1e-9)
    assert np.all(crown.margin_lower[solved] <= exact.margin_lower[solved] + 1e-6)
    assert np.all(exact.margin_lower <= truth + 1e-5)
    assert np.all(exact.verified >= crown.verified) and not np.any(exact.verified & (truth < 0))
    assert np.all((exact.status == "attackable") == ~exact.verified)


def test_a_network_too_large_for_explicit_maps_is_refused_in_one_line(monkeypatch):
    from kerasll.verification import network

    monkeypatch.setattr(network, "MAX_ENTRIES", 100)
    with pytest.raises(KerasllError, match="layer 'dense_big' maps 6 values to 40, an explicit map of 240 entries"):
        kl.verify(keras.Sequential([keras.Input((6,)), keras.layers.Dense(40, name="dense_big"),
                                    keras.layers.Dense(2)]), np.zeros((1, 6)), [0], 0.1)


def test_milp_refuses_a_network_too_large_in_one_line(monkeypatch):
    from kerasll.verification import milp

    monkeypatch.setattr(milp, "MAX_RELUS", 20)
    with pytest.raises(KerasllError, match="up to 20 ReLUs; this one has 28"):
        kl.verify(net("mlp"), np.zeros((1, 2, 3, 1)), [0], 0.1, method="milp")
    with pytest.raises(KerasllError, match="time_limit must be a number > 0 \\(seconds per image"):
        kl.verify(net("linear"), np.zeros((1, 5)), [0], 0.1, method="milp", time_limit=0)


@pytest.mark.pipeline
def test_verified_images_of_the_shipped_at_lenet_resist_pgd_with_restarts():
    """Soundness on a real model: no image CROWN verifies is broken by 100-restart PGD-50; at this small ε
    CROWN verifies most images, and at least as many as IBP."""
    from kerasll.zoo.store import Zoo

    model = kl.load_model(str(Zoo().get("fmnist-lenet-at").model_path), compile=False)
    x, y = kl.load_dataset("fashion_mnist", "test", source="embedded")
    x, y, eps = x[:12], y[:12], 0.01
    crown = kl.verify(model, x, y, eps, method="crown")
    ibp = kl.verify(model, x, y, eps, method="ibp")
    assert np.all(ibp.margin_lower <= crown.margin_lower + 1e-9)
    assert crown.verified_accuracy >= 0.5 and crown.verified_accuracy >= ibp.verified_accuracy
    x_adv = np.asarray(kl.pgd(model, x, y, eps, eps / 8, 50, restarts=100, seed=0))  # the strongest of 100 starts
    broken = np.asarray(model(x_adv)).argmax(-1) != y
    assert not np.any(broken & crown.verified)


def test_bad_input_is_one_line():
    for eps in (0, 2, float("nan")):  # 1 is the whole [0, 1] box already
        with pytest.raises(KerasllError, match=r"eps must be in \(0, 1\] pixel units for linf, got"):
            kl.verify(net("mlp"), np.zeros((1, 2, 3, 1)), [0], eps)
    with pytest.raises(KerasllError, match="verification method"):
        kl.verify(net("mlp"), np.zeros((1, 2, 3, 1)), [0], 0.1, method="milp-ish")
    tanh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    with pytest.raises(KerasllError, match="activation 'tanh'"):
        kl.verify(tanh, np.zeros((1, 3)), [0], 0.1)
    inputs = keras.Input((4, 4, 1))
    product = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(
        keras.layers.Multiply()([inputs, keras.layers.Conv2D(1, 1)(inputs)]))))
    with pytest.raises(KerasllError, match="cannot bound layer 'multiply' \\(Multiply\\)"):
        kl.verify(product, np.zeros((1, 4, 4, 1)), [0], 0.1)
    pooled_branch = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Add()(
        [keras.layers.MaxPooling2D(2)(inputs), keras.layers.AveragePooling2D(2)(inputs)]))))
    with pytest.raises(KerasllError, match="max-pooling inside a residual branch"):
        kl.verify(pooled_branch, np.zeros((1, 4, 4, 1)), [0], 0.1)


@pytest.mark.pipeline
def test_the_cli_verifies_an_entry_and_refuses_bad_input_in_one_line(tmp_path):
    import json
    import subprocess
    import sys

    env = {**__import__("os").environ, "KERASLL_ZOO": str(tmp_path / "zoo")}
    done = subprocess.run([sys.executable, "-m", "kerasll", "verify", "fmnist-lenet-at", "--eps", "2.55/255", "--method",
                           "ibp", "--limit", "20", "--source", "embedded", "--json", "-"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["images"] == 20 and summary["results"][0]["verified_accuracy"] <= summary["results"][0]["clean_accuracy"]
    assert not summary["results"][0]["cached"]
    again = subprocess.run([sys.executable, "-m", "kerasll", "verify", "fmnist-lenet-at", "--eps", "2.55/255", "--method",
                            "ibp", "--limit", "20", "--source", "embedded", "--json", "-"], env=env, capture_output=True,
                           text=True, timeout=600)
    stored = json.loads(again.stdout)["results"][0]
    assert stored["cached"] and stored["verified_accuracy"] == summary["results"][0]["verified_accuracy"]
    key = stored["key"]
    entry = json.loads((tmp_path / "zoo" / "fmnist-lenet-at" / "eval.json").read_text())["results"][key]
    assert entry["kind"] == "verify" and entry["images"] == 20
    with np.load(tmp_path / "zoo" / "fmnist-lenet-at" / entry["records"]) as records:  # the per-image verdicts
        assert len(records["status"]) == 20 and np.mean(records["status"] == "verified") == stored["verified_accuracy"]
    for args, message in ((["--eps", "0"], "eps must be in (0, 1] pixel units for linf, got 0"),
                          (["--eps", "0.05,2"], "eps must be in (0, 1] pixel units for linf, got 2"), (["--method", "mip"], "method"),
                          (["--eps", "0.05,x"], "--eps must be a number or a fraction like 8/255, got 'x'"),
                          (["--method", "milp", "--time-limit", "0"], "--time-limit must be a number > 0"),
                          (["--input-scale", "0"], "--input-scale must be > 0")):
        bad = subprocess.run([sys.executable, "-m", "kerasll", "verify", "fmnist-lenet-at", "--source", "embedded",
                              *args], env=env, capture_output=True, text=True, timeout=600)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout
        assert message in bad.stderr + bad.stdout


@pytest.mark.pipeline
def test_eval_verify_puts_the_verified_end_beside_the_attacks_number(tmp_path):
    """`kerasll eval … --attack autoattack --verify ibp`: the attack, then the verification at its ε on the same
    images, both in the JSON with the interval between them; --verify off L∞ or unknown is one line."""
    import json
    import subprocess
    import sys

    env = {**__import__("os").environ, "KERASLL_ZOO": str(tmp_path / "zoo")}
    done = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-mlp-ibp", "--attack", "autoattack",
                           "--version", "fast", "--verify", "ibp", "--limit", "20", "--source", "embedded", "--json",
                           "-"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    (row,) = out["verify"]
    assert row["method"] == "ibp" and row["eps"] == pytest.approx(25 / 255) and row["images"] == 20
    assert row["verified_accuracy"] <= out["attack"]["robust_accuracy"] <= row["clean_accuracy"]
    for args, message in ((["--norm", "l2"], "--verify bounds L∞ balls; --norm is 'l2'"),
                          (["--verify", "crowd"], "unknown --verify method 'crowd'; valid choices: ibp, crown, milp")):
        bad = subprocess.run([sys.executable, "-m", "kerasll", "eval", "fmnist-mlp-ibp", "--verify", "ibp",
                              "--source", "embedded", *args], env=env, capture_output=True, text=True, timeout=600)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr + bad.stdout and message in bad.stderr, bad.stderr
    assert not (tmp_path / "zoo" / "fmnist-mlp-ibp" / "eval.json").read_text().count("-l2-")  # nothing ran


def test_the_interval_sets_verified_beside_autoattack_on_the_same_images_and_names_what_autoattack_missed():
    """`zoo.verification.interval`: the entry's stored AutoAttack result at this ε, its per-image records cut to
    the images verified; an image the MILP proved attackable that every stage left standing is a miss; a
    verified image AutoAttack broke would be counted as unsound."""
    from kerasll.evaluation.settings import EvalSettings
    from kerasll.zoo.results import ResultId
    from kerasll.zoo.verification import interval

    aa = ResultId(EvalSettings("autoattack", "linf", 0.1, version="standard"), 8, "", "tensorflow")
    other = ResultId(EvalSettings("autoattack", "linf", 0.2, version="standard"), 8, "", "tensorflow")
    robust = np.array([1, 1, 1, 0, 0, 1, 1, 0], bool)
    after_ce = np.array([1, 1, 1, 1, 0, 1, 1, 0], bool)

    class Stored:
        class entry:
            @staticmethod
            def evaluations():
                return {rid.key(): rid.fields() | {"robust_accuracy": 0.5} for rid in (aa, other)}

        @staticmethod
        def records_of(rid):
            assert rid.key() == aa.key()
            return {"robust": robust, "robust:apgd-ce": after_ce, "robust:square": robust}

    status = ["verified", "verified", "attackable", "attackable", "attackable", "verified"]  # first 6 images
    found = interval(Stored, {"method": "milp", "images": 6}, {"status": status}, 0.1, "")
    assert (found.verified, found.autoattack, found.images, found.unsound) == (0.5, 4 / 6, 6, 0)
    assert found.missed == 1 and found.missed_by == {"apgd-ce": 2, "square": 1}  # image 2; image 3 after APGD-CE
    assert found.gap == pytest.approx(4 / 6 - 0.5)
    unsound = interval(Stored, {"method": "crown", "images": 6}, {"status": ["verified"] * 6}, 0.1, "")
    assert unsound.unsound == 2 and unsound.missed is None
    assert interval(Stored, {"method": "crown", "images": 6}, {"status": status}, 0.3, "") is None  # no AutoAttack


def test_the_bounds_figure_takes_the_tightest_verified_method_and_autoattack_at_each_eps(tmp_path):
    """`kerasll plot bounds`' data: per ε, AutoAttack's accuracy (standard results and ε-curves) and the
    verified accuracy on the most images, then by the tightest method (milp > crown > ibp), a timed-out MILP
    left out; the figure is written."""
    from kerasll.evaluation.kinds import CurveSettings, VerifySettings
    from kerasll.evaluation.settings import EvalSettings
    from kerasll.figures import plot_bounds
    from kerasll.zoo.curves import stored_bounds
    from kerasll.zoo.results import ResultId

    def stored(settings, samples, **numbers):
        return ResultId(settings, samples, "", "tensorflow").fields() | numbers

    aa = EvalSettings("autoattack", "linf", 0.1, version="standard")
    curve = CurveSettings(EvalSettings("autoattack", "linf", 0.0, version="fast"), (0.0, 0.05, 0.1))
    results = {str(i): r for i, r in enumerate([
        stored(aa, 1000, robust_accuracy=0.6),
        stored(curve, 100, budgets=[0.0, 0.05, 0.1], accuracy=[0.8, 0.7, 0.65]),
        stored(VerifySettings(0.1, "ibp"), 1000, verified_accuracy=0.4, images=1000, method="ibp"),
        stored(VerifySettings(0.1, "crown"), 100, verified_accuracy=0.45, images=100, method="crown"),
        stored(VerifySettings(0.1, "milp", 30.0), 1000, verified_accuracy=0.55, timed_out=3, images=1000,
               method="milp"),
        stored(VerifySettings(0.05, "ibp"), 100, verified_accuracy=0.6, images=100, method="ibp"),
        stored(VerifySettings(0.05, "milp", 30.0), 100, verified_accuracy=0.68, timed_out=0, images=100,
               method="milp"),
    ])}

    class Zoo:
        @staticmethod
        def get(name):
            class Entry:
                @staticmethod
                def evaluations():
                    return results
            return Entry

    found = stored_bounds(Zoo, "m")
    assert found.attacked == {0.0: 0.8, 0.05: 0.7, 0.1: 0.6}  # the standard result over the fast curve's point
    assert found.verified == {0.1: (0.4, "ibp"), 0.05: (0.68, "milp")}  # 1,000 images by IBP over 100 by CROWN
    path = plot_bounds([("m", found.attacked, found.verified)], tmp_path / "bounds.png")
    assert path.stat().st_size > 10_000


@pytest.mark.pipeline
def test_an_interrupted_verification_resumes_from_its_saved_chunks(tmp_path, monkeypatch):
    """`verify_records` (the template every evaluation runs on): each chunk's verdicts, and each finished stage
    inside a chunk, are kept; a rerun takes them and verifies only the rest, and the records are the one-call
    result (the images are independent)."""
    from kerasll.evaluation.chunks import Context
    from kerasll.evaluation.kinds import VerifySettings
    from kerasll.verification import measure

    model = two_input_net(0)
    x = np.random.default_rng(0).uniform(0.15, 0.85, (23, 2)).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    monkeypatch.setitem(measure.STAGE, "milp", 5)
    whole = kl.verify(model, x, y, 0.1, method="milp", time_limit=30)
    calls, stop = [], {"at": 4}
    def counting(model_, x_, *args, **kwargs):
        calls.append(len(x_))
        if len(calls) == stop["at"]:
            raise RuntimeError("stopped")  # in the second stage of the second chunk
        return kl.verify(model_, x_, *args, **kwargs)

    monkeypatch.setattr(sys.modules["kerasll.verification.verify"], "verify", counting)  # the module, not kl.verify
    settings, context = VerifySettings(0.1, "milp", 30.0), Context.of(batch_size=10)
    with pytest.raises(RuntimeError, match="stopped"):
        measure.verify_records(model, x, y, settings, tmp_path, context)
    calls.clear()
    stop["at"] = None  # no interruption this time
    records, _ = measure.verify_records(model, x, y, settings, tmp_path, context)
    assert calls == [5, 3]  # chunk 1 from its file, chunk 2's first stage kept; its second stage and chunk 3 run
    resumed = measure.result_of(records, "milp", 0.1)
    np.testing.assert_array_equal(resumed.status, whole.status)
    np.testing.assert_array_equal(resumed.verified, whole.verified)
    np.testing.assert_allclose(resumed.margin_lower, whole.margin_lower)


def test_the_solver_cannot_write_into_standard_output(capfd):
    """HiGHS's C++ side can print to file descriptor 1 despite disp=False, which would corrupt `kerasll verify
    --json -`: the MILP's calls run with fd 1 on the null device, restored after."""
    import os

    from kerasll._descriptors import muted

    with muted(1):  # as `milp._Program.solve` runs HiGHS
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();\n")
    os.write(1, b"after\n")
    assert capfd.readouterr().out == "after\n"


def test_a_model_whose_weights_changed_is_read_again():
    """`verify` reads a model's layers once per weights (`network_of`): after `set_weights` the bounds are the new
    model's, not the cached old ones."""
    from kerasll.verification.verify import network_of

    model = two_input_net(0)
    x = np.random.default_rng(1).uniform(0.2, 0.8, (8, 2)).astype(np.float32)
    y = np.asarray(model(x)).argmax(-1)
    before = kl.verify(model, x, y, 0.05, method="ibp").margin_lower
    assert network_of(model) is network_of(model)  # read once
    model.set_weights([2 * w for w in model.get_weights()])
    after = kl.verify(model, x, y, 0.05, method="ibp").margin_lower
    fresh = ibp_margins(chain(model)[0], x, y, 0.05)
    fresh[np.arange(len(y)), y] = np.inf  # z_y − z_y is no constraint, as in `verify`
    np.testing.assert_allclose(after, fresh.min(-1))
    assert not np.allclose(after, before)


def test_a_0_to_255_file_is_verified_behind_its_input_scale(tmp_path):
    """--input-scale reaches the verifier as it reaches the attacks: a file expecting [0, 255] pixels, verified
    with input_scale 255 on [0, 1] images, gives the [0, 1] model's verdicts (unscaled it would see black)."""
    from kerasll.zoo import Zoo
    from kerasll.zoo.evaluation import context_of
    from kerasll.zoo.requests import Inputs
    from kerasll.zoo.verification import verify_model

    plain = Zoo().get("fmnist-mlp-ibp").load_model().classifier
    inputs = keras.Input(plain.input_shape[1:])
    keras.Model(inputs, plain(keras.layers.Rescaling(1 / 255)(inputs))).save(tmp_path / "m255.keras")
    plain.save(tmp_path / "m1.keras")
    verdicts = {}
    for file, scale in (("m1.keras", 1.0), ("m255.keras", 255.0)):
        request = Inputs(dataset="fashion_mnist", source="embedded", limit=20, input_scale=scale)
        _, results, _ = verify_model(None, str(tmp_path / file), request, (0.02,), "ibp", context_of(request))
        verdicts[scale] = results[0.02]
    assert verdicts[255.0]["clean_accuracy"] == verdicts[1.0]["clean_accuracy"] >= 0.5
    assert verdicts[255.0]["verified_accuracy"] == verdicts[1.0]["verified_accuracy"] > 0
