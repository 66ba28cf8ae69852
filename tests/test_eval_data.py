"""`kerasll eval MODEL --data …`: a user's own test set, its errors, its input range, and resume."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from kerasll.cli.main import app
from helpers import prepare_tfds, small_cnn, write_folder

runner = CliRunner()


def kerasll(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, needle):
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert needle in lines[0] and "Traceback" not in result.output, result.output


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory):
    """A small 4-class classifier of 8×8 grey images (the tiny data sets' shape)."""
    path = tmp_path_factory.mktemp("models") / "shapes.keras"
    small_cnn((8, 8, 1), 4).save(path)
    return path


def _same_curve(cli, library):
    assert cli["budgets"] == library.budgets
    assert cli["accuracy"] == [library.accuracy_by_eps[e] for e in library.budgets]
    assert cli["accuracy"] == sorted(cli["accuracy"], reverse=True)  # monotone, both


def test_the_library_and_the_cli_give_the_same_eps_curve(model_file, trained_lenet, fmnist, tmp_path):
    """`kl.eps_curve` and `kerasll eval --eps-curve` answer one question with one number."""
    import kerasll as kl

    x, y = fmnist[2][:40], fmnist[3][:40]
    np.savez(tmp_path / "test.npz", x=x, y=y)
    result = kerasll("eval", model_file, "--data", tmp_path / "test.npz", "--attack", "pgd", "--eps", "4/255",
                     "--eps-curve", "0,2,4,12/255", "--json", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "out.json").read_text())["curve"]
    curve = kl.eps_curve(trained_lenet, x, y, kl.attack_settings(None, "pgd", 4 / 255), [0, 2 / 255, 4 / 255, 12 / 255])
    _same_curve(stored, curve)
    assert stored["accuracy"][0] > stored["accuracy"][-1]  # ε = 0 is the clean accuracy; 12/255 breaks some


@pytest.mark.pipeline
def test_the_library_and_the_cli_give_the_same_sweep(model_file, trained_lenet, fmnist, tmp_path):
    """`kl.eps_sweep` and `kerasll eval --eps-sweep`: AutoAttack fast at ε × (1, 2, 4, 8) and unbounded, one answer."""
    import kerasll as kl

    x, y = fmnist[2][:24], fmnist[3][:24]
    np.savez(tmp_path / "test.npz", x=x, y=y)
    result = kerasll("eval", model_file, "--data", tmp_path / "test.npz", "--attack", "fgsm", "--eps", "4/255",
                     "--eps-sweep", "--json", tmp_path / "out.json")
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "out.json").read_text())["sweep"]
    _same_curve(stored, kl.eps_sweep(trained_lenet, x, y, 4 / 255))
    assert stored["accuracy"][-1] == 0.0  # the unbounded budget breaks every image


@pytest.mark.pipeline
def test_data_npz_equals_the_registered_dataset_for_the_same_images(model_file, fmnist, tmp_path):
    x, y = fmnist[2][:24], fmnist[3][:24]
    np.savez(tmp_path / "test.npz", x=np.round(x * 255).astype(np.uint8), y=y)
    common = ["--attack", "autoattack", "--version", "fast", "--seed", "2", "--zoo", tmp_path / "zoo"]
    ours = kerasll("eval", model_file, "--data", tmp_path / "test.npz", "--eps", "25/255", *common,
                   "--json", tmp_path / "a.json")
    assert ours.exit_code == 0, ours.output
    theirs = kerasll("eval", model_file, "--dataset", "fashion_mnist", "--source", "embedded", "--limit", "24",
                     *common, "--json", tmp_path / "b.json")
    assert theirs.exit_code == 0, theirs.output
    a, b = (json.loads((tmp_path / f).read_text())["attack"] for f in ("a.json", "b.json"))
    assert a["robust_accuracy"] == b["robust_accuracy"] and a["by_attack"] == b["by_attack"]
    assert a["clean_accuracy"] == b["clean_accuracy"] and a["data"].endswith("test.npz")
    masks = [np.load(next((tmp_path / f"{f}.json.records").glob("*/*/records.npz")))["robust"] for f in "ab"]
    assert len(masks[0]) == 24 and np.array_equal(masks[0], masks[1])  # kept beside --json, equal per image


