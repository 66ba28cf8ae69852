"""The `kerasll` command's entry point: quiet TensorFlow's start-up chatter, then run the CLI.

This module sits outside the `kerasll` package on purpose: importing the package
imports TensorFlow, and TensorFlow's C++ start-up lines can only be muted before
that. The library itself changes nothing global; the command line may, for its
own process. Set KERASLL_TF_LOGS=1 to see TensorFlow's lines.
"""

import os
import sys


def import_tensorflow_quietly():
    """Import TensorFlow with file descriptor 2 muted (its C++ logs bypass Python).

    TF's absl start-up lines (oneDNN, CUDA probing) are printed before its
    logging can be configured. An import error is re-raised with stderr back.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules or os.environ.get("KERASLL_TF_LOGS"):
        error = split_cpu()
        if error is not None:
            sys.exit(f"error: {error}")
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            split = split_cpu()  # before the devices are initialised
            if not os.environ.get("TF_CONFIG"):  # multiworker needs the devices uninitialised
                tf.config.list_logical_devices()  # the CUDA probe logs here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    if split is not None:  # a bad KERASLL_CPU_DEVICES, said once stderr is back
        sys.exit(f"error: {split}")


def split_cpu():
    """Apply KERASLL_CPU_DEVICES (a testing aid); return the error message of a bad value, else None."""
    from kerasll.distribute import split_cpu_from_env
    from kerasll.errors import KerasllError

    try:
        split_cpu_from_env()
    except KerasllError as error:
        return str(error)
    return None


def main():
    """Run the `kerasll` command line with TensorFlow's start-up logs muted."""
    import_tensorflow_quietly()
    from kerasll.cli.main import app
    from kerasll.errors import watch_ctrl_c

    watch_ctrl_c()

    app(prog_name="kerasll")


if __name__ == "__main__":
    main()
