"""One small class behind every registry: attacks, defenses, data sets and architectures."""

import fnmatch

from kerasll.errors import KerasllError, check_choice


class Registry:
    """Named things of one kind. Adding a taken name is refused unless asked; an unknown name
    gets the one-line error that lists the valid ones.

    Args:
        kind: what the things are, for messages ("attack", "defense", ...).
        sort: list names sorted (else in registration order).
    """

    def __init__(self, kind, sort=False):
        self.kind, self.sort, self._items = kind, sort, {}

    def add(self, name, item, overwrite=False):
        if name in self._items and not overwrite:
            raise KerasllError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
        self._items[name] = item
        return item

    def names(self, pattern="*"):
        found = [n for n in self._items if fnmatch.fnmatch(n, pattern)]
        return sorted(found) if self.sort else found

    def get(self, name):
        return self._items[check_choice(self.kind, name, self.names())]

    def __contains__(self, name):
        return name in self._items
