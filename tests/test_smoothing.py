"""Randomized smoothing against its closed form: a linear two-class classifier, whose exact certified
radius is the distance to its decision boundary (Cohen et al. 2019, §3.2)."""

from pathlib import Path

import keras
import numpy as np
import pytest

import kerasll as kl
from kerasll.certification import smoothing

SHAPE = (4, 4, 1)


def linear_two_class(seed=0):
    """Logits [0, w·x + b] on (4, 4, 1) images, with w and b."""
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=16).astype(np.float32), np.float32(-0.3)
    inputs = keras.Input(SHAPE)
    dense = keras.layers.Dense(2)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.stack([np.zeros(16, np.float32), w], 1), np.array([0.0, b], np.float32)])
    return model, w, b


def images_and_distances(w, b, count=24, seed=1):
    x = np.random.default_rng(seed).uniform(0, 1, size=(count, *SHAPE)).astype(np.float32)
    margin = x.reshape(count, -1) @ w + b
    return x, (margin > 0).astype(np.int64), np.abs(margin) / np.linalg.norm(w)


@pytest.mark.pipeline
def test_the_certified_radius_never_exceeds_the_exact_one_and_approaches_it(monkeypatch):
    model, w, b = linear_two_class()
    x, y, exact = images_and_distances(w, b)
    sigma = 0.5
    coarse = smoothing.certify(model, x, y, sigma, n0=100, n=1_000, alpha=0.001)
    fine = smoothing.certify(model, x, y, sigma, n0=100, n=100_000, alpha=0.001)
    for result in (coarse, fine):  # sound: a certificate never claims more than the truth
        assert np.all(result.radius <= exact + 1e-9) and np.all(result.prediction[result.radius > 0] == y[result.radius > 0])
    certified = fine.radius > 0
    assert certified.sum() >= 12
    gap_fine, gap_coarse = (exact - fine.radius)[certified], (exact - coarse.radius)[certified]
    assert gap_fine.mean() < gap_coarse.mean() and gap_fine.max() < 0.1 * sigma  # tight with n = 100,000
    # p_A of a linear classifier is Φ(margin / (σ‖w‖)): the lower bound sits just under it.
    from statistics import NormalDist

    p_exact = np.array([NormalDist().cdf(d / sigma) for d in exact])
    assert np.all(fine.p_lower[certified] <= p_exact[certified]) and np.all(p_exact[certified] - fine.p_lower[certified] < 0.01)
    # A deliberately wrong bound (the point estimate k/n) claims more than the truth: the test above catches it.
    monkeypatch.setattr(smoothing, "clopper_pearson_lower", lambda k, n, alpha: np.asarray(k, np.float64) / n)
    wrong = smoothing.certify(model, x, y, sigma, n0=100, n=1_000, alpha=0.001)
    assert np.any(wrong.radius > exact + 1e-9)


def test_the_result_does_not_depend_on_batch_size_or_order():
    model, w, b = linear_two_class()
    x, y, _ = images_and_distances(w, b, count=10)
    one = smoothing.certify(model, x, y, 0.25, n0=50, n=2_000, batch_size=1000)
    other = smoothing.certify(model, x[::-1], y[::-1], 0.25, n0=50, n=2_000, batch_size=37)
    np.testing.assert_array_equal(one.counts_top, other.counts_top[::-1])
    np.testing.assert_array_equal(one.radius, other.radius[::-1])


def test_the_noise_is_not_clipped_to_the_pixel_range():
    """A model that says 1 as soon as any input is below 0: on a black image, unclipped noise always gets 1."""
    inputs = keras.Input(SHAPE)
    below = keras.layers.Lambda(lambda t: keras.ops.cast(keras.ops.min(t, axis=(1, 2, 3)) < 0, "float32"))(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([1 - below[:, None], below[:, None]]))
    counts = smoothing.sample_counts(model, np.zeros((2, *SHAPE), np.float32), 200, 0.25)
    assert counts[:, 1].tolist() == [200, 200]


def test_predict_abstains_on_the_boundary_and_answers_far_from_it():
    model, w, b = linear_two_class()
    on = -b * w / np.dot(w, w)  # w·x + b = 0
    far = on + 3.0 * w / np.linalg.norm(w)
    x = np.stack([on, far]).reshape(2, *SHAPE).astype(np.float32)
    out = smoothing.predict(model, x, sigma=0.25, n=2_000, alpha=0.001)
    assert out.tolist() == [smoothing.ABSTAIN, 1]


