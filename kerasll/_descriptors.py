"""A file descriptor sent to the null device for a block: what a C or C++ library writes there too (TensorFlow's
start-up lines on 2, a solver's messages on 1), which Python's `sys.stdout`/`sys.stderr` never see."""

import os
import sys
from contextlib import contextmanager


@contextmanager
def muted(fd):
    """Descriptor `fd` (1 or 2) points at /dev/null inside the block, then is restored; Python's own buffered
    output for it is flushed first."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
