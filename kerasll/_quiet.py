"""Keep TensorFlow's start-up chatter off the terminal (set KERASLL_TF_LOGS=1 to see it)."""

import os
import sys


def import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 muted (its C++ logs bypass Python).

    TF's absl start-up lines (oneDNN, CUDA probing) are printed before its
    logging can be configured. An import error is re-raised with stderr back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or os.environ.get("KERASLL_TF_LOGS"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            tf.config.list_logical_devices()  # the CUDA probe logs here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