@pytest.mark.parametrize("kwargs,needle", [
    ({"sigma": 0}, "sigma must be > 0"), ({"sigma": "a"}, "must be numbers"), ({"n0": 0}, "n0 and n must be ≥ 1"),
    ({"alpha": 1.5}, "alpha must be in (0, 1)"),
])
def test_bad_settings_are_one_line(kwargs, needle):
    model, w, b = linear_two_class()
    x, y, _ = images_and_distances(w, b, count=2)
    with pytest.raises(kl.KerasllError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        smoothing.certify(model, x, y, **({"sigma": 0.25} | kwargs))


def test_summary_reports_certified_accuracy_at_each_radius():
    model, w, b = linear_two_class()
    x, y, exact = images_and_distances(w, b)
    result = smoothing.certify(model, x, y, 0.5, n0=100, n=10_000)
    s = result.summary()
    assert list(s["certified_accuracy"]) == list(smoothing.RADII)
    values = list(s["certified_accuracy"].values())
    assert values == sorted(values, reverse=True) and s["clean_accuracy"] == values[0]
    assert s["abstention_rate"] == pytest.approx(np.mean(result.prediction == smoothing.ABSTAIN))


def test_certify_cli_caches_by_settings_and_refuses_bad_values(trained_lenet, tmp_path):
    import json

    from typer.testing import CliRunner

    from kerasll.cli.main import app

    trained_lenet.save(tmp_path / "m.keras")
    run = lambda *a: CliRunner().invoke(app, [str(x) for x in a])  # noqa: E731
    common = ["--dataset", "fashion_mnist", "--source", "embedded", "--limit", "20", "--n", "500"]
    first = run("certify", tmp_path / "m.keras", *common, "--sigma", "0.12,0.25", "--json", tmp_path / "c.json")
    assert first.exit_code == 0, first.output
    out = json.loads((tmp_path / "c.json").read_text())
    assert list(out) == ["0.12", "0.25"] and out["0.25"]["samples"] == 20
    values = list(out["0.25"]["certified_accuracy"].values())
    assert list(out["0.25"]["certified_accuracy"]) == ["0", "0.25", "0.5", "0.75", "1"]
    assert values == sorted(values, reverse=True) and "smoothed clean accuracy" in first.output
    again = run("certify", tmp_path / "m.keras", *common, "--sigma", "0.25", "--json", tmp_path / "d.json")
    assert again.exit_code == 0 and "batch 1/1 reused from an earlier run" not in again.output  # its own folder
    assert json.loads((tmp_path / "d.json").read_text())["0.25"]["certified_accuracy"] == out["0.25"]["certified_accuracy"]
    for bad, needle in ((["--sigma", "0"], "sigma must be > 0"), (["--sigma", "a"], "--sigma takes numbers"),
                        (["--alpha", "2"], "alpha must be in (0, 1)"), (["--n0", "0"], "n0 and n must be ≥ 1")):
        result = run("certify", tmp_path / "m.keras", *common, *bad, "--json", tmp_path / "bad.json")
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert result.exit_code == 1 and len(lines) == 1 and needle in lines[0], result.output
        assert not (tmp_path / "bad.json").exists() and not (tmp_path / "bad.json.records").exists()


@pytest.mark.pipeline
def test_an_interrupted_certification_resumes_with_the_same_result(trained_lenet, fmnist, tmp_path):
    from kerasll.errors import Interrupted
    from kerasll.evaluation import CertifySettings, certify_records

    x, y = fmnist[2][:250], fmnist[3][:250]
    settings, seen = CertifySettings(0.25, 20, 200, 0.001), []

    def stop_after_the_first_stage(line):
        seen.append(line)
        if "done and kept" in line:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match=r"batch 1's finished stages \(images 0-100\)"):
        certify_records(trained_lenet, x, y, settings, tmp_path, kl.Context(log=stop_after_the_first_stage))
    log = []
    resumed, _ = certify_records(trained_lenet, x, y, settings, tmp_path, kl.Context(log=log.append))
    assert [line for line in log if "done and kept" in line] == ["batch 1/1: images 100-200 done and kept",
                                                                  "batch 1/1: images 200-250 done and kept"]
    whole, _ = certify_records(trained_lenet, x, y, settings, context=kl.Context(batch_size=64))
    assert all(np.array_equal(resumed[k], whole[k]) for k in whole)


