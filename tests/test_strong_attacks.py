"""APGD and FAB against cases with known answers: linear classifiers, closed-form projections."""

import numpy as np
import pytest
import tensorflow as tf

import kerasll as kl
from kerasll.attacks import dlr_loss, targeted_dlr_loss
from kerasll.attacks.apgd import checkpoints
from kerasll.attacks.fab import project_onto_hyperplane

from helpers import linear_model

DUAL = {"linf": 1, "l2": 2}


def linear_case(num_classes=5, n=300, seed=1):
    model, w, b = linear_model(dim=12, num_classes=num_classes, seed=seed)
    x = np.random.default_rng(seed).uniform(0.3, 0.7, size=(n, 12)).astype(np.float32)
    y = np.argmax(x @ w + b, 1)
    return model, w, b, x, y


def closed_form(w, b, x, y, norm):
    """Per image and class: margin z_y − z_j and the dual norm ‖w_y − w_j‖ (the box does not bind)."""
    z = x @ w + b
    m = z[np.arange(len(x)), y][:, None] - z
    diff = w[:, y].T[:, None, :] - w.T[None]
    d = np.linalg.norm(diff, ord=DUAL[norm], axis=2)
    own = np.arange(w.shape[1])[None] == y[:, None]
    return np.where(own, np.inf, m), np.where(own, 1.0, d)


def size(adv, x, norm):
    delta = (np.asarray(adv) - x).reshape(len(x), -1)
    return np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)


def test_dlr_losses_match_their_formulas():
    z = np.array([[3.0, 1.0, 2.0, -1.0, 0.5], [0.0, 4.0, 1.0, 2.0, -3.0]], np.float32)
    y = np.array([0, 2])
    s = -np.sort(-z, 1)
    expected = [-(3 - 2) / (s[0, 0] - s[0, 2]), -(1 - 4) / (s[1, 0] - s[1, 2])]
    np.testing.assert_allclose(dlr_loss(tf.constant(y), tf.constant(z)).numpy(), expected, rtol=1e-6)
    t = np.array([3, 3])
    expected_t = [-(3 - (-1)) / (s[0, 0] - (s[0, 2] + s[0, 3]) / 2), -(1 - 2) / (s[1, 0] - (s[1, 2] + s[1, 3]) / 2)]
    np.testing.assert_allclose(targeted_dlr_loss(tf.constant(y), tf.constant(t), tf.constant(z)).numpy(),
                               expected_t, rtol=1e-6)


def test_checkpoint_schedule_is_the_papers():
    is_check, interval = checkpoints(100)
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 → iterations 22, 41, 57, ...
    assert list(np.flatnonzero(is_check) + 1) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert interval[21] == 22 and interval[98] == 6


