"""`kerasll eval --strategy`: two logical CPU devices and two localhost workers give the one-process result."""

import json
import signal
import subprocess

import numpy as np
import pytest

from devtools.cluster import localhost_cluster
from helpers import KERASLL, PROCESS_ENV, finish, kept_records, start_workers

pytestmark = pytest.mark.processes

ENV = PROCESS_ENV


def eval_args(model, out, *extra):
    return [*KERASLL, "eval", str(model), "--dataset", "fashion_mnist", "--source", "embedded",
            "--limit", "80", "--attack", "autoattack", "--version", "fast", "--batch-size", "20", "--json", str(out),
            *map(str, extra)]


def outcome(out):
    """The result JSON and the per-image records kept beside it."""
    result = json.loads(out.read_text())["attack"]
    return result, kept_records(out)


@pytest.fixture(scope="module")
def one_process(model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "one.json"
    done = subprocess.run(eval_args(model_file, out, "--strategy", "one"), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return outcome(out)


def same(a, b):
    (ra, ka), (rb, kb) = a, b
    for field in ("clean_accuracy", "robust_accuracy", "by_attack", "flags", "noise_accuracy",
                  "weaker_attacks_accuracy"):
        assert ra[field] == rb[field], field
    assert ka.keys() == kb.keys() and all(np.array_equal(ka[k], kb[k]) for k in ka)


def test_two_logical_devices_give_the_one_process_result(model_file, one_process, tmp_path):
    out = tmp_path / "two.json"
    done = subprocess.run(eval_args(model_file, out, "--strategy", "mirrored"), capture_output=True, text=True,
                          env=ENV | {"KERASLL_CPU_DEVICES": "2"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    same(outcome(out), one_process)


def test_two_workers_give_the_one_process_result_and_only_the_chief_writes(model_file, one_process, tmp_path):
    outs = [tmp_path / f"w{i}" / "r.json" for i in range(2)]
    for o in outs:
        o.parent.mkdir()
    workers = [subprocess.Popen(eval_args(model_file, outs[i], "--strategy", "multiworker"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV | {"TF_CONFIG": config})
               for i, config in enumerate(localhost_cluster(2))]
    results = finish(workers)
    for code, out, err in results:
        assert code == 0, out[-2000:] + err[-2000:]
    assert "this worker is done; the chief writes the results" in results[1][1]
    assert not list(outs[1].parent.iterdir())  # worker 1 wrote nothing
    same(outcome(outs[0]), one_process)


def test_a_dead_worker_is_named_and_the_run_resumes(model_file, one_process, tmp_path):
    out = tmp_path / "r.json"
    args = eval_args(model_file, out, "--strategy", "multiworker")
    workers = start_workers(args)
    for line in workers[0].stdout:  # the chief saved the first round: kill worker 1 like a power loss
        if "batch 2/4 saved" in line:
            workers[1].send_signal(signal.SIGKILL)
            break
    chief_out, chief_err = workers[0].communicate(timeout=240)
    workers[1].wait(60)
    lines = [line for line in chief_err.strip().splitlines() if line.startswith("error: ")]
    assert workers[0].returncode == 1 and len(lines) == 1, chief_out[-1500:] + chief_err[-2500:]
    assert "the multiworker evaluation stopped" in lines[0] and ("worker 1" in lines[0] or "connection" in lines[0])
    assert "Traceback" not in chief_err and not out.exists()
    resumed = finish(start_workers(args))
    for code, o, e in resumed:
        assert code == 0, o[-2000:] + e[-2000:]
    assert resumed[0][1].count("reused from an earlier run") == 2
    same(outcome(out), one_process)


def test_verification_spreads_over_two_devices_and_two_workers_to_the_one_process_records(model_file, tmp_path):
    """`kerasll verify --strategy`: CROWN's per-image verdicts and margin bounds over two logical devices and over
    two localhost workers are the one-process records, and only the chief writes."""
    def args(out, strategy):
        return [*KERASLL, "verify", str(model_file), "--dataset", "fashion_mnist", "--source", "embedded",
                "--limit", "24", "--eps", "0.003", "--method", "crown", "--batch-size", "6", "--json", str(out),
                "--strategy", strategy]

    found = {}
    for strategy, env in (("one", ENV), ("mirrored", ENV | {"KERASLL_CPU_DEVICES": "2"})):
        out = tmp_path / strategy / "v.json"
        out.parent.mkdir()
        done = subprocess.run(args(out, strategy), capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        found[strategy] = json.loads(out.read_text())["results"], kept_records(out)
    outs = [tmp_path / f"w{i}" / "v.json" for i in range(2)]
    for o in outs:
        o.parent.mkdir()
    workers = [subprocess.Popen(args(outs[i], "multiworker"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=ENV | {"TF_CONFIG": config}) for i, config in enumerate(localhost_cluster(2))]
    results = finish(workers)
    for code, out, err in results:
        assert code == 0, out[-2000:] + err[-2000:]
    assert "this worker is done; the chief writes the results" in results[1][1]
    assert not list(outs[1].parent.iterdir())  # worker 1 wrote nothing
    found["multiworker"] = json.loads(outs[0].read_text())["results"], kept_records(outs[0])
    (rows, records) = found["one"]
    assert 0 < np.mean(records["status"] == "verified") < 1  # some verified, some not: the verdicts can differ
    for strategy in ("mirrored", "multiworker"):
        other_rows, other = found[strategy]
        assert [r["verified_accuracy"] for r in other_rows] == [r["verified_accuracy"] for r in rows], strategy
        assert other.keys() == records.keys() and all(np.array_equal(other[k], records[k]) for k in records), strategy