@pytest.mark.pipeline
def test_the_same_images_in_another_order_and_format_give_the_same_answer_per_image(model_file, fmnist, tmp_path):
    """Every random draw is keyed by the image's content: a shuffled .npz and an image folder (read back in
    class order) give the .npz's AutoAttack result, checks included, image by image."""
    from kerasll.attacks.noise import image_keys

    x, y = np.round(fmnist[2][:40] * 255).astype(np.uint8), fmnist[3][:40]
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    order = np.random.default_rng(0).permutation(40)
    np.savez(tmp_path / "shuffled.npz", x=x[order], y=y[order])
    for i, (image, label) in enumerate(zip(x, y)):
        (tmp_path / "folder" / str(label)).mkdir(parents=True, exist_ok=True)
        keras.utils.save_img(tmp_path / "folder" / str(label) / f"{i:03d}.png", image, scale=False)
    runs = {}
    for name, data in (("plain", "plain.npz"), ("shuffled", "shuffled.npz"), ("folder", "folder")):
        result = kerasll("eval", model_file, "--data", tmp_path / data, "--eps", "25/255", "--attack", "autoattack",
                         "--version", "fast", "--seed", "2", "--json", tmp_path / f"{name}.json")
        assert result.exit_code == 0, result.output
        out = json.loads((tmp_path / f"{name}.json").read_text())["attack"]
        records = dict(np.load(next((tmp_path / f"{name}.json.records").glob("*/*/records.npz"))))
        records.pop("__seconds__")
        runs[name] = out, records
    from kerasll.datasets.sources import load_data

    folder_x = load_data(tmp_path / "folder").x
    assert not np.array_equal(folder_x, x / np.float32(255))  # the folder really comes back in another order
    reference = image_keys(x / np.float32(255))
    for name, images in (("shuffled", x[order] / np.float32(255)), ("folder", folder_x)):
        where = {k: i for i, k in enumerate(image_keys(images))}
        back = np.array([where[k] for k in reference])  # each plain image's row in this run
        (a, ra), (b, rb) = runs["plain"], runs[name]
        for field in ("clean_accuracy", "robust_accuracy", "by_attack", "noise_accuracy", "flags"):
            assert a[field] == b[field], (name, field)
        for k in ra:
            assert np.array_equal(ra[k], rb[k][back]), (name, k)


@pytest.mark.pipeline  # a whole CLI run: CI runs it (`-m pipeline`)
def test_data_folder_and_tfds_in_one_command_each(shapes_model, tmp_path):
    folder = write_folder(tmp_path / "imgs")
    tfds_dir = prepare_tfds(tmp_path / "tfds")
    for data, extra in ((folder, []), ("tfds:tiny_shapes:test", ["--data-dir", tfds_dir])):
        result = kerasll("eval", shapes_model, "--data", data, *extra, "--eps", "8/255", "--attack", "autoattack",
                         "--version", "fast", "--zoo", tmp_path / "zoo")
        assert result.exit_code == 0, result.output
        assert "AutoAttack accuracy" in result.output and "(12 test images of" in result.output
        assert "batch 1/1 done" in result.output and "saved" not in result.output  # no --json: nothing is kept


@pytest.mark.pipeline
def test_input_scale_lets_a_0_to_255_model_be_attacked_in_0_1_units(trained_lenet, fmnist, tmp_path):
    inputs = keras.Input((28, 28, 1))
    expects_255 = keras.Model(inputs, trained_lenet(keras.layers.Rescaling(1 / 255)(inputs)))
    expects_255.save(tmp_path / "m255.keras")
    trained_lenet.save(tmp_path / "m1.keras")
    args = ["--dataset", "fashion_mnist", "--source", "embedded", "--limit", "30", "--attack", "apgd-ce",
            "--steps", "10", "--zoo", tmp_path / "zoo"]
    scaled = kerasll("eval", tmp_path / "m255.keras", *args, "--input-scale", "255", "--json", tmp_path / "s.json")
    plain = kerasll("eval", tmp_path / "m1.keras", *args, "--json", tmp_path / "p.json")
    assert scaled.exit_code == 0 and plain.exit_code == 0, scaled.output + plain.output
    s, p = (json.loads((tmp_path / f).read_text())["attack"] for f in ("s.json", "p.json"))
    assert abs(s["robust_accuracy"] - p["robust_accuracy"]) <= 1 / 30 and s["clean_accuracy"] == p["clean_accuracy"]
    unscaled = kerasll("eval", tmp_path / "m255.keras", *args, "--json", tmp_path / "u.json")  # it sees black
    assert unscaled.exit_code == 0, unscaled.output
    u = json.loads((tmp_path / "u.json").read_text())["attack"]
    assert u["clean_accuracy"] < p["clean_accuracy"] - 0.3  # the scale matters: without it the model is lost


