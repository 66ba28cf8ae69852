"""The one exception type kerasll raises for a user's mistake."""


class KerasllError(ValueError):
    """A bad value from the user: the message names it and the valid choices.

    The CLI prints the message on one line and exits 1, without a traceback.
    """


def check_positive(name, value, example, unit="pixel units"):
    """A finite number > 0, else one line: "NAME must be a number > 0 (UNIT, e.g. EXAMPLE), got …"."""
    try:
        ok = 0 < float(value) < float("inf")
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise KerasllError(f"{name} must be a number > 0 ({unit}, e.g. {example}), got {value!r}")


def check_choice(kind, value, choices):
    """Return `value` if it is one of `choices`, else raise a `KerasllError`."""
    if value not in choices:
        raise KerasllError(
            f"unknown {kind} {value!r}; valid choices: {', '.join(map(str, choices))}"
        )
    return value


class NotOnThisBackend(KerasllError, AttributeError):
    """A kerasll name that does not run on the Keras backend in use yet (an `AttributeError` too, so that
    `hasattr` and `getattr(kerasll, name, default)` work as for a missing name)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during long work, with what was kept: the CLI prints `interrupted: <message>` and exits 130."""


_CTRL_C = {"seen": False}  # set by the handler `watch_ctrl_c` installs (the command line's process only)


def watch_ctrl_c():
    """Remember that SIGINT arrived, then raise KeyboardInterrupt as Python does: so that `is_ctrl_c` can tell
    an interrupted C call from a real SystemError. Installed by the CLI; a process that ignores SIGINT keeps
    ignoring it."""
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def handler(signum, frame):
        _CTRL_C["seen"] = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, handler)


def is_ctrl_c(error):
    """Whether `error` is Ctrl-C: a KeyboardInterrupt, or the SystemError a C extension (TensorFlow, NumPy)
    raises when the interrupt arrives inside one of its calls ("returned a result with an exception set";
    TensorFlow's error handler may drop its cause, hence the flag `watch_ctrl_c` sets)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    if not isinstance(error, SystemError):
        return False
    caused = isinstance(error.__cause__ or error.__context__, KeyboardInterrupt)
    return caused or (_CTRL_C["seen"] and "returned a result with an exception set" in str(error))


def requires(module, what, instead):
    """`module` imported, or a one-line `KerasllError` saying that `what` needs it and what to do `instead`
    (TensorFlow's data readers on a machine with JAX or PyTorch and no TensorFlow)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise KerasllError(f"{what} needs {module}, which is not installed here: {instead}") from None