def reference_apgd_linf(model, x, y, x0, eps, steps, loss_fn, rho=0.75):
    """fra31/auto-attack's L∞ APGD loop (autopgd_base.py, attack_single_run) transcribed in NumPy, the
    loss history included: `loss_steps[-1]`, read at the first checkpoint, is a still-empty zero slot.
    Returns, as kerasll's batch does, the first iterate that fools the model, else the best-loss one."""
    def loss_grad(xa):
        xa = tf.constant(xa)
        with tf.GradientTape() as tape:
            tape.watch(xa)
            logits = model(xa, training=False)
            loss = loss_fn(logits)
            total = tf.reduce_sum(loss)
        return loss.numpy(), tape.gradient(total, xa).numpy(), logits.numpy()

    n, eps, shape = len(x), np.float32(eps), (-1,) + (1,) * (x.ndim - 1)
    k, k_min, k_decr = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    x_adv = x0.copy()
    loss, grad, logits = loss_grad(x_adv)
    x_best, grad_best, loss_best = x_adv.copy(), grad.copy(), loss.copy()
    fooled, x_fool = logits.argmax(1) != y, x_adv.copy()
    loss_steps = np.zeros([steps, n], np.float32)
    step, x_old = np.full(n, 2 * eps, np.float32), x_adv.copy()
    counter3, loss_best_last, reduced_last = 0, loss_best.copy(), np.ones(n, bool)
    for i in range(steps):
        grad2, x_old = x_adv - x_old, x_adv.copy()
        a = np.float32(0.75 if i > 0 else 1.0)
        x1 = np.clip(np.minimum(np.maximum(x_adv + step.reshape(shape) * np.sign(grad), x - eps), x + eps), 0, 1)
        x_adv = np.clip(np.minimum(np.maximum(x_adv + (x1 - x_adv) * a + grad2 * (1 - a), x - eps), x + eps), 0, 1)
        loss, grad, logits = loss_grad(x_adv)
        new = (logits.argmax(1) != y) & ~fooled
        x_fool[new], fooled = x_adv[new], fooled | new
        loss_steps[i] = loss
        up = loss > loss_best
        x_best[up], grad_best[up], loss_best[up] = x_adv[up], grad[up], loss[up]
        counter3 += 1
        if counter3 == k:
            rises = sum((loss_steps[i - c] > loss_steps[i - c - 1]).astype(np.float32) for c in range(k))
            reduce = (rises <= k * rho) | (~reduced_last & (loss_best_last >= loss_best))
            reduced_last, loss_best_last = reduce.copy(), loss_best.copy()
            step[reduce] /= 2
            x_adv[reduce], grad[reduce] = x_best[reduce], grad_best[reduce]
            k, counter3 = max(k - k_decr, k_min), 0
    return np.where(fooled.reshape(shape), x_fool, x_best)


@pytest.mark.parametrize("loss", ["ce", "targeted"])
def test_apgd_follows_the_reference_loop_step_by_step(loss):
    # A small ReLU network at an ε where a third of the images break; 20 steps put checkpoints at
    # iterations 4, 7, 10, ... The first one counts the first step as a rise when its loss is above 0 (the
    # reference's empty slot): always for CE, never for a robust image's DLR. Counting it against the
    # start's loss instead changes 4 of these 64 images under APGD-T.
    from kerasll.attacks.apgd import Schedule, _apgd_batch
    from kerasll.attacks.driver import Batch
    from kerasll.attacks.geometry import sphere_start

    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(32, "relu"),
                              keras.layers.Dense(10)])
    x = np.random.default_rng(3).uniform(0, 1, (64, 6, 6, 1)).astype(np.float32)
    y = np.argmax(model.predict(x, verbose=0), 1).astype(np.int32)
    target = np.argsort(-model.predict(x, verbose=0), 1)[:, 1].astype(np.int32)
    steps, eps, seed, keys = 20, 0.02, tf.constant(5, tf.int64), tf.range(64, dtype=tf.int64)
    is_check, interval = checkpoints(steps)
    batch = Batch(tf.constant(x), tf.constant(y), tf.constant(target), keys, seed)
    schedule = Schedule(tf.constant(eps), tf.constant(steps), tf.constant(is_check), tf.constant(interval),
                        tf.constant(0.75))
    ours = _apgd_batch(model, batch, schedule, "linf", loss).numpy()

    def targeted(z):  # the reference's dlr_loss_targeted
        s = tf.sort(z, axis=1)
        diff = tf.gather(z, y, batch_dims=1) - tf.gather(z, target, batch_dims=1)
        return -diff / (s[:, -1] - 0.5 * (s[:, -3] + s[:, -4]) + 1e-12)

    ce = lambda logits: tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)  # noqa: E731
    x0 = sphere_start(tf.constant(x), tf.constant(eps), "linf", seed, keys).numpy()
    theirs = reference_apgd_linf(model, x, y, x0, eps, steps, ce if loss == "ce" else targeted)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.15)])