@pytest.mark.parametrize("case,needle", [
    ("no-eps", "--eps is required"),
    ("shape", "takes inputs (8, 8, 1), but the images of"),
    ("labels", "label 4 is out of range: the model has 4 classes"),
    ("missing-key", "has no array 'y'"),
    ("bad-scale", "--input-scale must be > 0"),
])
def test_data_mismatches_are_one_line_and_write_nothing(shapes_model, tmp_path, case, needle):
    images = np.zeros((5, 8, 8, 1), np.uint8)
    arrays = {"no-eps": dict(x=images, y=np.zeros(5)), "shape": dict(x=np.zeros((5, 9, 9), np.uint8), y=np.zeros(5)),
              "labels": dict(x=images, y=np.arange(5)), "missing-key": dict(x=images),
              "bad-scale": dict(x=images, y=np.zeros(5))}[case]
    np.savez(tmp_path / "d.npz", **arrays)
    eps = [] if case == "no-eps" else ["--eps", "8/255"]
    scale = ["--input-scale", "0"] if case == "bad-scale" else []
    result = kerasll("eval", shapes_model, "--data", tmp_path / "d.npz", *eps, *scale, "--json", tmp_path / "o.json",
                     "--zoo", tmp_path / "zoo")
    one_line_error(result, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]  # no results, no records, no zoo


