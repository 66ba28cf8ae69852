"""Helpers shared by the test modules that start real `kerasll` processes (no test module imports another)."""

import os
import subprocess
import sys

from kerasll.distribute import localhost_cluster

KERASLL = [sys.executable, "-m", "kerasll"]  # what the `kerasll` command runs


def start_workers(args, workers=2, cwd=None):
    """`workers` processes running `args`, each with its TF_CONFIG of one localhost cluster; the Popen objects."""
    return [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                             env=os.environ | {"TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "3"})
            for config in localhost_cluster(workers)]


def finish(workers, timeout=240):
    """Wait for every process; [(exit code, stdout, stderr)]. A timeout kills them all."""
    outputs = []
    for w in workers:
        try:
            out, err = w.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise
        outputs.append((w.returncode, out, err))
    return outputs