def test_apgd_t_finds_every_breakable_point_of_a_linear_model(norm, eps):
    model, w, b, x, y = linear_case()
    m, d = closed_form(w, b, x, y, norm)
    breakable = (m - eps * d).min(1) < 0
    clear = np.abs((m - eps * d).min(1)) > 1e-3
    adv = kl.apgd(model, x, y, eps, norm=norm, targeted=True, target_classes=4, seed=0).numpy()
    fooled = np.argmax(adv @ w + b, 1) != y
    assert np.all(size(adv, x, norm) <= eps * (1 + 1e-5))
    np.testing.assert_array_equal(fooled[clear], breakable[clear])


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.15)])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_reaches_the_optimum_of_a_two_class_linear_model(norm, eps, loss):
    # With two classes CE and the margin are monotone in each other: the optimum is
    # δ = −ε·sign(w_y − w_o) (L∞) or −ε·(w_y − w_o)/‖·‖₂ (L2), and APGD must reach it.
    model, w, b, x, y = linear_case(num_classes=2 if loss == "ce" else 3)
    m, d = closed_form(w, b, x, y, norm)
    optimum = (m - eps * d).min(1)
    adv = kl.apgd(model, x, y, eps, norm=norm, loss=loss, seed=0).numpy()
    z = adv @ w + b
    reached = z[np.arange(len(x)), y] - np.where(np.arange(w.shape[1])[None] == y[:, None], -np.inf, z).max(1)
    fooled = reached < 0
    np.testing.assert_array_equal(fooled[np.abs(optimum) > 1e-3], (optimum < 0)[np.abs(optimum) > 1e-3])
    if loss == "ce":  # the robust points sit at the optimum (the strongest point, not just any)
        keep = optimum > 1e-3
        np.testing.assert_allclose(reached[keep], optimum[keep], atol=2e-3)


def test_apgd_restarts_and_targets_never_weaken(trained_lenet, fmnist):
    x, y = fmnist[2][:100], fmnist[3][:100]
    one = kl.apgd(trained_lenet, x, y, 10 / 255, steps=10, seed=3)
    more = kl.apgd(trained_lenet, x, y, 10 / 255, steps=10, seed=3, restarts=3)
    f1 = np.argmax(trained_lenet(one), 1) != y
    f3 = np.argmax(trained_lenet(more), 1) != y
    assert np.all(f3 >= f1)


def test_apgd_start_depends_on_the_image_not_its_batch(trained_lenet, fmnist):
    x, y = fmnist[2][:40], fmnist[3][:40]
    whole = kl.apgd(trained_lenet, x, y, 25 / 255, steps=5, seed=1, batch_size=40).numpy()
    split = kl.apgd(trained_lenet, x, y, 25 / 255, steps=5, seed=1, batch_size=7).numpy()
    part = kl.apgd(trained_lenet, x[20:], y[20:], 25 / 255, steps=5, seed=1).numpy()
    backwards = kl.apgd(trained_lenet, x[::-1], y[::-1], 25 / 255, steps=5, seed=1).numpy()[::-1]
    np.testing.assert_allclose(whole, split, atol=1e-6)
    np.testing.assert_allclose(whole[20:], part, atol=1e-6)  # a subset…
    np.testing.assert_allclose(whole, backwards, atol=1e-6)  # …and another order: the same starts


