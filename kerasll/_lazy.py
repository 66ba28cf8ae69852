"""Lazy package attributes: `import kerasll` is cheap, and `kerasll.X` imports X's module on first use.

The pattern of SciPy's and scikit-image's `lazy_loader` (SPEC 1), in a few lines: a package lists
which module each public name lives in, and its module-level `__getattr__` imports that module
the first time the name is asked for. So `import kerasll` and the command line's `--help` do
not import TensorFlow, while `kl.pgd`, `from kerasll import pgd` and `dir(kl)` work as before.
"""

import importlib
import sys
import types


def attach(package, exports, submodules=(), before=None, light=(), check=None):
    """`(__getattr__, __dir__, __all__)` for `package`.

    Args:
        package: the package's `__name__`.
        exports: {public name: the module that defines it}.
        submodules: subpackage or module names reachable as attributes (`kerasll.zoo`).
        before: called once before the first export not in `light` is imported (e.g. a backend check).
        light: exports that need no `before` (registries' listings, the error type).
        check: `check(name)` before each export not in `light` is first imported; it raises to refuse it
            (an export that does not run on the Keras backend in use).
    """
    done = []

    def __getattr__(name):
        module = exports.get(name)
        if module is None:
            if name in submodules:
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if check is not None and name not in light:
            check(name)
        if before is not None and not done and name not in light:
            done.append(True)  # first, so that names `before` itself asks for do not call it again
            before()
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip __getattr__
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports) | set(submodules))

    class Package(types.ModuleType):
        """Importing submodule `kerasll.attacks.pgd` makes Python set the package's attribute `pgd` to that
        module; where an export has the submodule's name (the function `pgd`), the export wins."""

        def __setattr__(self, name, value):
            if name in exports and isinstance(value, types.ModuleType) and value.__name__ == f"{package}.{name}":
                return
            super().__setattr__(name, value)

    sys.modules[package].__class__ = Package
    return __getattr__, __dir__, sorted(exports)


class Deferred:
    """A module imported at its first attribute look-up: `tf = Deferred("tensorflow")` lets a module whose
    training code is TensorFlow's still be imported (its Keras classes registered, a saved model loaded and
    called) on Keras's other backends, where TensorFlow may not be installed. Nothing is put in `sys.modules`
    before the real import."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)
