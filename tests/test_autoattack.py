"""AutoAttack and the self-checks: exact bookkeeping, and flags that fire on masked gradients."""

import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasll as kl
from kerasll.attacks import checks
from devtools.masked import stop_gradient
from kerasll.evaluation import accuracy, attack_settings, robust_accuracy
from kerasll.zoo.results import robustbench_fields


class NoGradient(keras.layers.Layer):
    """The identity whose gradient raises: proves an attack never asks for one."""

    def call(self, x):
        @tf.custom_gradient
        def identity(t):
            def grad(_):
                raise AssertionError("a gradient was requested")
            return tf.identity(t), grad
        return identity(x)


def behind(layer, model):
    inputs = keras.Input((28, 28, 1))
    return keras.Model(inputs, model(layer(inputs)))


@pytest.fixture(scope="module")
def data(fmnist):
    return fmnist[2][:120], fmnist[3][:120]


def linf(a, b):
    return np.abs(np.asarray(a) - b).reshape(len(b), -1).max(1)


@pytest.mark.pipeline
def test_autoattack_accuracy_is_the_accuracy_on_its_images(trained_lenet, data):
    x, y = data
    r = kl.autoattack(trained_lenet, x, y, 8 / 255, seed=0)
    assert list(r.by_attack) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    fooled_or_not = np.argmax(trained_lenet(r.x_adv).numpy(), 1) == y  # the model itself on the returned images
    assert r.robust_accuracy == np.mean(fooled_or_not) and np.array_equal(r.robust, fooled_or_not)
    accs = list(r.by_attack.values())
    assert accs == sorted(accs, reverse=True) and accs[-1] == r.robust_accuracy
    assert r.robust_accuracy <= r.clean_accuracy
    assert linf(r.x_adv, x).max() <= 8 / 255 + 1e-6 and r.x_adv.min() >= 0 and r.x_adv.max() <= 1
    d = r.to_dict()
    assert d["samples"] == 120 and "clean_acc" not in d and {"clean_accuracy", "robust_accuracy"} <= set(d)
    rb = robustbench_fields(d)  # RobustBench's names only in the export
    assert rb == {"clean_acc": r.clean_accuracy, "autoattack_acc": r.robust_accuracy, "eps": 8 / 255,
                  "threat_model": "Linf", "n_examples": 120}
    assert not [f for f in r.flags if f.code in ("square", "gradients", "probabilities", "noise")]


@pytest.mark.pipeline
def test_autoattack_at_least_as_strong_as_pgd(trained_lenet, data):
    x, y = data
    pgd = accuracy(trained_lenet, kl.pgd(trained_lenet, x, y, 8 / 255, 2 / 255, 10, seed=0), y)
    assert kl.autoattack(trained_lenet, x, y, 8 / 255, version="fast").robust_accuracy <= pgd


@pytest.mark.pipeline
@pytest.mark.parametrize("kind", [pytest.param("stop-gradient", marks=pytest.mark.long), "quantised",
                                  pytest.param("binarised", marks=pytest.mark.long)])
def test_square_flag_fires_on_models_that_mask_gradients(trained_lenet, data, kind):
    from devtools.masked import MASKED

    x, y = data[0][:60], data[1][:60]
    masked = MASKED[kind](trained_lenet)
    honest = kl.autoattack(trained_lenet, x, y, 25 / 255, version="fast", run_checks=False).robust_accuracy
    r = kl.autoattack(masked, x, y, 25 / 255, seed=0)
    # Without useful gradients APGD and FAB barely move; Square, which needs none, does the real work.
    assert r.by_attack["fab-t"] > honest + 0.1
    assert r.by_attack["square"] < r.by_attack["fab-t"] - 0.1
    assert "square" in {f.code for f in r.flags} and all(f.hint for f in r.flags)


