"""The one exception type kerasll raises for a user's mistake."""


class KerasllError(ValueError):
    """A bad value from the user: the message names it and the valid choices.

    The CLI prints the message on one line and exits 1, without a traceback.
    """


def check_choice(kind, value, choices):
    """Return `value` if it is one of `choices`, else raise a `KerasllError`."""
    if value not in choices:
        raise KerasllError(
            f"unknown {kind} {value!r}; valid choices: {', '.join(map(str, choices))}"
        )
    return value


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during long work, with what was kept: the CLI prints `interrupted: <message>` and exits 130."""


def is_ctrl_c(error):
    """Whether `error` is Ctrl-C: a KeyboardInterrupt, or the SystemError a C extension (TensorFlow, NumPy)
    raises when the interrupt arrives inside one of its calls ("returned a result with an exception set")."""
    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, SystemError) and isinstance(error.__cause__ or error.__context__, KeyboardInterrupt)
