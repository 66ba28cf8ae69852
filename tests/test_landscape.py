import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy_free import logsumexp

import kerasll as kl
from kerasll import figures
from kerasll.attacks import cross_entropy
from kerasll.landscapes.directions import fgsm_directions, random_directions

SHAPE = (6, 6, 1)


def image_linear(num_classes, seed=0, scale=1.0):
    """logits = scale·(W·flatten(x) + b) on 6×6×1 images; returns (model, W, b)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(36, num_classes)).astype(np.float32)
    b = rng.normal(size=num_classes).astype(np.float32)
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(num_classes)
    out = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Rescaling(scale)(out))
    dense.set_weights([w, b])
    return model, w, b


@pytest.fixture
def x():
    return np.random.default_rng(1).uniform(size=(4,) + SHAPE).astype(np.float32)


def test_random_directions_are_signed_orthogonal_and_seeded():
    d, dp = random_directions((28, 28, 1), seed=3)
    assert set(np.unique(d)) == {-1.0, 1.0} and set(np.unique(dp)) == {-1.0, 1.0}
    assert float(np.sum(d * dp)) == 0.0
    d2, dp2 = random_directions((28, 28, 1), seed=3)
    np.testing.assert_array_equal(d, d2)
    np.testing.assert_array_equal(dp, dp2)
    assert not np.array_equal(d, random_directions((28, 28, 1), seed=4)[0])


def test_odd_sizes_leave_one_zero():
    d, dp = random_directions((3, 3, 1), seed=0)
    assert float(np.sum(d * dp)) == 0.0 and np.sum(dp == 0) == 1


def test_fgsm_direction_is_sign_of_ce_gradient(trained_lenet, fmnist):
    _, _, xt, yt = fmnist
    d, dp = fgsm_directions(trained_lenet, xt[3], yt[3], seed=0)
    xb = tf.constant(xt[3:4])
    with tf.GradientTape() as tape:
        tape.watch(xb)
        loss = cross_entropy(tf.constant(yt[3:4]), trained_lenet(xb))
    np.testing.assert_array_equal(d, np.sign(tape.gradient(loss, xb).numpy()[0]))
    assert float(np.sum(d * dp)) == 0.0 and set(np.unique(dp)) <= {-1.0, 0.0, 1.0}


def test_surface_equals_hand_computed_logsumexp(x):
    model, w, b = image_linear(5)
    s = kl.likelihood_surface(model, x[0], grid=5, radius=0.1, seed=2)
    e1, e2 = np.meshgrid(s.offsets, s.offsets, indexing="ij")
    points = x[0].ravel() + e1.ravel()[:, None] * s.d.ravel() + e2.ravel()[:, None] * s.d_perp.ravel()
    expected = logsumexp(points @ w + b) - logsumexp(x[0].ravel() @ w + b)
    np.testing.assert_allclose(s.values.ravel(), expected, rtol=1e-4, atol=1e-4)
    assert s.values[2, 2] == 0.0 and s.values.shape == (5, 5)


def test_flatness_closed_form_single_output_linear_model(x):
    model, w, _ = image_linear(1)
    norm = float(np.linalg.norm(w))
    mean = kl.flatness(model, x, pairs=3, grid=4, radius=0.2)
    np.testing.assert_allclose(mean.per_sample, -norm, rtol=1e-5)
    np.testing.assert_allclose(mean.phi, -norm, rtol=1e-5)
    summed = kl.flatness(model, x, pairs=3, grid=4, radius=0.2, reduction="sum")
    np.testing.assert_allclose(summed.phi, 16 * -norm, rtol=1e-5)


def test_flatness_is_seeded_and_independent_of_batching(trained_lenet, fmnist):
    xt = fmnist[2][:12]
    a = kl.flatness(trained_lenet, xt, seed=5, batch_size=50, dataset="fashion_mnist")
    b = kl.flatness(trained_lenet, xt, seed=5, batch_size=1000, dataset="fashion_mnist")
    np.testing.assert_allclose(a.per_sample, b.per_sample, rtol=1e-5)
    c = kl.flatness(trained_lenet, xt, seed=6, dataset="fashion_mnist")
    assert not np.allclose(a.per_sample, c.per_sample)


def test_scaled_logits_are_less_flat(x):
    base, _, _ = image_linear(5, seed=3)
    scaled, _, _ = image_linear(5, seed=3, scale=10.0)
    assert kl.flatness(scaled, x, radius=0.1).phi < kl.flatness(base, x, radius=0.1).phi


def test_surface_round_trips_through_npz(trained_lenet, fmnist, tmp_path):
    _, _, xt, yt = fmnist
    s = kl.likelihood_surface(trained_lenet, xt[0], yt[0], directions="fgsm", grid=7, dataset="fashion_mnist")
    s.metadata["label"] = "plain"
    loaded = kl.LikelihoodSurface.load(s.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.values, s.values)
    np.testing.assert_array_equal(loaded.d, s.d)
    assert loaded.metadata == s.metadata and loaded.log_px_center == s.log_px_center


def test_slice_matches_surface_axis(trained_lenet, fmnist):
    xt = fmnist[2]
    s = kl.likelihood_surface(trained_lenet, xt[1], grid=9, radius=0.1, seed=1)
    offsets, values = kl.likelihood_slice(trained_lenet, xt[1], s.d, radius=0.1, points=9)
    np.testing.assert_allclose(values, s.values[:, 4], atol=1e-4)


def test_histogram_values_are_log_px_of_clean_and_sign_perturbed_images(trained_lenet, fmnist):
    x = fmnist[2][:50]
    h = kl.likelihood_histogram(trained_lenet, x, samples=2, seed=4, dataset="fashion_mnist")
    assert h.radius == pytest.approx(25 / 255)
    np.testing.assert_allclose(h.clean, kl.log_px(trained_lenet(x)).numpy(), rtol=1e-5)
    # Copy k of image i is x_i + r·s with s the k-th ±1 draw of default_rng(seed), copies next to each other.
    signs = np.random.default_rng(4).choice(np.array([-1.0, 1.0], np.float32), size=(100, *x.shape[1:]))
    noisy = np.repeat(x, 2, axis=0) + (25 / 255) * signs
    np.testing.assert_allclose(h.perturbed, kl.log_px(trained_lenet(noisy)).numpy(), rtol=1e-4, atol=1e-4)
    assert not np.allclose(h.perturbed[::2], h.perturbed[1::2])  # two different copies per image


def test_the_radius_preset_comes_from_the_dataset_never_the_shape(trained_lenet, fmnist):
    with pytest.raises(kl.KerasllError, match="pass radius=.*or dataset="):
        kl.likelihood_histogram(trained_lenet, fmnist[2][:5])
    with pytest.raises(kl.KerasllError, match="pass radius=.*or dataset="):
        kl.flatness(trained_lenet, fmnist[2][:5])


@pytest.mark.parametrize("directions", ["random", "fgsm"])
def test_flatness_equals_ams_score_at_the_lattice_points_of_a_multiclass_model(trained_lenet, fmnist, directions):
    """Φ is the mean over pairs and lattice points of −‖∇x log p̃‖ at x + e1·d + e2·d⊥, recomputed here."""
    from kerasll.attacks.noise import image_keys
    from kerasll.landscapes.directions import fgsm_directions, random_directions

    x, y = fmnist[2][:3], fmnist[3][:3]
    radius, grid, pairs = 0.05, 3, 2
    res = kl.flatness(trained_lenet, x, y, pairs=pairs, grid=grid, radius=radius, seed=7, directions=directions)
    axis = np.linspace(-radius, radius, grid)
    keys = image_keys(x)  # each image's directions are drawn from (seed, its content key, pair)
    for i in range(len(x)):
        if directions == "fgsm":
            ds = [fgsm_directions(trained_lenet, x[i], y[i], (7, int(keys[i]), j)) for j in range(pairs)]
            np.testing.assert_array_equal(ds[0][0], np.sign(_ce_grad(trained_lenet, x[i:i + 1], y[i:i + 1]))[0])
            assert not np.array_equal(ds[0][0], np.sign(kl.grad_log_px(trained_lenet, x[i:i + 1]).numpy())[0])
        else:
            ds = [random_directions(x.shape[1:], (7, int(keys[i]), j)) for j in range(pairs)]
        scores = []
        for d, dp in ds:
            assert float(np.sum(d * dp)) == 0.0
            points = np.stack([x[i] + a * d + b * dp for a in axis for b in axis]).astype(np.float32)
            scores.append(kl.ams_score(trained_lenet, points).numpy().mean())
        np.testing.assert_allclose(res.per_sample[i], np.mean(scores), rtol=1e-4)


def _ce_grad(model, x, y):
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, model(xt), from_logits=True)
    return tape.gradient(loss, xt).numpy()


@pytest.mark.parametrize("bad", [dict(grid=4), dict(radius=-1.0), dict(directions="pca")])
def test_bad_surface_arguments(trained_lenet, fmnist, bad):
    with pytest.raises(kl.KerasllError):
        kl.likelihood_surface(trained_lenet, fmnist[2][0], 0, **bad)


def test_every_figure_writes_a_file(trained_lenet, fmnist, tmp_path):
    _, _, xt, yt = fmnist
    s = kl.likelihood_surface(trained_lenet, xt[0], yt[0], grid=7, dataset="fashion_mnist")
    h = kl.likelihood_histogram(trained_lenet, xt[:40], dataset="fashion_mnist")
    paths = [
        figures.plot_landscape(s, tmp_path / "one.png"),
        figures.plot_landscape_grid([s, s], ["a", "b"], tmp_path / "grid.pdf"),
        figures.plot_histograms([h], ["plain"], tmp_path / "hist.svg"),
        figures.plot_flatness_vs_robustness(
            [{"family": "AT", "label": f"ε={e}", "phi": -e, "robust_accuracy": 0.1 * e} for e in (1, 2, 3)],
            tmp_path / "fig4.png")[0],
    ]
    magic = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}
    assert [p.read_bytes()[:len(magic[p.suffix])] == magic[p.suffix] for p in paths] == [True] * 4  # real files
    import matplotlib.image

    assert min(matplotlib.image.imread(paths[0]).shape[:2]) > 300  # a figure, not an empty canvas
    assert b"<svg" in paths[2].read_bytes()[:2000]
    with pytest.raises(kl.KerasllError, match="valid choices"):
        figures.plot_landscape(s, tmp_path / "x.jpg")


def test_rank_correlation():
    from kerasll.stats import rank_correlation

    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_labels_of_close_points_do_not_overlap(tmp_path, monkeypatch):
    """Two entries with nearly the same Φ and radius (as fmnist-lenet-jacreg and -gaussian are): their labels
    are moved apart, not drawn over each other."""
    boxes = []
    from kerasll.figures import robustness

    place = robustness._label_points

    def spy(fig, ax, points):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        place(fig, ax, points)
        renderer = FigureCanvasAgg(fig).get_renderer()
        boxes.extend(t.get_window_extent(renderer).frozen() for t in ax.texts)

    monkeypatch.setattr(robustness, "_label_points", spy)
    points = [("fmnist-lenet-jacreg", -1.58, 0.552), ("fmnist-lenet-gaussian", -1.60, 0.553),
              ("fmnist-lenet-amsreg", -0.43, 0.562), ("fmnist-lenet-none", -13.2, 0.289)]
    figures.plot_phi_vs_accuracy(points, tmp_path / "scatter.png", percent=False)
    assert len(boxes) == 4
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), boxes


def test_a_long_entry_name_does_not_widen_its_landscape(trained_lenet, fmnist, tmp_path):
    import matplotlib.image

    s = kl.likelihood_surface(trained_lenet, fmnist[2][0], fmnist[3][0], grid=5, dataset="fashion_mnist")
    widths = []
    for label in ("fmnist-lenet-at (AT ε=10/255)",
                  "fmnist-lenet-adflat-at-difference (AdFlat at-difference μ=256 ε=10/255)"):
        s.metadata.update(label=label)
        widths.append(matplotlib.image.imread(figures.plot_landscape(s, tmp_path / "l.png")).shape[1])
    assert widths[1] <= widths[0] + 20, widths
