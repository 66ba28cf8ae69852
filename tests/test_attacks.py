import numpy as np
import pytest
import tensorflow as tf

import kerasll as kl
from kerasll.attacks import cross_entropy


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0), 1) == y))


@pytest.fixture(scope="module")
def batch(fmnist):
    _, _, xt, yt = fmnist
    return xt[:200], yt[:200]


@pytest.mark.parametrize("norm,eps", [("linf", 25 / 255), ("l2", 1.5)])
def test_pgd_stays_in_ball_and_box(trained_lenet, batch, norm, eps):
    x, y = batch
    x_adv = kl.pgd(trained_lenet, x, y, eps, eps / 4, 10, norm=norm, seed=0).numpy()
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= eps + 1e-5)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert accuracy(trained_lenet, x_adv, y) < accuracy(trained_lenet, x, y)


def test_fgsm_is_signed_gradient_step(trained_lenet, batch):
    x, y = batch[0][:16], batch[1][:16]
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = cross_entropy(tf.constant(y), trained_lenet(xt))
    expected = np.clip(x + 0.1 * np.sign(tape.gradient(loss, xt).numpy()), 0, 1)
    np.testing.assert_allclose(kl.fgsm(trained_lenet, x, y, 0.1).numpy(), expected, atol=1e-6)


def test_pgd_at_least_as_strong_as_fgsm(trained_lenet, batch):
    x, y = batch
    eps = 25 / 255
    pgd_acc = accuracy(trained_lenet, kl.pgd(trained_lenet, x, y, eps, 6.25 / 255, 10, seed=0), y)
    fgsm_acc = accuracy(trained_lenet, kl.fgsm(trained_lenet, x, y, eps), y)
    assert pgd_acc <= fgsm_acc


def test_restarts_never_weaker_per_sample(trained_lenet, batch):
    x, y = batch
    args = (trained_lenet, x, y, 10 / 255, 2.5 / 255, 3)
    one = kl.pgd(*args, restarts=1, seed=5)
    three = kl.pgd(*args, restarts=3, seed=5)
    logits1, logits3 = trained_lenet(one), trained_lenet(three)
    fooled1 = np.argmax(logits1, 1) != y
    fooled3 = np.argmax(logits3, 1) != y
    assert np.all(fooled3 >= fooled1)
    same = fooled1 == fooled3
    loss1 = cross_entropy(tf.constant(y), logits1).numpy()
    loss3 = cross_entropy(tf.constant(y), logits3).numpy()
    assert np.all(loss3[same] >= loss1[same] - 1e-5)


def test_pgd_is_repeatable_with_a_seed(trained_lenet, batch):
    x, y = batch[0][:32], batch[1][:32]
    a = kl.pgd(trained_lenet, x, y, 0.1, 0.02, 3, seed=11).numpy()
    b = kl.pgd(trained_lenet, x, y, 0.1, 0.02, 3, seed=11).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,word", [
    (dict(eps=0.0), "eps"), (dict(eps=2.0), "eps"), (dict(steps=0), "steps"), (dict(norm="l1"), "norm"),
])
def test_bad_budgets_raise_clear_errors(trained_lenet, batch, kwargs, word):
    x, y = batch
    args = dict(eps=0.1, step_size=0.01, steps=2) | kwargs
    with pytest.raises(kl.KerasllError, match=word):
        kl.pgd(trained_lenet, x[:2], y[:2], **args)


def test_over_runs_keeps_the_lowest_score_and_drops_finished_images():
    """The attacks' one driver: per image the best example over runs; a finished image is not attacked again;
    a kept run is restored, not recomputed."""
    import numpy as np
    import tensorflow as tf

    from kerasll.attacks.driver import over_runs, runs_of

    x = tf.zeros([4, 2])
    table = {0: np.array([5.0, -1.0, 3.0, 2.0]), 1: np.array([1.0, 9.0, 4.0, -2.0])}  # score per (restart, image)
    seen = []

    def attack(ids, rank, restart):
        seen.append((restart, list(ids)))
        score = table[restart][ids]
        return np.full((len(ids), 2), restart + 1.0, np.float32) + ids[:, None], score

    kept = {}

    def stage(name, fn):
        if name not in kept:
            kept[name] = fn()
        return kept[name], 0.0

    x_adv, scores = over_runs(x, runs_of(False, 0, 2), attack, lambda s: s < 0, batch_size=3, stage=stage)
    assert seen == [(0, [0, 1, 2]), (0, [3]), (1, [0, 2, 3])]  # image 1 finished in the first run
    np.testing.assert_array_equal(scores, [1.0, -1.0, 3.0, -2.0])
    np.testing.assert_array_equal(x_adv[:, 0], [2.0, 2.0, 3.0, 5.0])  # the run that gave each image its best
    seen.clear()
    again, _ = over_runs(x, runs_of(False, 0, 2), attack, lambda s: s < 0, batch_size=3, stage=stage)
    assert seen == [] and np.array_equal(again, x_adv)
    assert runs_of(True, 2, 2) == [(1, 0), (1, 1), (2, 0), (2, 1)]
