"""The command line's check of Keras's backend, made when a command first imports Keras (`--help` and
`zoo list` never do): a backend kerasll does not run on, or one that is not installed, is one line and exit 1
(`kerasll.backend.check_requested`) instead of Keras's traceback from inside its import."""

import importlib.abc
import sys


class CheckBackend(importlib.abc.MetaPathFinder):
    """On the first `import keras`, runs the check, steps aside, and lets the normal finders import Keras."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)  # once, whatever the check says
        from kerasll.backend import check_requested

        check_requested()
        return None


def install():
    """Check the backend when Keras is first imported in this process (now, if it already is: nothing to do)."""
    if "keras" not in sys.modules and not any(isinstance(f, CheckBackend) for f in sys.meta_path):
        sys.meta_path.insert(0, CheckBackend())
