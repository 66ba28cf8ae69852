"""The `kerasll` CLI through typer's CliRunner, error paths included."""

import json
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from kerasll.attacks.registry import ATTACKS_REVISION
from kerasll.cli.main import app
from kerasll.datasets import formats

runner = CliRunner()
QUICK = ["--source", "embedded", "--train-limit", "256", "--batch-size", "64", "--epochs", "1"]


def kerasll(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def trained_zoo(tmp_path_factory):
    """A zoo with one quick AMSReg entry 'a', trained once for the module; tests get copies."""
    path = tmp_path_factory.mktemp("zoo")
    result = kerasll("train", "--defense", "amsreg", *QUICK, "--name", "a", "--zoo", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def zoo(trained_zoo, tmp_path):
    """A fresh copy of the trained zoo for each test: no test sees another's entries or results."""
    import shutil

    return Path(shutil.copytree(trained_zoo, tmp_path / "zoo"))


def entries(path):
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_version_and_help_on_every_command():
    assert kerasll("--version").output.strip().startswith("kerasll ")
    for cmd in (["train"], ["eval"], ["landscape"], ["certify"], ["report"], ["demo"], ["reproduce"], ["plot", "eps-curve"],
                ["zoo", "list"], ["zoo", "show"], ["zoo", "rm"], ["zoo", "export"], ["zoo", "import"],
                ["zoo", "recipes"]):
        result = kerasll(*cmd, "--help")
        assert result.exit_code == 0 and "Usage" in result.output, cmd


def test_help_lists_what_is_registered_even_after_the_cli_was_imported(monkeypatch):
    from kerasll.defenses import registry

    wide = {"COLUMNS": "250"}
    before = runner.invoke(app, ["train", "--help"], env=wide).output
    assert all(name in before for name in registry.list_defenses())  # every defense, none by hand
    monkeypatch.setattr(registry, "_DEFENSES", registry.Registry("defense"))  # a registry with one new defense
    registry.register_defense(registry.DefenseSpec("lipschitz-margin", "LMT", "a newly registered defense"))
    after = runner.invoke(app, ["train", "--help"], env=wide).output
    assert "lipschitz-margin (a newly registered defense)" in after and "lipschitz-margin" not in before
    option = after.split("│ --defense")[1].split("│ --")[0]  # the option's help box, not the examples
    assert "lipschitz-margin" in option and "jacreg" not in option  # the help is today's, not import time's
    assert "lipschitz-margin" in runner.invoke(app, ["zoo", "list", "--help"], env=wide).output


def test_train_writes_a_complete_entry(zoo):
    meta = json.loads((zoo / "a" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["epochs_completed"] == 1
    assert meta["arch"] == "lenet" and meta["dataset"] == "fashion_mnist" and meta["defense"] == "amsreg"
    assert meta["defense_params"]["strength"] == 0.5 and meta["training"]["seed"] == 0
    assert "penalty" in meta["history"] and meta["parameters"] == 61706
    assert set(meta["versions"]) >= {"kerasll", "tensorflow", "keras"}
    assert not (zoo / "a" / "checkpoint").exists()
    history = (zoo / "a" / "logs" / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and "penalty" in history[0] and len(history) == 2  # header + 1 epoch
    assert list((zoo / "a" / "logs" / "train").glob("events.out.tfevents.*"))  # TensorBoard
    model = keras.saving.load_model(zoo / "a" / "model.keras", safe_mode=True)
    assert type(model).__name__ == "AMSRegModel"


def test_no_tensorboard_keeps_only_the_csv_history(tmp_path):
    result = kerasll("train", *QUICK, "--no-tensorboard", "--name", "q", "--zoo", tmp_path)
    assert result.exit_code == 0 and "history.csv" in result.output and "tensorboard --logdir" not in result.output
    assert [p.name for p in (tmp_path / "q" / "logs").iterdir()] == ["history.csv"]


def test_rerun_skips_and_conflicting_config_is_refused(zoo):
    again = kerasll("train", "--defense", "amsreg", *QUICK, "--name", "a", "--zoo", zoo)
    assert again.exit_code == 0 and "already complete" in again.output
    other = kerasll("train", "--defense", "amsreg", "--strength", "0.1", *QUICK, "--name", "a", "--zoo", zoo)
    assert other.exit_code == 1 and "trained under other settings" in other.output and "strength" in other.output
    assert "--force starts it over" in other.output


def test_another_data_source_is_not_a_resume_and_force_starts_over(zoo, monkeypatch):
    """Entry 'a' was trained on the embedded subset: the same command on another source is refused."""
    from kerasll.zoo import training

    embedded = training.load_dataset
    monkeypatch.setattr(training, "load_dataset", lambda *a, **k: embedded(*a, **{**k, "source": "embedded"}))
    meta = json.loads((zoo / "a" / "metadata.json").read_text())
    assert meta["data_source"] == "embedded"
    args = [a if a != "embedded" else "system" for a in QUICK]  # the real data set (here: the subset, patched)
    refused = kerasll("train", "--defense", "amsreg", *args, "--name", "a", "--zoo", zoo)
    assert refused.exit_code == 1 and "data source: 'embedded' ≠ 'system'" in refused.output, refused.output
    assert json.loads((zoo / "a" / "metadata.json").read_text()) == meta  # untouched
    forced = kerasll("train", "--defense", "amsreg", "--strength", "0.1", *QUICK, "--name", "a", "--force",
                     "--zoo", zoo)
    assert forced.exit_code == 0, forced.output
    again = json.loads((zoo / "a" / "metadata.json").read_text())
    assert again["defense_params"]["strength"] == 0.1 and again["created"] != meta["created"]


def test_recipe_with_override(tmp_path):
    result = kerasll("train", "--recipe", "fmnist-lenet-jacreg", *QUICK, "--zoo", tmp_path)
    assert result.exit_code == 0, result.output
    (name,) = entries(tmp_path)
    meta = json.loads((tmp_path / name / "metadata.json").read_text())
    assert meta["recipe"] == "fmnist-lenet-jacreg" and meta["defense_params"]["strength"] == 0.01
    assert meta["training"]["epochs"] == 1  # the command line overrides the recipe's 200


@pytest.mark.pipeline
def test_eval_caches_by_settings_and_force_recomputes(zoo):
    first = kerasll("eval", "a", "--source", "embedded", "--limit", "64", "--flatness", "--zoo", zoo)
    assert first.exit_code == 0, first.output
    assert "PGD accuracy" in first.output and "Φ" in first.output and "cached" not in first.output
    results = json.loads((zoo / "a" / "eval.json").read_text())["results"]
    # Keys name the settings and the images (the embedded subset is not the official split's first N).
    assert "pgd-linf-eps25/255-steps10-step6.25/255-r1-n64-embedded" in results
    assert any(k.startswith("phi-pairs2-grid5") and k.endswith("-embedded") for k in results)
    second = kerasll("eval", "a", "--source", "embedded", "--limit", "64", "--flatness", "--zoo", zoo)
    assert "cached" in second.output and "revision" not in second.output
    # A result stored by older attack code (its draws keyed otherwise) is recomputed, not reused.
    stored = json.loads((zoo / "a" / "eval.json").read_text())
    key = "pgd-linf-eps25/255-steps10-step6.25/255-r1-n64-embedded"
    del stored["results"][key]["attacks_revision"]
    (zoo / "a" / "eval.json").write_text(json.dumps(stored))
    old = kerasll("eval", "a", "--source", "embedded", "--limit", "64", "--zoo", zoo)
    assert old.exit_code == 0 and "cached" not in old.output
    again = json.loads((zoo / "a" / "eval.json").read_text())["results"][key]
    assert again["attacks_revision"] == ATTACKS_REVISION
    forced = kerasll("eval", "a", "--source", "embedded", "--limit", "64", "--force", "--zoo", zoo)
    assert forced.exit_code == 0 and "cached" not in forced.output
    fgsm = kerasll("eval", "a", "--attack", "fgsm", "--eps", "8/255", "--source", "embedded", "--limit", "64", "--zoo", zoo)
    assert fgsm.exit_code == 0 and "fgsm-linf-eps8/255-n64" in fgsm.output


def test_a_result_recomputed_by_newer_attack_code_replaces_its_records(zoo, monkeypatch):
    from kerasll.evaluation import chunks

    args = ("eval", "a", "--source", "embedded", "--limit", "64", "--zoo", zoo)
    assert kerasll(*args).exit_code == 0
    key = "pgd-linf-eps25/255-steps10-step6.25/255-r1-n64-embedded"
    folder = zoo / "a" / "records" / "pgd-linf-eps25_255-steps10-step6.25_255-r1-n64-embedded"
    first = {p.name for p in folder.iterdir()}
    monkeypatch.setattr(chunks, "ATTACKS_REVISION", chunks.ATTACKS_REVISION + 1)  # an attack changed since
    assert kerasll(*args, "--force").exit_code == 0
    (kept,) = list(folder.iterdir())  # the superseded run's records are gone: only what eval.json names
    assert kept.name not in first
    stored = json.loads((zoo / "a" / "eval.json").read_text())["results"][key]
    assert (zoo / "a" / stored["records"]).parent == kept and (zoo / "a" / stored["records"]).is_file()


@pytest.mark.pipeline  # a whole CLI run: CI runs it (`-m pipeline`)
def test_eval_landscape_and_landscape_compare_write_figures(zoo, tmp_path):
    ev = kerasll("eval", "a", "--source", "embedded", "--limit", "64", "--landscape", "--zoo", zoo)
    assert ev.exit_code == 0, ev.output
    figs = {p.name for p in (zoo / "a" / "figures").iterdir()}
    assert {"landscape-random-sample0.png", "landscape-fgsm-sample0.png", "histogram.png"} <= figs
    kerasll("train", *QUICK, "--name", "b", "--zoo", zoo)
    cmp = kerasll("landscape", "a", "--compare", "b", "--directions", "fgsm", "--grid", "7", "--sample", "2",
                  "--source", "embedded", "--format", "pdf", "--zoo", zoo)
    assert cmp.exit_code == 0, cmp.output
    pdf = (zoo / "a" / "figures" / "landscape-fgsm-sample2-vs-b.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")  # a whole PDF
    assert str(zoo / "a" / "figures" / "landscape-fgsm-sample2-vs-b.pdf") in cmp.output.replace("\n", "")


def test_zoo_list_flags_corrupt_and_foreign_folders(zoo):
    (zoo / "broken").mkdir(exist_ok=True)
    (zoo / "broken" / "metadata.json").write_text("{not json")
    (zoo / "foreign").mkdir(exist_ok=True)
    (zoo / "foreign" / "notes.txt").write_text("hello")
    result = kerasll("zoo", "list", "--sort", "robust", "--zoo", zoo)
    assert result.exit_code == 0, result.output
    assert "broken" in result.output and "foreign" in result.output and "not an entry" in result.output
    assert "complete" in result.output
    only_at = kerasll("zoo", "list", "--defense", "at", "--json", "--zoo", zoo)
    assert only_at.exit_code == 0 and {r["defense"] for r in json.loads(only_at.output) if "problem" not in r} == {"at"}
    assert "a" not in [r["name"] for r in json.loads(only_at.output)]  # the AMSReg entry is filtered out


def test_zoo_show_rm_asks(tmp_path):
    kerasll("train", *QUICK, "--name", "gone", "--zoo", tmp_path)
    show = kerasll("zoo", "show", "gone", "--zoo", tmp_path)
    assert show.exit_code == 0 and '"status": "complete"' in show.output
    kept = kerasll("zoo", "rm", "gone", "--zoo", tmp_path, input="n\n")
    assert kept.exit_code != 0 and (tmp_path / "gone").exists()
    removed = kerasll("zoo", "rm", "gone", "--yes", "--zoo", tmp_path)
    assert removed.exit_code == 0 and not (tmp_path / "gone").exists()


def test_export_import_round_trip_and_refusals(zoo, tmp_path):
    archive = tmp_path / "a.tar.gz"
    assert kerasll("zoo", "export", "a", archive, "--zoo", zoo).exit_code == 0
    other = tmp_path / "other"
    assert kerasll("zoo", "import", archive, "--zoo", other).exit_code == 0
    assert (other / "a" / "model.keras").is_file()
    again = kerasll("zoo", "import", archive, "--zoo", other)
    assert again.exit_code == 1 and "--force" in again.output
    assert kerasll("zoo", "import", archive, "--force", "--zoo", other).exit_code == 0
    for label, add in {
        "absolute": lambda t, f: _add_raw(t, f, "/abs/metadata.json"),
        "dotdot": lambda t, f: _add_raw(t, f, "a/../../evil.json"),
        "link": lambda t, f: t.addfile(_symlink("a/metadata.json", "/etc/passwd")),
    }.items():
        bad = tmp_path / f"{label}.tar.gz"
        with tarfile.open(bad, "w:gz") as tar:
            add(tar, zoo / "a" / "metadata.json")
        result = kerasll("zoo", "import", bad, "--zoo", tmp_path / "safe")
        assert result.exit_code == 1 and "refusing" in result.output, label
        assert not (tmp_path / "safe").exists() or entries(tmp_path / "safe") == []


def _add_raw(tar, path, name):
    """Add a file under exactly `name` (tarfile.add would strip a leading '/')."""
    data = path.read_bytes()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    import io

    tar.addfile(info, io.BytesIO(data))


def _symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def test_report_writes_markdown_beside_the_paper(zoo, tmp_path):
    result = kerasll("report", "--zoo", zoo, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert not (zoo / "reports").exists()  # a report never lands in the zoo
    text = (tmp_path / "report-fashion_mnist.md").read_text()
    assert "| a | lenet | AMSReg λ=0.5 |" in text and "-378.1" in text  # the paper's Φ beside ours


@pytest.mark.pipeline
def test_report_html_is_one_self_contained_sortable_page(zoo, tmp_path):
    from html.parser import HTMLParser

    bundled_only = tmp_path / "empty-zoo"  # the four bundled entries: one strength per defense
    result = kerasll("report", "--zoo", bundled_only, "--out", tmp_path, "--format", "html")
    assert result.exit_code == 0, result.output
    assert "Fig. 4 for fashion_mnist skipped" in result.output and "kerasll train --recipe" in result.output

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.headers, self.rows, self.cell, self.sources, self.scripts = [], [], None, [], 0
            self.table = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table":
                self.table = attrs.get("id")
            if self.table == "leaderboard" and tag in ("th", "td"):
                self.cell = ""
            if self.table == "leaderboard" and tag == "tr":
                self.rows.append([])
            self.sources += [attrs[k] for k in ("src", "href") if k in attrs]
            self.scripts += tag == "script"

        def handle_endtag(self, tag):
            if tag == "th":
                self.headers.append(self.cell)
            elif tag == "td":
                self.rows[-1].append(self.cell)
            if tag in ("th", "td"):
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    page = Page()
    page.feed((tmp_path / "report-fashion_mnist.html").read_text())
    assert page.headers[:3] == ["entry", "arch", "defense"] and "AutoAttack %" in page.headers
    body = [r for r in page.rows if r]
    csv = kerasll("report", "--zoo", bundled_only, "--csv").output.strip().splitlines()
    from kerasll.zoo.report import summary
    from kerasll.zoo.store import REPO_ZOO, Zoo

    shipped = {e.name: e for e in Zoo(tmp_path / "other-empty-zoo").entries()}
    assert len(body) == len(csv) - 1 == len(shipped) >= 4  # one row per bundled entry in both
    row = next(r for r in body if r[0] == "fmnist-lenet-at")
    aa = summary(shipped["fmnist-lenet-at"]).autoattack  # the bundled AT entry carries its AutoAttack result
    assert row[2] == "AT ε=10/255" and aa is not None and row[page.headers.index("AutoAttack %")] == f"{100 * aa:.2f}"
    assert all((REPO_ZOO / name / "metadata.json").is_file() for name in shipped)
    assert page.scripts == 1 and all(s.startswith("data:") for s in page.sources)  # nothing outside the page


def test_report_csv_and_json_outputs_are_data_only(zoo, tmp_path, monkeypatch):
    import csv as csvlib
    import io

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)  # where a report would land by default
    zoo_before = sorted(p.relative_to(zoo) for p in zoo.rglob("*"))
    out = kerasll("report", "--zoo", zoo, "--csv").output
    rows = list(csvlib.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows if r["name"] == "a"] == ["a"] and rows[0]["dataset"] == "fashion_mnist"
    assert not list(here.iterdir()) and sorted(p.relative_to(zoo) for p in zoo.rglob("*")) == zoo_before  # no file
    shown = json.loads(kerasll("zoo", "show", "a", "--json", "--zoo", zoo).output)
    assert shown["name"] == "a" and len(shown["metadata"]["history"]["loss"]) == 1


def test_eval_json_dash_prints_only_json(zoo):
    result = runner.invoke(app, ["eval", "a", "--source", "embedded", "--limit", "50", "--json", "-", "--zoo", str(zoo)])
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert 0 <= data["attack"]["robust_accuracy"] <= data["attack"]["clean_accuracy"] <= 1


def test_printed_paths_are_never_wrapped(tmp_path):
    long = tmp_path / ("a-very-long-folder-name-" * 4)
    result = kerasll("train", *QUICK, "--name", "x" * 30, "--zoo", long)
    assert result.exit_code == 0
    assert f"is complete: {long / ('x' * 30)}" in result.output  # one line, even at 80 columns


@pytest.mark.parametrize("args,needle", [
    (["train", "--arch", "vgg"], "valid choices: ddnet, lenet, mlp, resnet18"),
    (["train", "--dataset", "mnist"], "valid choices: cifar10, fashion_mnist"),
    (["train", "--defense", "dropout"], "valid choices: none, at, jacreg, amsreg, fastat, adflat"),
    (["train", "--defense", "adflat", "--variant", "curvature"], "valid choices: gradient, difference, at-difference"),
    (["train", "--defense", "adflat", "--strength", "-2"], "strength must be ≥ 0, got -2"),
    (["train", "--defense", "adflat", "--step-size", "1.5"], "FGSM step size must be in (0, 1]"),
    (["train", "--defense", "fastat", "--step-size", "2"], "FGSM step size must be in (0, 1]"),
    (["train", "--weight-decay-mode", "adamw"], "valid choices: coupled, decoupled"),
    (["train", "--projection", "fd"], "unknown projection 'fd'; valid choices: vjp, jvp"),
    (["train", "--weight-decay", "-1"], "weight decay must be ≥ 0"),
    (["report", "--format", "pdf"], "unknown report format 'pdf'; valid choices: markdown, html"),
    (["train", "--defense", "jacreg", "--strength", "-1"], "strength must be ≥ 0"),
    (["train", "--defense", "at", "--eps", "2"], "eps must be in (0, 1]"),
    (["train", "--defense", "at", "--eps", "0"], "eps must be in (0, 1]"),
    (["train", "--defense", "at", "--attack-steps", "0"], "attack steps must be ≥ 1"),
    (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
    (["train", "--source", "dir", "--data-dir", "/nonexistent"], "--data-dir /nonexistent does not exist"),
    (["train", "--source", "dir"], "--source dir needs --data-dir"),
    (["train", "--data-dir", "/proc/self"], "give --data-dir the folder with the IDX files, use --source embedded"),
    (["train", "--epochs", "x"], "--epochs"),
    (["eval", "missing"], "no zoo entry 'missing'"),
    (["eval", "a", "--attack", "cw"], "valid choices: pgd, fgsm, apgd-ce, apgd-dlr, apgd-t, fab-t, fab, square, square-strong, autoattack"),
    (["eval", "a", "--norm", "l0"], "valid choices: linf, l2, l1"),
    (["eval", "a", "--transfer-from", "nothing"], "--transfer-from 'nothing' names no zoo entry"),
    (["eval", "a", "--attack", "square", "--check-budget"], "--check-budget needs a gradient-based attack"),
    (["eval", "a", "--norm", "l1", "--attack", "pgd"], "attack 'pgd' supports norm linf, l2, not 'l1'"),
    (["eval", "a", "--norm", "l1", "--attack", "autoattack", "--version", "plus"], "has no L1 form"),
    (["eval", "a", "--norm", "l1", "--attack", "apgd-ce", "--eps", "0"], "eps must be > 0 for l1, got 0"),
    (["eval", "a", "--attack", "autoattack", "--version", "random"], "valid choices: standard, fast, plus, rand"),
    (["eval", "a", "--eps", "0"], "eps must be in (0, 1]"),
    (["eval", "a", "--eps", "-1/255"], "eps must be in (0, 1]"),
    (["eval", "a", "--attack", "apgd-ce", "--steps", "0"], "steps must be ≥ 1, got 0"),
    (["eval", "a", "--attack", "square", "--queries", "0"], "queries must be ≥ 1, got 0"),
    (["eval", "a", "--attack", "pgd", "--restarts", "0"], "restarts must be ≥ 1, got 0"),
    (["eval", "a", "--attack", "fgsm", "--norm", "l2"], "supports norm linf"),
    (["eval", "a", "--json", "/nonexistent/dir/out.json"], "folder /nonexistent/dir does not exist"),
    (["eval", "a", "--data-keys", "img,label"], "--data-keys img,label names the arrays of a --data file"),
    (["eval", "model.keras"], "--dataset"),
    (["landscape", "a", "--directions", "pca"], "valid choices: random, fgsm"),
    (["zoo", "list", "--sort", "size"], "valid choices: name"),
    (["report", "--out", "/proc/kerasll-report"], "--out /proc/kerasll-report: cannot create this folder"),
    (["report", "--out", "pyproject.toml"], "--out pyproject.toml is a file, not a folder"),
])
def test_bad_input_is_one_line_nonzero_and_writes_nothing(zoo, args, needle):
    before = entries(zoo)
    result = kerasll(*args, "--zoo", zoo)
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output
    assert "Traceback" not in result.output
    assert entries(zoo) == before


def test_model_input_shape_must_fit_the_dataset(zoo, tmp_path):
    data = tmp_path / "cifar"
    data.mkdir()
    rng = np.random.default_rng(0)
    for name in formats.CIFAR_BATCHES["test"]:
        formats.write_cifar_batch(data / name, rng.integers(0, 255, (8, 32, 32, 3)), np.arange(8) % 10)
    (zoo / "wrong").mkdir()
    meta = json.loads((zoo / "a" / "metadata.json").read_text()) | {"name": "wrong", "dataset": "cifar10"}
    (zoo / "wrong" / "metadata.json").write_text(json.dumps(meta))
    (zoo / "wrong" / "model.keras").write_bytes((zoo / "a" / "model.keras").read_bytes())
    result = kerasll("eval", "wrong", "--data-dir", data, "--zoo", zoo)
    assert result.exit_code == 1 and "takes inputs (28, 28, 1)" in result.output


def test_nan_loss_marks_the_entry_failed(tmp_path):
    result = kerasll("train", "--source", "embedded", "--train-limit", "512", "--epochs", "2", "--lr", "1e12",
                     "--name", "nan", "--zoo", tmp_path)
    assert result.exit_code == 1 and "NaN" in result.output
    assert json.loads((tmp_path / "nan" / "metadata.json").read_text())["status"] == "failed"
    listing = kerasll("zoo", "list", "--zoo", tmp_path)
    assert "failed" in listing.output


def test_a_nan_loss_stops_training_at_its_step(tmp_path):
    """A learning rate of 1e12 makes the loss non-finite within a few steps: training stops at that step, not at
    the end of the epoch (8 steps)."""
    from kerasll.zoo import training
    from kerasll.zoo.config import TrainConfig
    from kerasll.zoo.store import Zoo

    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    config = TrainConfig(epochs=2, batch_size=64, train_limit=512, lr=1e12)
    with pytest.raises(training.TrainingStopped, match=r"stopped at epoch 1, step \d: the loss became NaN"):
        training.train_entry(Zoo(tmp_path), config, name="nan", source="embedded", callbacks=[counter],
                             tensorboard=False, log=lambda line: None)
    meta = json.loads((tmp_path / "nan" / "metadata.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == f"loss became NaN or infinite at epoch 1, step {len(steps)}"
    assert len(steps) < 8


def test_bundled_entries_are_read_only_and_copied_on_write(zoo, tmp_path, monkeypatch):
    from kerasll.zoo import store

    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "pre").mkdir()
    for f in ("model.keras", "metadata.json"):
        (bundled / "pre" / f).write_bytes((zoo / "a" / f).read_bytes())
    meta = json.loads((bundled / "pre" / "metadata.json").read_text()) | {"name": "pre"}
    (bundled / "pre" / "metadata.json").write_text(json.dumps(meta))
    monkeypatch.setattr(store, "REPO_ZOO", bundled)
    active = tmp_path / "active"
    listing = kerasll("zoo", "list", "--zoo", active)
    assert listing.exit_code == 0 and "pre" in listing.output and "bundled" in listing.output
    ev = kerasll("eval", "pre", "--source", "embedded", "--limit", "32", "--zoo", active)
    assert ev.exit_code == 0, ev.output
    assert (active / "pre" / "eval.json").is_file() and not (bundled / "pre" / "eval.json").exists()
    removed = kerasll("zoo", "rm", "pre", "--yes", "--zoo", tmp_path / "other")
    assert removed.exit_code == 1 and "read-only" in removed.output


def test_eval_autoattack_stores_leaderboard_fields_and_lists_them(zoo, tmp_path):
    out = tmp_path / "aa.json"
    result = kerasll("eval", "a", "--attack", "autoattack", "--version", "fast", "--source", "embedded",
                     "--limit", "40", "--json", out, "--zoo", zoo)
    assert result.exit_code == 0, result.output
    assert "AutoAttack accuracy" in result.output and "after apgd-t" in result.output
    key = "autoattack-fast-linf-eps25/255-n40-embedded"
    stored = json.loads((zoo / "a" / "eval.json").read_text())["results"][key]
    assert {"clean_accuracy", "robust_accuracy", "samples", "flags", "by_attack", "settings"} <= set(stored)
    assert stored["samples"] == 40 and "clean_acc" not in stored  # one name per field
    written = json.loads(out.read_text())
    assert written["attack"]["robust_accuracy"] == stored["robust_accuracy"]
    assert written["robustbench"] == {"clean_acc": stored["clean_accuracy"], "autoattack_acc": stored["robust_accuracy"],
                                      "eps": 25 / 255, "threat_model": "Linf", "n_examples": 40}
    again = kerasll("eval", "a", "--attack", "autoattack", "--version", "fast", "--source", "embedded",
                    "--limit", "40", "--zoo", zoo)
    assert "cached" in again.output


def test_eval_a_keras_file_writes_nothing_to_the_zoo(zoo, tmp_path):
    model = keras.saving.load_model(zoo / "a" / "model.keras").classifier
    path = tmp_path / "plain.keras"
    model.save(path)
    before = (zoo / "a" / "eval.json").read_text() if (zoo / "a" / "eval.json").exists() else None
    listed = entries(zoo)
    out = tmp_path / "r.json"
    result = kerasll("eval", path, "--dataset", "fashion_mnist", "--attack", "apgd-ce", "--steps", "5",
                     "--source", "embedded", "--limit", "30", "--json", out, "--zoo", zoo)
    assert result.exit_code == 0, result.output
    assert "APGD-CE accuracy" in result.output
    assert json.loads(out.read_text())["attack"]["samples"] == 30
    after = (zoo / "a" / "eval.json").read_text() if (zoo / "a" / "eval.json").exists() else None
    assert before == after and entries(zoo) == listed


@pytest.mark.parametrize("problem", ["not-a-zip", "truncated", "wrong-shape", "wrong-classes", "one-output",
                                     "lambda"])
def test_eval_refuses_a_keras_file_that_is_not_a_classifier_for_the_dataset(zoo, tmp_path, problem):
    path = tmp_path / "m.keras"
    if problem == "not-a-zip":  # Keras itself said "File not found" of a file that exists
        path.write_text("weights, in a text file")
        needle = "is not a Keras model file (.keras files are zip archives"
    elif problem == "truncated":
        data = (zoo / "a" / "model.keras").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        needle = "is not a valid .keras archive"  # Keras itself says "File not found"
    elif problem == "one-output":
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]).save(path)
        needle = "is not a classifier: its output has shape (None, 1)"
    elif problem == "lambda":  # Keras's own message was cut mid-sentence
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Lambda(lambda t: 2 * t),
                          keras.layers.Dense(10)]).save(path)
        needle = "if you trust the file, pass --unsafe to load it with safe_mode=False"
    else:
        shape, classes = ((32, 32, 3), 10) if problem == "wrong-shape" else ((28, 28, 1), 7)
        inputs = keras.Input(shape)
        keras.Model(inputs, keras.layers.Dense(classes)(keras.layers.Flatten()(inputs))).save(path)
        needle = "takes inputs (32, 32, 3)" if problem == "wrong-shape" else "has 10 classes"
    result = kerasll("eval", path, "--dataset", "fashion_mnist", "--source", "embedded", "--limit", "8",
                     "--zoo", zoo)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and needle in lines[0], result.output


def test_unsafe_loads_a_lambda_model_after_a_warning(zoo, tmp_path):
    path = tmp_path / "lambda.keras"
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Lambda(lambda t: 2 * t),
                      keras.layers.Dense(10)]).save(path)
    result = kerasll("eval", path, "--dataset", "fashion_mnist", "--source", "embedded", "--limit", "8", "--attack",
                     "fgsm", "--unsafe", "--zoo", zoo)
    assert result.exit_code == 0, result.output
    assert "warning: loading" in result.output and "safe_mode=False" in result.output


def test_zoo_list_piped_keeps_full_names_and_scripts_read_json_and_csv(zoo):
    import csv
    import io

    long = "an-entry-with-a-rather-long-name-that-would-not-fit-in-80-columns"
    kerasll("train", *QUICK, "--name", long, "--zoo", zoo)
    plain = kerasll("zoo", "list", "--zoo", zoo)
    assert plain.exit_code == 0 and long in plain.output and "│" not in plain.output
    rows = json.loads(kerasll("zoo", "list", "--json", "--zoo", zoo).output)
    mine = [r for r in rows if r["name"] == long]
    assert len(mine) == 1 and {"clean", "robust", "autoattack", "phi", "status"} <= set(mine[0])
    table = list(csv.DictReader(io.StringIO(kerasll("zoo", "list", "--csv", "--zoo", zoo).output)))
    assert long in [r["name"] for r in table]
    both = kerasll("zoo", "list", "--json", "--csv", "--zoo", zoo)
    assert both.exit_code == 1 and "exclusive" in both.output


def test_zoo_list_flags_a_truncated_model_file(zoo, tmp_path):
    import shutil

    shutil.copytree(zoo / "a", zoo / "cut")
    meta = json.loads((zoo / "cut" / "metadata.json").read_text()) | {"name": "cut"}
    (zoo / "cut" / "metadata.json").write_text(json.dumps(meta))
    data = (zoo / "cut" / "model.keras").read_bytes()
    (zoo / "cut" / "model.keras").write_bytes(data[: len(data) // 2])
    listed = kerasll("zoo", "list", "--zoo", zoo)
    assert "not an entry cut: model.keras is damaged" in listed.output
    result = kerasll("eval", "cut", "--source", "embedded", "--limit", "8", "--zoo", zoo)
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "is not a valid .keras archive" in lines[0]
    shutil.rmtree(zoo / "cut")


def test_eval_with_the_adaptive_checks_names_the_surrogate_and_stores_what_they_broke(zoo, tmp_path):
    surrogate = zoo / "a" / "model.keras"
    result = kerasll("eval", "a", "--attack", "apgd-ce", "--steps", "5", "--source", "embedded", "--limit", "32",
                     "--check-budget", "--transfer-from", surrogate, "--json", tmp_path / "out.json", "--zoo", zoo)
    assert result.exit_code == 0, result.output
    assert "twice the budget broke" in result.output and "transfer from model.keras@" in result.output
    stored = json.loads((tmp_path / "out.json").read_text())["attack"]
    assert "-budget2x-transfer-model.keras@" in stored["key"] and stored["settings"]["budget_check"] is True
    found = stored["adaptive"]
    assert found["transfer"]["robust_before"] == found["budget_check"]["robust_before"] - found["budget_check"]["broken"]
    assert stored["robust_accuracy"] * 32 == found["transfer"]["robust_before"] - found["transfer"]["broken"]


@pytest.mark.pipeline
def test_the_budget_check_on_top_of_a_stored_autoattack_runs_only_the_check(zoo, monkeypatch):
    """The stored AutoAttack's stages and self-checks are reused: the second command runs one attack (the budget
    check's APGD-T), counted where attacks are dispatched, and stores the checks under their own key."""
    import kerasll.evaluation.core as core

    args = ["eval", "fmnist-lenet-at", "--attack", "autoattack", "--version", "fast", "--source", "embedded",
            "--limit", "16", "--zoo", zoo]  # a bundled entry (copied into the zoo on write): images stay robust
    assert kerasll(*args).exit_code == 0
    from kerasll.attacks import checks

    ran, run_attack, image_checks = [], core.run_attack, checks.image_checks
    monkeypatch.setattr(core, "run_attack", lambda name, *a, **k: ran.append(name) or run_attack(name, *a, **k))
    monkeypatch.setattr(checks, "image_checks", lambda *a, **k: ran.append("checks") or image_checks(*a, **k))
    result = kerasll(*args, "--check-budget")
    assert result.exit_code == 0, result.output
    assert ran == ["apgd-t"] and "twice the budget broke" in result.output, result.output
    assert "reused from the stored run: apgd-ce, apgd-t and the self-checks" in result.output
    stored = json.loads((zoo / "fmnist-lenet-at" / "eval.json").read_text())["results"]
    assert any(k.startswith("autoattack-fast-linf-eps25/255-budget2x") for k in stored)