def test_apgd_beats_pgd10_on_a_real_model(trained_lenet, fmnist):
    x, y = fmnist[2][:300], fmnist[3][:300]
    acc = lambda a: float(np.mean(np.argmax(trained_lenet(a), 1) == y))  # noqa: E731
    pgd = acc(kl.pgd(trained_lenet, x, y, 10 / 255, 2.5 / 255, 10, seed=0))
    apgd = acc(kl.apgd(trained_lenet, x, y, 10 / 255, steps=50, seed=0))
    assert apgd <= pgd + 0.01


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_hyperplane_projection_closed_form_without_the_box(norm):
    rng = np.random.default_rng(0)
    t = rng.uniform(0.45, 0.55, (40, 30))
    w = rng.normal(size=(40, 30))
    b = (w * t).sum(1) + rng.normal(size=40) * 0.05
    d = project_onto_hyperplane(tf.constant(t), tf.constant(w), tf.constant(b), norm).numpy()
    c = (b - (w * t).sum(1))[:, None]
    expected = c * np.sign(w) / np.abs(w).sum(1, keepdims=True) if norm == "linf" else c * w / (w**2).sum(1, keepdims=True)
    np.testing.assert_allclose(d, expected, atol=1e-12)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_hyperplane_projection_with_the_box_is_minimal(norm):
    # Against a brute-force check: the answer lies on the plane and in the box, and no
    # feasible point on the plane is closer (sampled along the KKT family d(λ)).
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 1, (30, 8))
    w = rng.normal(size=(30, 8))
    b = (w * t).sum(1) + rng.normal(size=30)
    d = project_onto_hyperplane(tf.constant(t), tf.constant(w), tf.constant(b), norm).numpy()
    room = np.where(w * np.sign(b - (w * t).sum(1))[:, None] > 0, 1 - t, t)
    feasible = np.abs(w * room).sum(1) >= np.abs(b - (w * t).sum(1))
    np.testing.assert_allclose(((w * (t + d)).sum(1) - b)[feasible], 0, atol=1e-9)
    assert (t + d).min() >= -1e-12 and (t + d).max() <= 1 + 1e-12
    ord_ = np.inf if norm == "linf" else 2
    best = np.linalg.norm(d, ord=ord_, axis=1)
    for _ in range(2000):  # random feasible points on the plane are never closer
        v = rng.uniform(-1, 1, (30, 8))
        cand = np.clip(t + v, 0, 1) - t
        gap = b - (w * (t + cand)).sum(1)
        j = rng.integers(0, 8, 30)
        step = gap / w[np.arange(30), j]
        cand[np.arange(30), j] += step
        ok = (t + cand).min(1) >= 0
        ok &= (t + cand).max(1) <= 1
        assert np.all(np.linalg.norm(cand, ord=ord_, axis=1)[ok & feasible] >= best[ok & feasible] - 1e-9)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("targeted", [True, False])
def test_fab_finds_the_minimal_perturbation_of_a_linear_model(norm, targeted):
    model, w, b, x, y = linear_case()
    m, d = closed_form(w, b, x, y, norm)
    minimal = (m / d).min(1)
    targets = {"target_classes": 4} if targeted else {}  # untargeted FAB has no such option
    _, norms = kl.fab(model, x, y, 0.99 if norm == "linf" else 2.0, norm=norm, targeted=targeted, steps=20, seed=0,
                      return_norms=True, **targets)
    assert np.all(norms >= minimal * (1 - 1e-4))  # nothing closer than the optimum exists
    if not targeted:  # untargeted FAB converges to the nearest boundary
        assert np.all(norms <= minimal * 1.01)
    else:  # FAB-T stops at the first target that works, within the ball
        assert np.all(np.isfinite(norms))


def test_fab_keeps_only_examples_within_eps(trained_lenet, fmnist):
    x, y = fmnist[2][:60], fmnist[3][:60]
    eps = 10 / 255
    adv, norms = kl.fab(trained_lenet, x, y, eps, steps=20, target_classes=3, seed=0, return_norms=True)
    adv = adv.numpy()
    inside = norms <= eps
    assert np.all(size(adv, x, "linf") <= eps + 1e-6)
    np.testing.assert_array_equal(adv[~inside], x[~inside])
    fooled = np.argmax(trained_lenet(adv), 1) != y
    assert np.all(fooled[inside])


@pytest.mark.parametrize("kwargs,word", [
    (dict(eps=0.0), "eps"), (dict(eps=1.5), "eps"), (dict(steps=0), "steps"), (dict(norm="l0"), "norm"),
    (dict(loss="hinge"), "loss"), (dict(targeted=True, target_classes=10), "target_classes"), (dict(rho=1.5), "rho"),
])
def test_apgd_bad_settings_raise_clear_errors(kwargs, word):
    model, _, _, x, y = linear_case(n=4)
    args = dict(eps=0.1) | kwargs
    with pytest.raises(kl.KerasllError, match=word):
        kl.apgd(model, x, y, **args)


def test_pgd_runs_on_float64_with_a_random_start():
    model, _, _, x, y = linear_case(n=8)
    adv = kl.pgd(model, x.astype(np.float64), y, 0.05, 0.01, 3, seed=0)
    assert adv.dtype == tf.float64


