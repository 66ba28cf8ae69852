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