def eval_process(model, data, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "kerasll.cli", "eval", str(model), "--data", str(data), "--eps", "25/255",
         "--attack", "autoattack", "--version", "fast", "--batch-size", "20", "--json", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ | {"COLUMNS": "200"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def ctrl_c_when(run, needle):
    """Send SIGINT to `run` once it prints a line containing `needle`; (its output before, the rest)."""
    lines = []
    for line in run.stdout:
        lines.append(line)
        if needle in line:
            run.send_signal(signal.SIGINT)
            break
    rest, _ = run.communicate(timeout=120)
    return "".join(lines), rest


@pytest.mark.processes
def test_ctrl_c_says_what_was_kept_in_one_line_and_exits_130(model_file, fmnist, tmp_path):
    np.savez(tmp_path / "d.npz", x=fmnist[2][:100], y=fmnist[3][:100])
    run = eval_process(model_file, tmp_path / "d.npz", tmp_path / "run.json")
    before, rest = ctrl_c_when(run, "batch 1/5 saved")
    assert run.returncode == 130, before + rest
    said = [line for line in rest.splitlines() if line.startswith("interrupted")]
    assert len(said) == 1 and said[0].startswith("interrupted: kept 1 of 5 batch(es) finished"), rest
    assert said[0].endswith("run the same command again to resume"), rest
    assert "Traceback" not in rest and not (tmp_path / "run.json").exists()


@pytest.mark.processes
def test_ctrl_c_inside_the_only_batch_keeps_its_finished_attacks(model_file, fmnist, tmp_path):
    """One batch (the default size): Ctrl-C once APGD-CE is kept; the re-run starts after it and gives the
    uninterrupted result. (What that saves in time: scripts/benchmark_resume.py, docs/evaluation.md.)"""
    np.savez(tmp_path / "d.npz", x=fmnist[2][:200], y=fmnist[3][:200])
    default = ("--batch-size", "1000")
    run = eval_process(model_file, tmp_path / "d.npz", tmp_path / "run.json", *default)
    before, rest = ctrl_c_when(run, "batch 1/1: apgd-ce done and kept")
    assert run.returncode == 130 and "batch 1's finished stages (apgd-ce" in rest, before + rest
    resumed = eval_process(model_file, tmp_path / "d.npz", tmp_path / "run.json", *default)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0 and "apgd-ce done and kept" not in out, out  # read back, not run again
    fresh = eval_process(model_file, tmp_path / "d.npz", tmp_path / "fresh.json", *default)
    assert fresh.wait(600) == 0
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["attack"] for n in ("run", "fresh"))
    for field in ("robust_accuracy", "by_attack", "flags", "noise_accuracy"):
        assert a[field] == b[field], field
    masks = [dict(np.load(next((tmp_path / f"{n}.json.records").glob("*/*/records.npz")))) for n in ("run", "fresh")]
    assert all(np.array_equal(masks[0][k], masks[1][k]) for k in masks[1] if k != "__seconds__")


@pytest.mark.processes
def test_a_killed_evaluation_resumes_with_the_identical_robust_mask(model_file, fmnist, tmp_path):
    np.savez(tmp_path / "d.npz", x=fmnist[2][:100], y=fmnist[3][:100])
    killed = eval_process(model_file, tmp_path / "d.npz", tmp_path / "run.json")
    for line in killed.stdout:  # the event: the child says batch 2 is saved; then it dies like a power loss
        if "batch 2/5 saved" in line:
            killed.send_signal(signal.SIGKILL)
            break
    assert killed.wait(60) == -signal.SIGKILL
    assert not (tmp_path / "run.json").exists()
    resumed = eval_process(model_file, tmp_path / "d.npz", tmp_path / "run.json")
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert out.count("reused from an earlier run") == 2 and "batch 3/5 saved" in out, out
    whole = eval_process(model_file, tmp_path / "d.npz", tmp_path / "whole.json")
    assert whole.wait(600) == 0
    masks = [np.load(next((tmp_path / f"{name}.json.records").glob("*/*/records.npz")))["robust"]
             for name in ("run", "whole")]
    assert len(masks[0]) == 100 and np.array_equal(masks[0], masks[1])
    a, b = (json.loads((tmp_path / f"{n}.json").read_text())["attack"] for n in ("run", "whole"))
    assert a["robust_accuracy"] == b["robust_accuracy"] and a["flags"] == b["flags"]


@pytest.mark.pipeline
def test_eps_curve_is_stored_and_plotted_with_its_numbers(model_file, fmnist, tmp_path):
    args = ["--dataset", "fashion_mnist", "--source", "embedded", "--limit", "30", "--zoo", tmp_path / "zoo"]
    first = kerasll("eval", model_file, *args, "--eps-curve", "0,10,25/255", "--json", tmp_path / "a.json")
    assert first.exit_code == 0, first.output
    curve = json.loads((tmp_path / "a.json").read_text())["curve"]
    assert curve["settings"]["attack"] == "autoattack" and curve["settings"]["version"] == "fast"
    values = curve["accuracy"]
    assert curve["budgets"] == pytest.approx([0, 10 / 255, 25 / 255]) and len(values) == 3 and values == sorted(values, reverse=True)
    assert "attack" not in json.loads((tmp_path / "a.json").read_text())  # the curve alone: no extra PGD run
    assert "PGD accuracy" not in first.output and "ε curve" in first.output
    with_eps = kerasll("eval", model_file, *args, "--eps-curve", "0,10,25/255", "--eps", "25/255", "--json",
                       tmp_path / "e.json")
    assert values[0] == json.loads((tmp_path / "e.json").read_text())["attack"]["clean_accuracy"], with_eps.output
    np.savez(tmp_path / "d.npz", x=np.round(fmnist[2] * 255).astype(np.uint8)[:10], y=np.zeros(10))
    own = kerasll("eval", model_file, "--data", tmp_path / "d.npz", "--eps-curve", "0,8/255")  # no preset, no --eps
    assert own.exit_code == 0 and "ε curve" in own.output, own.output
    second = kerasll("eval", model_file, *args, "--attack", "apgd-ce", "--steps", "10", "--eps-curve", "0,25/255",
                     "--json", tmp_path / "b.json")
    assert second.exit_code == 0, second.output
    plot = kerasll("plot", "eps-curve", tmp_path / "a.json", tmp_path / "b.json", "--out", tmp_path / "c.png",
                   "--zoo", tmp_path / "zoo")
    assert plot.exit_code == 0, plot.output
    assert f"a: 0/255 {100 * values[0]:.2f}%, 10/255 {100 * values[1]:.2f}%" in plot.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one_line_error(kerasll("plot", "eps-curve", "nobody", "--zoo", tmp_path / "zoo"), "no zoo entry 'nobody'")
    (tmp_path / "no-curve.json").write_text(json.dumps({"attack": {}}))
    one_line_error(kerasll("plot", "eps-curve", tmp_path / "no-curve.json", "--zoo", tmp_path / "zoo"), "has no ε-curve")
    one_line_error(kerasll("eval", model_file, *args, "--eps-curve", "0,-1/255"), "budgets must be ≥ 0")


@pytest.mark.pipeline
def test_flatness_and_landscape_of_a_keras_file_on_its_own_data(shapes_model, tmp_path):
    np.savez(tmp_path / "d.npz", x=(np.arange(12 * 64) % 256).reshape(12, 8, 8).astype(np.uint8), y=np.arange(12) % 4)
    out = tmp_path / "o.json"
    result = kerasll("eval", shapes_model, "--data", tmp_path / "d.npz", "--eps", "8/255", "--flatness", "--landscape",
                     "--json", out, "--zoo", tmp_path / "zoo")
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert written["flatness"]["settings"]["samples"] == 12 and written["flatness"]["phi"] <= 0
    assert written["flatness"]["settings"]["radius"] == pytest.approx(8 / 255)  # no preset: the attack's ε
    figures = sorted(p.name for p in (tmp_path / "o.json.figures").iterdir())
    assert figures == ["histogram.png", "landscape-fgsm-sample0.png", "landscape-random-sample0.png"]
    assert all((tmp_path / "o.json.figures" / f).read_bytes()[:4] == b"\x89PNG" for f in figures)
