"""Float results that do not depend on the CPU: pin TensorFlow's CPU kernels before TensorFlow starts.

TensorFlow's CPU matrix products and convolutions (oneDNN's kernels, also under Eigen's contractions)
choose their code by the CPU's instruction set when they first run, and split their sums over the
intra-op thread pool, whose size follows the core count. Each choice rounds differently, and training
amplifies the last bits: the demo's five epochs of AMSReg moved PGD accuracy by up to 11 points between
settings of one machine (docs/data/demo-spread.json). Pinning both makes x86-64 CPUs with AVX2 or
AVX-512 run the same kernels with the same split, so they print the same numbers (a CPU without AVX2,
or an ARM one, runs other kernels and may differ).

Nothing here runs at import: `pin_cpu_numerics` changes this process's environment, and only the
commands that promise reproducible numbers call it (`kerasll demo`).
"""

import os
import sys

PINNED_ISA = "AVX2"  # the newest instruction set every x86-64 server and laptop of the last decade has
PINNED_THREADS = 2  # TensorFlow's intra-op threads: the sums' split, whatever the core count
SETTINGS = {"ONEDNN_MAX_CPU_ISA": PINNED_ISA, "TF_NUM_INTRAOP_THREADS": str(PINNED_THREADS)}


def pin_cpu_numerics():
    """Pin the CPU kernels' instruction set and thread count (`SETTINGS`) for this process, unless the
    environment already sets them (the user's choice wins). Returns {variable: value in force} when the
    pin takes effect, or None when TensorFlow already started (too late to change its kernels)."""
    if "tensorflow" in sys.modules:
        return None
    for name, value in SETTINGS.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in SETTINGS}


def describe(pinned):
    """`pin_cpu_numerics`'s result in words, for a run's header line."""
    if pinned is None:
        return "CPU kernels not pinned (TensorFlow had already started): numbers may differ between CPUs"
    same = all(pinned[k] == v for k, v in SETTINGS.items())
    kernels = f"{pinned['ONEDNN_MAX_CPU_ISA']} kernels, {pinned['TF_NUM_INTRAOP_THREADS']} threads"
    return (f"CPU kernels pinned ({kernels}): the same numbers on x86-64 CPUs with AVX2 or AVX-512" if same
            else f"CPU kernels set by the environment ({kernels}): numbers may differ from the README's")
