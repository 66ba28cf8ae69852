"""A `tf.distribute` cluster of processes on this machine, for the multiworker tests and benchmarks."""

import json


def localhost_cluster(workers, chief=False):
    """TF_CONFIG values for `workers` processes on this machine, on free ports: one JSON string per
    process, the chief's first (for trying multiworker runs, and for tests and benchmarks).

    With `chief`, process 0 takes the "chief" role and the others are workers 0, 1, …
    """
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:
        s.bind(("localhost", 0))
    addresses = [f"localhost:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    cluster = {"chief": addresses[:1], "worker": addresses[1:]} if chief else {"worker": addresses}
    tasks = [{"type": "chief", "index": 0} if chief and i == 0 else
             {"type": "worker", "index": i - 1 if chief else i} for i in range(workers)]
    return [json.dumps({"cluster": cluster, "task": task}) for task in tasks]
