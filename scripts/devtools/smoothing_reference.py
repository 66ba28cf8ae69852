"""The authors' randomized smoothing (locuslab/smoothing, PyTorch) run beside kerasll's: its torch side and the
calls to it.

The authors' `Smooth` class (code/core.py) runs in a child process under KERAS_BACKEND=torch on the
classifier, rebuilt by Keras as a torch module, on the same images and settings. Two lines of core.py are
adapted before it runs, nothing else: its noise is drawn on 'cuda' (here: on the input's device) and it
imports SciPy's removed `binom_test` (here: `binomtest(...).pvalue`, used by PREDICT only).
`scripts/benchmark_smoothing_reference.py` wires it.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from devtools import child_env

ADAPTED = {  # the two lines of core.py that cannot run here, and what they become
    "from scipy.stats import norm, binom_test":
        "from scipy.stats import norm, binomtest\nbinom_test = lambda k, n, p: binomtest(k, n, p).pvalue",
    "noise = torch.randn_like(batch, device='cuda') * self.sigma":
        "noise = torch.randn_like(batch, device=batch.device) * self.sigma",
}


def load_reference(source):
    """The authors' core.py with the two adapted lines, as a module; refuses a file they do not match."""
    import types

    text = (Path(source) / "code" / "core.py").read_text()
    for old, new in ADAPTED.items():
        if text.count(old) != 1:
            sys.exit(f"{source}/code/core.py does not contain {old!r} once: not the expected revision")
        text = text.replace(old, new)
    module = types.ModuleType("smoothing_core")
    exec(compile(text, "locuslab/smoothing/code/core.py (adapted)", "exec"), module.__dict__)
    return module


def certify_child(paths, settings):
    """In the torch process: the authors' CERTIFY on every image; (class, radius) per image and seconds."""
    import keras
    import torch

    torch.manual_seed(settings["seed"])
    core = load_reference(settings["source"])
    data = np.load(paths[0])
    net = keras.saving.load_model(paths[2], compile=False)
    x = torch.tensor(data["x"])  # NHWC, as the Keras model takes it: Smooth only repeats the image
    smooth = core.Smooth(net, int(data["classes"]), float(data["sigma"]))
    prediction, radius = np.zeros(len(x), np.int64), np.zeros(len(x))
    start = time.perf_counter()
    for i in range(len(x)):
        prediction[i], radius[i] = smooth.certify(x[i], settings["n0"], settings["n"], settings["alpha"],
                                                  settings["batch_size"])
    np.savez(paths[1], prediction=prediction, radius=radius, seconds=time.perf_counter() - start)


def parts_child(paths, settings):
    """In the torch process: where the authors' time goes, per `batch_size` noisy copies of one image:
    torch.randn_like (their noise) and the port's forward pass, each timed alone (median of 20)."""
    import keras
    import torch

    from devtools.timing import median_seconds

    net = keras.saving.load_model(paths[2], compile=False)
    batch = torch.tensor(np.load(paths[0])["x"][:1]).repeat((settings["batch_size"], 1, 1, 1))
    with torch.no_grad():
        np.savez(paths[1], noise_s=median_seconds(lambda: torch.randn_like(batch), 20),
                 forward_s=median_seconds(lambda: net(batch), 20))


def _in_torch(what, classifier, arrays, settings):
    """Run `what` ("certify" or "parts") in a torch child process on `classifier` and `arrays`; its outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        classifier.save(f"{tmp}/port.keras")
        np.savez(f"{tmp}/in.npz", **arrays)
        subprocess.run([sys.executable, "-m", __name__, what, f"{tmp}/in.npz", f"{tmp}/out.npz", f"{tmp}/port.keras",
                        json.dumps(settings)],
                       env=child_env(KERAS_BACKEND="torch", OMP_WAIT_POLICY="PASSIVE"), check=True)
        return dict(np.load(f"{tmp}/out.npz"))


def run_reference(classifier, x, y, sigma, settings):
    """The authors' CERTIFY (`settings`: source, seed, n0, n, alpha, batch_size): (their per-image answers as a
    `CertifyResult`, seconds)."""
    from devtools.certified import as_result

    out = _in_torch("certify", classifier, {"x": x, "y": y, "sigma": sigma,
                                            "classes": int(classifier.output_shape[-1])}, settings)
    return as_result(out["prediction"], out["radius"], y), float(out["seconds"])


def time_parts(classifier, x, settings):
    """Seconds per `batch_size` noisy copies of image x[0]: the authors' noise and forward pass (torch), and
    kerasll's compiled forward pass."""
    from devtools.timing import median_seconds, raw_passes

    theirs = _in_torch("parts", classifier, {"x": x[:1]}, settings)
    forward, _ = raw_passes(classifier)
    batch = np.repeat(x[:1], settings["batch_size"], 0)
    return {"authors_noise_s": float(theirs["noise_s"]), "authors_forward_s": float(theirs["forward_s"]),
            "kerasll_forward_s": median_seconds(lambda: forward(batch), 20), "batch": settings["batch_size"]}


def kernels_of(environ):
    """The CPU kernels of a run in words: TensorFlow's oneDNN setting and the instruction-set cap (which
    PyTorch's oneDNN obeys too)."""
    library = "TensorFlow oneDNN" if environ.get("TF_ENABLE_ONEDNN_OPTS") == "1" else "TensorFlow default kernels"
    return f"{library}, {environ.get('ONEDNN_MAX_CPU_ISA', 'the CPU' + chr(39) + 's best')} code"


if __name__ == "__main__":
    what, *files, given = sys.argv[1:]
    {"certify": certify_child, "parts": parts_child}[what](files, json.loads(given))