def test_saturated_softmax_blinds_square_too_and_other_flags_catch_it(trained_lenet, data):
    """Saturated probabilities are flat for Square's scores as for gradients: `square` cannot see it,
    `probabilities` and `gradients` do."""
    from devtools.masked import saturated

    x, y = data[0][:60], data[1][:60]
    model = saturated(trained_lenet)
    records = checks.image_checks(model, x, y, 25 / 255, "linf")
    correct = np.argmax(model(x), 1) == y
    assert {"probabilities", "gradients"} <= {f.code for f in checks.flags_of(records, correct, correct)}


@pytest.mark.pipeline
def test_square_uses_forward_passes_only(trained_lenet, data):
    x, y = data[0][:20], data[1][:20]
    sealed = behind(NoGradient(), trained_lenet)
    for norm, eps in (("linf", 25 / 255), ("l2", 1.5)):
        adv = kl.square_attack(sealed, x, y, eps, norm=norm, queries=100, seed=0).numpy()
        delta = (adv - x).reshape(20, -1)
        size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        assert size.max() <= eps * (1 + 1e-5) and adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(Exception, match="gradient was requested"):
        kl.apgd(sealed, x, y, 25 / 255, steps=2)


def test_reference_square_never_moves_the_last_row_or_column_and_strong_does():
    """A model that reads only the bottom-right pixel: after the start's ±ε stripes, the reference's
    windows (positions 0..H−s−1) never reach it; the strong variant's (0..H−s) do."""
    inputs = keras.Input((6, 6, 1))
    corner = keras.layers.Lambda(lambda t: t[:, -1, -1, :] - 0.5)(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([corner, -corner]))
    x = np.full((50, 6, 6, 1), 0.5, np.float32)
    x[:, -1, -1, 0] = 0.55
    y = np.zeros(50, np.int64)
    adv = {v: kl.square_attack(model, x, y, 0.1, queries=300, seed=0, variant=v).numpy() for v in ("reference", "strong")}
    start = x + 0.1 * np.sign(adv["reference"] - x)  # the stripes moved the corner by ±ε once
    assert np.allclose(adv["reference"][:, -1, -1], np.clip(start[:, -1, -1], 0, 1))
    assert (adv["strong"][:, -1, -1, 0] < 0.5).mean() > 0.9  # fooled: the corner pushed below 0.5


def test_square_schedule_is_unscaled_in_autoattack_and_stretched_when_asked():
    from kerasll.attacks.square import p_schedule, window_sizes

    assert p_schedule(4999, 5000, 0.8, rescale=False) == 0.8 / 128  # the reference's AutoAttack stops here
    assert p_schedule(4999, 5000, 0.8, rescale=True) == 0.8 / 512
    assert window_sizes(5000, 0.8, 28, 28, "linf", rescale=False)[-1] == 2
    assert window_sizes(5000, 0.8, 28, 28, "linf", rescale=True)[-1] == 1


