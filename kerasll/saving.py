"""Loading .keras files that hold kerasll's own Keras classes (defense models, the coupled-decay optimizer).

Keras finds a custom class only once its module has run its
`@keras.saving.register_keras_serializable` decorator. `import kerasll` imports
no such module (it is lazy, so that `kerasll --help` never starts TensorFlow);
instead it asks for them to be imported as soon as Keras is (`register_with_keras`):
at once if Keras is already imported, else right after Keras's own import. So
`import kerasll, keras; keras.saving.load_model("zoo/…/model.keras")` works, in
either order, as it does for keras-hub's classes.
"""

import importlib.abc
import importlib.util
import sys


def import_keras_classes():
    """Import every module that defines a Keras-serializable kerasll class."""
    import kerasll.optimizers  # noqa: F401  (CoupledWeightDecaySGD, WarmupPiecewise)
    from kerasll.defenses.registry import import_classes

    import_classes()


def load_model(path, **kwargs):
    """`keras.saving.load_model` for a .keras file that may hold kerasll classes (a defense model such as
    `AMSRegModel`, its optimizer): those are imported first. `kwargs` go to Keras (e.g. `compile=False`)."""
    import keras

    import_keras_classes()
    return keras.saving.load_model(path, **kwargs)


def _register():
    """Import kerasll's Keras classes if Keras runs on TensorFlow (kerasll's classes are TensorFlow code)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import_keras_classes()


class _Loader(importlib.abc.Loader):
    """Keras's own loader, then `_register` once Keras's module has run."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register()


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when `keras` is first imported, it wraps Keras's loader in `_Loader` and steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterKeras)]  # once, and not for itself
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def register_with_keras():
    """Make kerasll's Keras classes known to `keras.saving` as soon as Keras is imported: now if it is, else
    right after its import (a finder that removes itself once it has fired). Called by `import kerasll`."""
    if "keras" in sys.modules:
        if sys.modules.get("tensorflow") is not None:  # Keras on TensorFlow already started: registering costs only our modules
            _register()
        return
    if not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())
