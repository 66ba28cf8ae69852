"""Float results that do not depend on the CPU: pin TensorFlow's CPU kernels before TensorFlow starts.

TensorFlow's CPU convolutions and matrix products come from one of two libraries: oneDNN's kernels,
which TensorFlow turns on by default only on some CPUs (Intel ones with AVX-512; not this project's
AMD EPYC), or Eigen's. oneDNN then chooses its code by the CPU's instruction set when it first runs,
and both split their sums over the intra-op thread pool, whose size follows the core count. Each
choice rounds differently, and training amplifies the last bits: the demo's five epochs of AMSReg
moved PGD accuracy by up to 11 points between such settings on one machine
(docs/data/demo-spread.json). Pinning all three (oneDNN on, AVX2 code, 2 threads) makes x86-64 CPUs
with AVX2 or AVX-512 run the same kernels with the same split, so they print the same numbers (a CPU
without AVX2, or an ARM one, runs other kernels and may differ). oneDNN on is also the faster choice
where TensorFlow leaves it off (docs/benchmarks.md).

Nothing here runs at import: `use_onednn` and `pin_cpu_numerics` change this process's environment, and
only the command line calls them (every command the first, `kerasll demo` the second).
"""

import os
import sys

PINNED_ISA = "AVX2"  # the newest instruction set every x86-64 server and laptop of the last decade has
PINNED_THREADS = 2  # TensorFlow's intra-op threads: the sums' split, whatever the core count
FAST = {"TF_ENABLE_ONEDNN_OPTS": "1"}  # oneDNN's kernels wherever TensorFlow would leave them off
SETTINGS = FAST | {"ONEDNN_MAX_CPU_ISA": PINNED_ISA, "TF_NUM_INTRAOP_THREADS": str(PINNED_THREADS)}


def _before_tensorflow(values):
    """Set `values` in this process's environment where it does not set them already (the user's choice wins):
    {variable: value in force}, or None when TensorFlow already started (too late to change its kernels)."""
    if "tensorflow" in sys.modules:
        return None
    for name, value in values.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in values}


def use_onednn():
    """Turn TensorFlow's oneDNN CPU kernels on for this process, unless the environment says otherwise or
    TensorFlow already started (then: False). TensorFlow turns them on by default only on some CPUs; on an
    AMD EPYC with AVX2 they made a LeNet's forward pass 3.7× and `kl.certify` 3.1× faster
    (docs/benchmarks.md). The `kerasll` command calls it first; a script can too, before importing
    TensorFlow."""
    return _before_tensorflow(FAST) is not None


def pin_cpu_numerics():
    """Pin oneDNN on, its instruction set and the thread count (`SETTINGS`) for this process, where the
    environment does not set them already. Returns {variable: value in force} when the pin takes effect, or
    None when TensorFlow already started."""
    return _before_tensorflow(SETTINGS)


def describe(pinned):
    """`pin_cpu_numerics`'s result in words, for a run's header line."""
    if pinned is None:
        return "CPU kernels not pinned (TensorFlow had already started): numbers may differ between CPUs"
    same = all(pinned[k] == v for k, v in SETTINGS.items())
    library = "oneDNN" if pinned["TF_ENABLE_ONEDNN_OPTS"] == "1" else "Eigen"
    kernels = f"{library}, {pinned['ONEDNN_MAX_CPU_ISA']} code, {pinned['TF_NUM_INTRAOP_THREADS']} threads"
    return (f"CPU kernels pinned ({kernels}): the same numbers on x86-64 CPUs with AVX2 or AVX-512" if same
            else f"CPU kernels set by the environment ({kernels}): numbers may differ from the README's")