@pytest.mark.parametrize("variant", ["reference", "strong"])
def test_square_breaks_a_linear_model_where_the_optimum_allows(variant):
    """The L∞ optimum of a linear model puts every free pixel at ±ε. The reference's windows never reach
    the last row and column, so there the start's stripes stay: its optimum holds those pixels fixed."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 1))
    dense = keras.layers.Dense(5)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w, b = rng.normal(size=(36, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    dense.set_weights([w, b])
    x = rng.uniform(0.3, 0.7, (200, 6, 6, 1)).astype(np.float32)
    xf = x.reshape(200, -1)
    y = np.argmax(xf @ w + b, 1)
    eps = 0.05
    adv = kl.square_attack(model, x, y, eps, queries=1000, seed=0, variant=variant).numpy()
    free = np.ones((6, 6), bool)
    if variant == "reference":
        free[-1, :] = free[:, -1] = False
    free = free.reshape(-1)
    z = xf @ w + b
    diff = w[:, y].T[:, None, :] - w.T[None]  # (image, class, pixel): ∂(z_y − z_k)/∂x
    fixed = np.einsum("ikp,ip->ik", diff[:, :, ~free], (adv.reshape(200, -1) - xf)[:, ~free])
    m = z[np.arange(200), y][:, None] - z + fixed
    optimum = np.where(np.arange(5)[None] == y[:, None], np.inf, m - eps * np.abs(diff[:, :, free]).sum(2)).min(1)
    fooled = np.argmax(adv.reshape(200, -1) @ w + b, 1) != y
    assert not np.any(fooled & (optimum > 1e-4))  # in budget: never beyond the optimum
    assert fooled[optimum < -1e-3].mean() >= 0.95


def test_probability_outputs_are_flagged(trained_lenet, data):
    x, y = data
    inputs = keras.Input((28, 28, 1))
    probs = keras.Model(inputs, keras.layers.Softmax()(trained_lenet(inputs)))
    flagged = checks.image_checks(probs, x, y, 8 / 255, "linf")
    honest = checks.image_checks(trained_lenet, x, y, 8 / 255, "linf")
    assert flagged["probabilities"].all() and not honest["probabilities"].any()
    correct = np.argmax(trained_lenet(x), 1) == y
    assert "probabilities" in [f.code for f in checks.flags_of(flagged, correct, correct)]
    assert "probabilities" not in [f.code for f in checks.flags_of(honest, correct, correct)]


def test_binomial_tail_matches_the_exact_sum():
    from kerasll.stats import binomial_tail
    from math import comb

    for k, n, p in ((34, 400, 0.05), (0, 10, 0.3), (7, 7, 0.5), (3, 300, 0.01)):
        exact = sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_tail(k, n, p) == pytest.approx(exact, rel=1e-9)


def test_checks_fire_on_their_own_conditions():
    assert checks.check_noise(0.30, 0.50).code == "noise" and checks.check_noise(0.6, 0.5) is None
    assert checks.check_order({"fgsm": 0.2, "pgd": 0.3}).code == "order"
    assert checks.check_order({"fgsm": 0.4, "pgd": 0.3, "apgd-ce": 0.29}) is None
    # Of 400 robust images a sound evaluation leaves Square ≤ 5% (20): 34 is significant at 1%, 30 is not.
    assert checks.check_square(34, 400).code == "square" and checks.check_square(30, 400) is None
    assert checks.check_square(0, 0) is None and checks.check_square(5, 5).code == "square"
    assert checks.check_square(2, 5) is None  # 2 of 5: p = 0.023 at a 5% share
    assert checks.check_sweep({0.1: 0.5, 0.2: 0.2, 1.0: 0.0}) is None
    assert checks.check_sweep({0.1: 0.5, 0.2: 0.4, 1.0: 0.3}).code == "eps-sweep"
    assert checks.check_sweep({0.1: 0.2, 0.2: 0.3, 1.0: 0.0}).code == "eps-sweep"


@pytest.mark.pipeline
@pytest.mark.long
def test_eps_sweep_reaches_zero_unless_masked(trained_lenet, data):
    x, y = data[0][:40], data[1][:40]
    sweep = kl.eps_sweep(trained_lenet, x, y, 4 / 255)
    assert not sweep.flags and sweep.accuracy_by_eps[1.0] == 0.0 and len(sweep.budgets) == 5
    masked = kl.eps_sweep(stop_gradient(trained_lenet), x, y, 4 / 255)
    assert [f.code for f in masked.flags] == ["eps-sweep"]


def test_robust_accuracy_accepts_column_labels(trained_lenet, data):
    # A (N, 1) label column used to broadcast against (N,) predictions into an (N, N) mean.
    x, y = data
    settings = attack_settings("fashion_mnist", "fgsm", eps=8 / 255)
    flat = robust_accuracy(trained_lenet, x, y, settings)
    column = robust_accuracy(trained_lenet, x, y.reshape(-1, 1), settings)
    assert column == flat
    assert accuracy(trained_lenet, x, y.reshape(-1, 1)) == accuracy(trained_lenet, x, y)


@pytest.mark.parametrize("kwargs,word", [
    (dict(version="random"), "version"), (dict(norm="l0"), "norm"), (dict(norm="l1", version="plus"), "no L1 form"), (dict(eps=-0.1), "eps"), (dict(eps=2.0), "eps"),
])
def test_autoattack_bad_settings(trained_lenet, data, kwargs, word):
    x, y = data
    args = dict(eps=0.1) | kwargs
    with pytest.raises(kl.KerasllError, match=word):
        kl.autoattack(trained_lenet, x[:4], y[:4], **args)


def test_labels_out_of_range_are_refused(trained_lenet, data):
    from kerasll.evaluation import evaluate

    x, y = data
    with pytest.raises(kl.KerasllError, match="label 10 is out of range"):
        evaluate(trained_lenet, x[:4], np.array([1, 2, 10, 3]), attack_settings("fashion_mnist", "fgsm"))


def test_the_run_environment_goes_in_the_context_only(trained_lenet, data):
    with pytest.raises(kl.KerasllError, match=r"no option 'batch_size'.*context=kerasll.Context.of"):
        kl.autoattack(trained_lenet, data[0][:4], data[1][:4], 8 / 255, batch_size=2)


@pytest.mark.pipeline
def test_progress_reports_the_robust_accuracy_so_far(trained_lenet, data):
    x, y = data[0][:60], data[1][:60]
    seen = []
    r = kl.autoattack(trained_lenet, x, y, 8 / 255, version="fast", run_checks=False,
                      context=kl.Context(progress=lambda name, done, total, acc: seen.append((name, done, total, acc))))
    assert {s[0] for s in seen} == {"apgd-ce", "apgd-t"}
    last = {name: acc for name, _, _, acc in seen}
    assert last["apgd-ce"] == r.by_attack["apgd-ce"] and last["apgd-t"] == r.by_attack["apgd-t"]
    assert all(0 <= acc <= 1 and done <= total for _, done, total, acc in seen)


@pytest.mark.pipeline
@pytest.mark.long
def test_plus_runs_the_reference_attacks_with_their_restarts_and_is_never_weaker(trained_lenet, data, monkeypatch):
    aa = importlib.import_module("kerasll.evaluation.core")  # the package exports a function named autoattack

    x, y = data[0][:40], data[1][:40]
    calls, run = [], aa.run_attack
    monkeypatch.setattr(aa, "run_attack", lambda name, *a, **k: calls.append((name, k)) or run(name, *a, **k))
    plus = kl.autoattack(trained_lenet, x, y, 8 / 255, version="plus", seed=0, run_checks=False)
    order = ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"]
    assert list(plus.by_attack) == order
    ran = [name for name, _ in calls]
    assert ran == order[:len(ran)] and len(ran) >= 3  # an attack is skipped only once no image is left
    assert all(k.get("restarts") == {"apgd-ce": 5, "apgd-dlr": 5, "fab": 5}.get(name) for name, k in calls)
    standard = kl.autoattack(trained_lenet, x, y, 8 / 255, seed=0, run_checks=False)
    # Every attack's random draws depend on (seed, image), so plus repeats standard's runs and adds more.
    assert not np.any(plus.robust & ~standard.robust)
    assert plus.robust_accuracy == np.mean(np.argmax(trained_lenet(plus.x_adv).numpy(), 1) == y)  # the model's word


def test_square_flag_counts_only_what_square_itself_broke(monkeypatch):
    """In plus, APGD-T and FAB-T run after Square: their finds are not Square's."""
    aa = importlib.import_module("kerasll.evaluation.core")  # the package exports a function named autoattack

    inputs = keras.Input((2, 2, 1))
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w = np.zeros((4, 2), np.float32)
    w[0, 1] = 10.0
    dense.set_weights([w, np.array([0.0, -5.0], np.float32)])  # class 1 iff pixel 0 > 0.5
    x, y = np.full((1000, 2, 2, 1), 0.2, np.float32), np.zeros(1000, np.int64)
    breaks = {"apgd-ce": [0], "apgd-dlr": [1], "fab": [], "square": list(range(2, 82)), "apgd-t": [82, 83], "fab-t": []}

    def fake(name, model, x_sub, y_sub, eps, norm, seed, keys, progress, batch_size, **settings):
        adv = np.array(x_sub)
        adv[np.isin(keys, breaks[name]), 0, 0, 0] = 1.0
        return adv

    monkeypatch.setattr(aa, "run_attack", fake)
    r = kl.autoattack(model, x, y, 8 / 255, version="plus", run_checks=False, keys=np.arange(1000))  # names images
    assert r.robust_accuracy == 0.916
    assert [f.message for f in r.flags if f.code == "square"] == [
        "the black-box Square attack broke 80 of the 998 images (8.0%) that the gradient-based attacks before it "
        "left robust; a sound evaluation leaves it at most 5% of them (binomial p = 3.3e-05)"]
    assert "plus" not in r.flags[0].hint and "plus" in checks.check_square(80, 998).hint


