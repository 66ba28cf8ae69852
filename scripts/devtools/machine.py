"""The machine a measurement ran on, in one line: every speed claim in the docs names it.

CPUs differ up to 6× on the same TensorFlow code (oneDNN picks its kernels by instruction set), so a
timing without its machine cannot be compared with anything.
"""

import os
import platform
from importlib import metadata

PACKAGES = ("tensorflow", "keras", "numpy")


def cpu_model():
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def instruction_sets():
    """The vector instruction sets that decide TensorFlow's CPU kernels: 'AVX2, no AVX-512' and the like."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return platform.machine()
    best = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else "SSE"
    return best if best == "AVX-512" else f"{best}, no AVX-512"


def versions(packages=PACKAGES):
    """'TensorFlow 2.21.0, Keras 3.15.1, NumPy 2.4.6' for the installed ones."""
    names = {"tensorflow": "TensorFlow", "keras": "Keras", "numpy": "NumPy", "torch": "PyTorch", "jax": "JAX"}
    out = []
    for p in packages:
        try:
            out.append(f"{names.get(p, p)} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(out)


def describe(packages=PACKAGES):
    """E.g. 'AMD EPYC, 2 cores, AVX2, no AVX-512; TensorFlow 2.21.0, Keras 3.15.1, NumPy 2.4.6'."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {cores} cores, {instruction_sets()}; {versions(packages)}"
