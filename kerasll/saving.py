"""Loading .keras files that hold kerasll's own Keras classes (defense models, the coupled-decay optimizer).

Keras finds a custom class only once its module has run its
`@keras.saving.register_keras_serializable` decorator. `import kerasll` imports
no module (it is lazy), so `load_model` (and kerasll's first TensorFlow-backed
name) imports them first.
"""


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