class CoinFlipGradient(keras.layers.Layer):
    """The identity forward; backward, each pixel's gradient is ×3 or ×−1 at random (fresh every call).

    A single gradient's signs are coin flips, while their mean over calls points the true way:
    the case expectation over transformation exists for. The outputs stay deterministic, so the
    model's robust accuracy has an exact answer.
    """

    def call(self, x):
        s = tf.sign(tf.random.uniform(tf.shape(x)) - 0.5)
        extra = 2.0 * s * x
        return x + extra - tf.stop_gradient(extra)


@pytest.mark.pipeline
def test_rand_averages_random_gradients_where_standard_overstates_robustness():
    from helpers import linear_images

    keras.utils.set_random_seed(0)
    model, x, y, radius = linear_images(n=200)
    inputs = keras.Input((4, 4, 1))
    noisy = keras.Model(inputs, model(CoinFlipGradient()(inputs)))
    eps = 0.15  # x ± eps stays inside [0, 1]: the exact robust radius applies
    clean_gradients = kl.autoattack(model, x, y, eps, attacks=["apgd-ce", "apgd-dlr"], run_checks=False)
    single = kl.autoattack(noisy, x, y, eps, attacks=["apgd-ce", "apgd-dlr"], run_checks=False)
    rand = kl.autoattack(noisy, x, y, eps, version="rand", run_checks=False)
    assert rand.robust_accuracy >= np.mean(radius > eps)  # never beyond the optimum
    assert rand.robust_accuracy <= clean_gradients.robust_accuracy + 0.02  # as strong as with true gradients
    assert single.robust_accuracy >= rand.robust_accuracy + 0.2  # one gradient per step overstates robustness