def test_pgd_start_depends_on_the_image_not_its_batch(trained_lenet, fmnist):
    x, y = fmnist[2][:30], fmnist[3][:30]
    a = kl.pgd(trained_lenet, x, y, 25 / 255, 6.25 / 255, 3, seed=4, batch_size=30).numpy()
    b = kl.pgd(trained_lenet, x, y, 25 / 255, 6.25 / 255, 3, seed=4, batch_size=8).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_attacks_skip_the_empty_batch_once_every_image_is_fooled():
    """APGD-T's later targets, FAB-T's and Square's later rounds run on the images not yet fooled; when
    none is left they must not call the model on an empty batch (a convolution in a compiled graph
    rejects one)."""
    import keras

    from kerasll._tensors import batches
    from kerasll.attacks.registry import run_attack

    assert batches(0, 5) == [] and batches(3, None) == [slice(0, 3)]
    # Two stacked convolutions (an empty batch aborts the second), then the mean brightness decides:
    # logits (2·mean − 0.5)·[1, −1, −2, −3] + [0, .1, .2, .3]: class 0 when the mean is above about 0.29 (the bias
    # leaves no tie at the box's corners and keeps APGD-T's DLR loss from being blind to the scale).
    inputs = keras.Input((8, 8, 1))
    first, second, dense = keras.layers.Conv2D(2, 1), keras.layers.Conv2D(1, 1), keras.layers.Dense(4)
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(second(first(inputs)))))
    first.set_weights([np.ones((1, 1, 1, 2), np.float32), np.full(2, -0.25, np.float32)])
    second.set_weights([np.ones((1, 1, 2, 1), np.float32), np.zeros(1, np.float32)])
    dense.set_weights([np.array([[1.0, -1.0, -2.0, -3.0]], np.float32), np.float32([0.0, 0.1, 0.2, 0.3])])
    x = np.full((3, 8, 8, 1), 0.6, np.float32) + np.float32([0.0, 0.01, 0.02])[:, None, None, None]
    y = np.zeros(3, np.int64)
    for name, settings in (("apgd-t", {"steps": 5}), ("fab-t", {"steps": 5}), ("square", {"queries": 20})):
        adv = run_attack(name, model, x, y, 1.0, "linf", seed=0, **settings)  # ε = 1: every image falls at once
        assert (np.argmax(model(adv), 1) != y).all()


def test_l1_hyperplane_projection_is_the_greedy_knapsack_and_fab_l1_finds_the_nearest_boundary():
    """L1: the projection onto a hyperplane in the box equals the exact greedy answer (pixels of largest |w|
    first), and untargeted FAB-L1 on a linear model reaches the nearest class boundary it defines."""
    from helpers import min_l1_to_plane

    rng = np.random.default_rng(3)
    t = rng.uniform(0, 1, (50, 10))
    w = rng.normal(size=(50, 10))
    b = (w * t).sum(1) + rng.normal(size=50) * 0.8
    d = project_onto_hyperplane(tf.constant(t), tf.constant(w), tf.constant(b), "l1").numpy()
    cost = np.array([min_l1_to_plane(t[i:i + 1], w[i], -b[i])[0] for i in range(50)])
    reach = np.isfinite(cost)
    np.testing.assert_allclose(np.abs(d).sum(1)[reach], cost[reach], rtol=1e-9)
    np.testing.assert_allclose(((w * (t + d)).sum(1) - b)[reach], 0, atol=1e-9)
    assert (t + d).min() >= -1e-12 and (t + d).max() <= 1 + 1e-12
    np.testing.assert_allclose(t[~reach] + d[~reach], (w[~reach] * np.sign(b - (w * t).sum(1))[~reach, None] > 0)
                               .astype(float))  # unreachable: every pixel at its box limit

    model, wm, bm, x, y = linear_case()
    minimal = np.array([min(min_l1_to_plane(x[i:i + 1], wm[:, y[i]] - wm[:, j], bm[y[i]] - bm[j])[0]
                            for j in range(wm.shape[1]) if j != y[i]) for i in range(len(x))])
    _, norms = kl.fab(model, x, y, 50.0, norm="l1", targeted=False, steps=20, seed=0, return_norms=True)
    assert np.all(norms >= minimal * (1 - 1e-4)) and np.all(norms <= minimal * 1.01)