def test_gaussian_training_sees_unclipped_noise_of_its_sigma_and_round_trips(fmnist, tmp_path):
    x, y, xt, _ = fmnist
    keras.utils.set_random_seed(0)
    model = kl.GaussianNoiseModel(kl.build_model("lenet", (28, 28, 1), 10), sigma=0.25, seed=0)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    noise = model.noisy(x[:500]).numpy() - x[:500]
    assert abs(noise.mean()) < 0.002 and noise.std() == pytest.approx(0.25, rel=0.01)
    assert (x[:500] + noise).min() < -0.5 and (x[:500] + noise).max() > 1.5  # not clipped to [0, 1]
    np.testing.assert_array_equal(model.noisy(x[:4]), model.noisy(x[:4]))  # a function of (seed, step)
    history = model.fit(x[:512], y[:512], batch_size=64, epochs=2, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    model.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    assert type(loaded).__name__ == "GaussianNoiseModel" and loaded.sigma == 0.25
    np.testing.assert_array_equal(loaded.predict(xt[:8], verbose=0), model.predict(xt[:8], verbose=0))
    with pytest.raises(kl.KerasllError, match="sigma must be a number > 0"):
        kl.GaussianNoiseModel(kl.build_model("lenet", (28, 28, 1), 10), sigma=0)


def test_train_gaussian_from_the_cli_records_its_sigma(tmp_path):
    import json

    from typer.testing import CliRunner

    from kerasll.cli.main import app

    result = CliRunner().invoke(app, ["train", "--defense", "gaussian", "--sigma", "0.5", "--source", "embedded",
                                      "--train-limit", "256", "--batch-size", "64", "--epochs", "1",
                                      "--no-tensorboard", "--zoo", str(tmp_path)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "fmnist-lenet-gaussian-0.5-e1-s0" / "metadata.json").read_text())
    assert meta["defense"] == "gaussian" and meta["defense_params"] == {"sigma": 0.5}
    assert meta["training"]["sigma"] == 0.5


def test_the_stored_certification_on_the_most_images_and_samples_is_the_one_shown():
    from kerasll.evaluation.kinds import CertifySettings
    from kerasll.zoo.results import CERTIFY as KIND, certifications

    def result(sigma, samples, n, created):
        settings = CertifySettings(sigma, 100, n, 0.001, samples=samples).to_dict()
        return {"kind": KIND, "settings": settings, "samples": samples, "created": created}

    stored = {"a": result(0.25, 100, 1000, "2"), "b": result(0.25, 500, 100, "1"), "c": result(0.25, 500, 1000, "0"),
              "d": result(0.5, 20, 100, "0"), "pgd": {"settings": {"sigma": 9}, "samples": 10 ** 6}}
    assert certifications(stored) == {0.25: stored["c"], 0.5: stored["d"]}


@pytest.mark.pipeline  # a whole CLI run: CI runs it (`-m pipeline`)
def test_certified_curves_reach_the_plot_and_the_report_beside_phi(tmp_path):
    import json
    import shutil

    from typer.testing import CliRunner

    from kerasll.cli.main import app

    repo, zoo = Path(__file__).resolve().parents[1], tmp_path / "zoo"
    zoo = tmp_path / "zoo"
    for name in ("fmnist-lenet-none", "fmnist-lenet-at"):  # shipped entries: their Φ is stored
        shutil.copytree(repo / "zoo" / name, zoo / name, ignore=shutil.ignore_patterns("records"))
    run = lambda *a: CliRunner().invoke(app, [str(x) for x in a] + ["--zoo", str(zoo)])  # noqa: E731
    gone = run("plot", "certified", "fmnist-lenet-at", "--sigma", "0.25", "--out", tmp_path / "c.png")
    assert gone.exit_code == 1 and "records of fmnist-lenet-at σ=0.25 are gone" in gone.output  # copied without
    for name in ("fmnist-lenet-none", "fmnist-lenet-at"):  # from scratch: no certification stored
        stored = json.loads((zoo / name / "eval.json").read_text())
        stored["results"] = {k: r for k, r in stored["results"].items() if r.get("kind") != "certify"}
        (zoo / name / "eval.json").write_text(json.dumps(stored))
    missing = run("plot", "certified", "fmnist-lenet-at", "--out", tmp_path / "c.png")
    assert missing.exit_code == 1 and "has no certification yet: run `kerasll certify fmnist-lenet-at" in missing.output
    for name in ("fmnist-lenet-none", "fmnist-lenet-at"):
        done = run("certify", name, "--source", "embedded", "--limit", "30", "--n", "300", "--sigma", "0.12,0.25")
        assert done.exit_code == 0, done.output
    plot = run("plot", "certified", "fmnist-lenet-none", "fmnist-lenet-at", "--sigma", "0.25", "--out", tmp_path / "c.png")
    assert plot.exit_code == 0 and (tmp_path / "c.png").stat().st_size > 10_000, plot.output
    assert "fmnist-lenet-at σ=0.25 (30 images, n=300)" in plot.output and "σ=0.12" not in plot.output
    report = run("report", "--format", "html", "--no-compute", "--out", tmp_path / "out")
    assert report.exit_code == 0, report.output
    page = (tmp_path / "out" / "report-fashion_mnist.html").read_text()
    assert page.count("<tr><td>fmnist-lenet-") >= 2 + 4  # the leaderboard's rows, then one per entry and σ
    assert 'id="certified"' in page and "Φ vs mean certified radius (σ = 0.25)" in page
    assert page.count("certified accuracy vs L2 radius</figcaption>") >= 2  # each certified entry's own curves
    assert all((tmp_path / "out" / "figures" / n / "certified.png").is_file() for n in ("fmnist-lenet-at", "fmnist-lenet-none"))
    assert not list(zoo.glob("*/figures/certified.png"))  # the zoo is left as it was