@pytest.mark.pipeline
@pytest.mark.long
def test_rand_on_a_deterministic_model_is_apgd_ce_and_dlr(trained_lenet, data):
    x, y = data[0][:40], data[1][:40]
    rand = kl.autoattack(trained_lenet, x, y, 8 / 255, version="rand", seed=1)
    plain = kl.autoattack(trained_lenet, x, y, 8 / 255, attacks=["apgd-ce", "apgd-dlr"], seed=1)
    assert np.array_equal(rand.robust, plain.robust) and rand.by_attack == plain.by_attack
    assert list(rand.by_attack) == ["apgd-ce", "apgd-dlr"]


def test_the_randomized_flag_names_the_rand_version():
    n = 10
    records = {"probabilities": np.zeros(n, bool), "unstable": np.arange(n) < 3, "grad_zero": np.zeros(n, bool),
               "grad_bad": np.zeros(n, bool), "noise": np.ones(n, bool)}
    ok = np.ones(n, bool)
    flags = checks.flags_of(records, ok, ok)
    assert [f.code for f in flags] == ["randomized"] and "--version rand" in flags[0].hint
    assert "3 of 10 images" in flags[0].message
    assert checks.flags_of(records, ok, ok, eot=True) == []  # rand already averaged over the randomness


def test_parity_flags_survive_packing_and_gaps_are_means_over_seeds():
    from devtools.parity import PARITY_MARGIN, StageComparison, at_parity, pack_flags, parity_gaps, unpack_flags

    flags = np.random.default_rng(0).random(1003) < 0.5  # not a multiple of 8
    assert np.array_equal(unpack_flags(pack_flags(flags), 1003), flags)
    seeds = [[StageComparison("square", 1000, 480, 478, 3, 1)], [StageComparison("square", 1000, 470, 470, 0, 0)]]
    assert parity_gaps(seeds, stages=("square",)) == {"square": pytest.approx(0.1)}
    assert at_parity({"square": PARITY_MARGIN}) and not at_parity({"a": 0.0, "square": PARITY_MARGIN + 0.01})
    # 2 images of 1,000 over 5 seeds is the margin exactly, whatever the float sums make of it
    edge = [[StageComparison("apgd-t", 1000, 480 + d, 480, 0, 0)] for d in (4, 5, 1, -1, 1)]
    assert at_parity(parity_gaps(edge, stages=("apgd-t",)))


