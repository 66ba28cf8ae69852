"""`kerasll certify` as real processes: killed mid-way it resumes to the identical result, and two localhost
workers give the one-process result."""

import json
import signal
import subprocess

import numpy as np
import pytest

from helpers import KERASLL, PROCESS_ENV, finish, kept_records
from devtools.cluster import localhost_cluster

pytestmark = pytest.mark.processes

ENV = PROCESS_ENV


def certify_args(model, out, *extra):
    return [*KERASLL, "certify", str(model), "--dataset", "fashion_mnist", "--source", "embedded",
            "--limit", "300", "--n", "3000", "--sigma", "0.25", "--batch-size", "500", "--json", str(out),
            *map(str, extra)]


def outcome(out):
    """The result JSON and the per-image records kept beside it."""
    result = json.loads(out.read_text())["0.25"]
    return ({k: result[k] for k in ("certified_accuracy", "abstention_rate", "clean_accuracy", "mean_radius")},
            kept_records(out))


@pytest.fixture(scope="module")
def one_process(model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "one.json"
    done = subprocess.run(certify_args(model_file, out, "--strategy", "one"), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return outcome(out)


def same(a, b):
    (ra, ka), (rb, kb) = a, b
    assert ra == rb
    assert ka.keys() == kb.keys() and all(np.array_equal(ka[k], kb[k]) for k in ka)


def test_a_killed_certification_resumes_to_the_identical_result(model_file, one_process, tmp_path):
    out = tmp_path / "r.json"
    process = subprocess.Popen(certify_args(model_file, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=ENV)
    for line in process.stdout:  # a power loss once the first 100 images are certified
        if "images 0-100 done and kept" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(60)
    assert process.returncode == -signal.SIGKILL and not out.exists()
    resumed = subprocess.run(certify_args(model_file, out), capture_output=True, text=True, env=ENV)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    kept = [line.strip() for line in resumed.stdout.splitlines() if "done and kept" in line]
    assert kept == ["batch 1/1: images 100-200 done and kept", "batch 1/1: images 200-300 done and kept"]
    same(outcome(out), one_process)


@pytest.mark.long
def test_two_workers_give_the_one_process_certification(model_file, one_process, tmp_path):
    outs = [tmp_path / f"w{i}" / "r.json" for i in range(2)]
    for o in outs:
        o.parent.mkdir()
    results = finish([subprocess.Popen(certify_args(model_file, outs[i], "--strategy", "multiworker"),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       env=ENV | {"TF_CONFIG": config})
                      for i, config in enumerate(localhost_cluster(2))])
    for code, o, e in results:
        assert code == 0, o[-2000:] + e[-2000:]
    assert "this worker is done; the chief writes the results" in results[1][1]
    assert not list(outs[1].parent.iterdir())  # worker 1 wrote nothing
    same(outcome(outs[0]), one_process)
