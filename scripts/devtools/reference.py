"""The reference AutoAttack (fra31/auto-attack, PyTorch) run beside kerasll's: its torch side and the call to it.

`run_reference` saves the classifier, starts a child process under KERAS_BACKEND=torch (Keras rebuilds the
classifier as a torch module, fed NCHW as the reference expects), runs the reference's AutoAttack
(PyPI's pyautoattack, or a checkout) with its per-stage robust flags, and checks the port: logits and
input gradients must agree. `scripts/benchmark_reference.py` wires it.
"""

import subprocess
import sys
import tempfile
import time

import numpy as np

from devtools import child_env

REFERENCE_NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}  # kerasll's norm names → the reference's


def child(paths, batch_size, source=None):
    """In the torch process: the port check, then the reference AutoAttack with per-stage robust flags.
    `paths`: the input .npz (x, y, eps, seed, norm), the output .npz and the classifier's .keras file."""
    import keras
    import torch

    if source:
        sys.path.insert(0, source)
    aa = __import__("autoattack" if source else "pyautoattack")
    state = sys.modules[aa.__name__ + ".state"].EvaluationState
    data = np.load(paths[0])
    net = keras.saving.load_model(paths[2], compile=False)

    class NCHW(torch.nn.Module):  # the reference's NCHW in, NHWC to the Keras model
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x.permute(0, 2, 3, 1))

    model = NCHW().eval()
    x = torch.tensor(data["x"]).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(data["y"]).long()
    probe = x[:200].clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(probe), y[:200], reduction="sum")
    (grad,) = torch.autograd.grad(loss, probe)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    flags, seconds, start = {}, {}, [time.perf_counter()]
    original = state.add_run_attack

    def add_run_attack(self, attack):  # the driver calls this after each attack: keep its robust flags
        flags[attack], seconds[attack] = self.robust_flags.cpu().numpy().copy(), time.perf_counter() - start[0]
        start[0] = time.perf_counter()
        original(self, attack)

    state.add_run_attack = add_run_attack
    adversary = aa.AutoAttack(model, norm=REFERENCE_NORMS[str(data["norm"])], eps=float(data["eps"]),
                              version="standard", seed=int(data["seed"]), device="cpu")
    adversary.verbose = False
    start[0] = time.perf_counter()
    adversary.run_standard_evaluation(x, y, **{"bs" if source else "batch_size": batch_size})
    np.savez(paths[1], logits=model(probe).detach().numpy(), grad=grad.permute(0, 2, 3, 1).numpy(),
             clean=clean.numpy(), flag_stages=np.array(list(flags), str), robust=np.stack(list(flags.values())) if flags else np.zeros((0, len(y)), bool),
             timed_stages=np.array(list(seconds), str), seconds=np.array(list(seconds.values()), float))


def run_reference(classifier, x, y, eps, seed, norm="linf", batch_size=1000, source=None):
    """The reference AutoAttack in a torch child process (this module's `child`): the port check, its
    per-stage robust flags (packed) and seconds."""
    from devtools.parity import STAGES, fill_skipped, pack_flags, port_check

    with tempfile.TemporaryDirectory() as tmp:
        classifier.save(f"{tmp}/port.keras")
        np.savez(f"{tmp}/in.npz", x=x, y=y, eps=eps, seed=seed, norm=norm)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", __name__, f"{tmp}/in.npz", f"{tmp}/out.npz", f"{tmp}/port.keras",
                        "--batch-size", str(batch_size), *(["--source", source] if source else [])],
                       env=child_env(KERAS_BACKEND="torch", OMP_WAIT_POLICY="PASSIVE"), check=True)
        wall = time.perf_counter() - t0
        ref = dict(np.load(f"{tmp}/out.npz"))
    flags, seconds = fill_skipped(dict(zip(ref["flag_stages"].tolist(), ref["robust"])),
                                  dict(zip(ref["timed_stages"].tolist(), ref["seconds"].tolist())), ref["clean"])
    return {"port": port_check(classifier, x[:200], y[:200], ref["logits"], ref["grad"]),
            "reference": {"robust": {s: pack_flags(flags[s]) for s in STAGES}},
            "seconds": {"theirs": wall}, "seconds_by_stage": {"theirs": {s: seconds[s] for s in STAGES}}}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the reference AutoAttack's side (run by `run_reference`)")
    parser.add_argument("paths", nargs=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--source")
    arguments = parser.parse_args()
    child(arguments.paths, arguments.batch_size, arguments.source)