def test_sign_test_is_the_exact_two_sided_binomial_on_the_images_one_side_broke():
    from kerasll.stats import sign_test

    assert sign_test(0, 10) == pytest.approx(2 / 2**10)  # all ten on one side: 2 · (1/2)^10
    assert sign_test(10, 0) == sign_test(0, 10)
    assert sign_test(1, 3) == pytest.approx(2 * 5 / 16)  # 2 · P(K ≥ 3), K ~ Binomial(4, 1/2)
    assert sign_test(5, 5) == 1.0 and sign_test(0, 0) == 1.0


def test_stages_the_reference_driver_skipped_broke_nothing():
    from devtools.parity import fill_skipped

    clean, after_ce = np.array([True, True, False]), np.array([False, False, False])
    flags, seconds = fill_skipped({"apgd-ce": after_ce}, {"apgd-ce": 3.0}, clean)
    assert all(np.array_equal(flags[s], after_ce) for s in ("apgd-t", "fab-t", "square"))
    assert seconds == {"apgd-ce": 3.0, "apgd-t": 0.0, "fab-t": 0.0, "square": 0.0}
    flags, _ = fill_skipped({}, {}, clean)  # nothing ran: every stage keeps the clean flags
    assert np.array_equal(flags["square"], clean)


def test_parity_counts_which_side_broke_each_image_and_the_port_check_sees_a_wrong_copy(trained_lenet, data):
    from devtools.parity import compare_stages, port_check

    ours = {"apgd-ce": [True, True, False, True], "square": [True, False, False, True]}
    theirs = {"apgd-ce": [True, False, True, True], "square": [False, False, True, True]}
    rows = {r.stage: r for r in compare_stages(ours, theirs, stages=("apgd-ce", "square"))}
    assert (rows["apgd-ce"].ours, rows["apgd-ce"].theirs, rows["apgd-ce"].only_ours, rows["apgd-ce"].only_theirs) == (3, 3, 1, 1)
    assert (rows["square"].only_ours, rows["square"].only_theirs) == (1, 1)
    # The port check against a closed form: for a linear model f(x) = W·vec(x) + b the summed cross-entropy's
    # input gradient is Wᵀ(softmax(f(x)) − onehot(y)), computed here in float64 NumPy, not by TensorFlow.
    x, y = data[0][:8], data[1][:8]
    linear = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Flatten(), keras.layers.Dense(10)])
    w, b = (v.astype(np.float64) for v in linear.get_weights())
    logits = x.reshape(len(x), -1).astype(np.float64) @ w + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = ((p - np.eye(10)[y]) @ w.T).reshape(x.shape)
    assert port_check(linear, x, y, logits, grad)["ok"]
    assert not port_check(linear, x, y, logits + 1e-3, grad)["ok"]
    assert not port_check(linear, x, y, logits, grad[:, ::-1])["ok"]
