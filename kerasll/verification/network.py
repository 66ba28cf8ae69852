"""A Keras classifier as the chain that bound propagation walks: affine maps, ReLUs and max-pools.

Every layer whose inference-mode map is affine (Dense and Conv2D before their activation, Normalization,
Rescaling, BatchNormalization, average pooling, Flatten, Reshape, Dropout) becomes an explicit matrix read off
the layer itself: the layer applied to the basis images of its input, minus its output at zero (exact: each
entry is one weight times 1.0). Consecutive affine maps are multiplied into one. ReLU (as a layer or inside
Dense/Conv2D) and non-overlapping max-pooling are the nonlinear steps. Anything else is refused before any
work, naming the layer. A final softmax is dropped: a margin of the logits is positive exactly where the
probabilities' is, so the logits are what is verified (as `kerasll eval` attacks them).
"""

from dataclasses import dataclass

import numpy as np

from kerasll.errors import KerasllError
from kerasll.logits import activation_name

AFFINE = ("Dense", "Conv1D", "Conv2D", "Normalization", "Rescaling", "BatchNormalization", "AveragePooling2D",
          "Flatten", "Reshape", "Dropout", "InputLayer")
SPARSE_BELOW = 0.25  # an affine step's matrix is multiplied as a sparse one below this share of nonzeros
SUPPORTED = AFFINE + ("ReLU", "Activation", "MaxPooling2D")


@dataclass
class Affine:
    """x ↦ W x + b on flattened (C-order) values; W is (out, in) float64."""

    weight: np.ndarray
    bias: np.ndarray

    def times(self, coef):
        """coef @ W for a sparse (rows, out) `coef`, sparse again: W as a sparse matrix where it is mostly zeros
        (a convolution's), else dense."""
        from scipy import sparse

        if not hasattr(self, "_sparse"):
            self._sparse = sparse.csr_matrix(self.weight) if np.mean(self.weight != 0) < SPARSE_BELOW else None
        if self._sparse is not None:
            return coef @ self._sparse
        product = np.ascontiguousarray(coef @ self.weight)  # dense: stored whole (zeros go at the next ReLU)
        rows, columns = product.shape
        return sparse.csr_matrix((product.ravel(), np.tile(np.arange(columns), rows),
                                  np.arange(0, rows * columns + 1, columns)), shape=product.shape)


@dataclass
class ReLU:
    size: int


@dataclass
class MaxPool:
    """Output k is the max of the input values at windows[k] (non-overlapping windows)."""

    windows: np.ndarray  # (out, window size) input indices


def _check(layer):
    kind = type(layer).__name__
    if kind not in SUPPORTED:
        raise KerasllError(f"cannot bound layer {layer.name!r} ({kind}): bound propagation supports "
                           f"{', '.join(SUPPORTED)} with ReLU activations")
    name = activation_name(layer)
    if kind == "Activation" and name not in ("relu", "linear", "softmax"):
        raise KerasllError(f"cannot bound layer {layer.name!r}: activation {name!r}; supported: relu, linear")
    if kind in ("Dense", "Conv1D", "Conv2D") and name not in ("relu", "linear", "softmax"):
        raise KerasllError(f"cannot bound layer {layer.name!r}: activation {name!r}; supported: relu, linear")
    if kind == "MaxPooling2D" and (tuple(layer.strides) != tuple(layer.pool_size) or layer.padding != "valid"):
        raise KerasllError(f"cannot bound layer {layer.name!r}: max-pooling with overlapping windows or 'same' "
                           "padding; supported: strides equal to pool_size, 'valid' padding")


def _flat(model):
    """The model's layers in order, nested models (a Sequential inside a Functional, a defense's classifier)
    opened up."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat(getattr(layer, "classifier", layer))
        else:
            yield layer


def chain_layers(model):
    """The model's layers in order, checked to form a single chain (no branches, no residual Add)."""
    layers = list(_flat(model))
    for layer in layers:
        _check(layer)
        inbound = getattr(layer, "_inbound_nodes", [])
        if any(len(node.input_tensors) > 1 for node in inbound):
            raise KerasllError(f"cannot bound layer {layer.name!r}: it merges several inputs (a branch or residual "
                               "Add); bound propagation supports a chain of layers")
    return layers


def _affine_of(layer, in_shape):
    """The explicit (W, b) of an affine layer at input shape `in_shape` (no batch axis)."""
    import keras

    n_in = int(np.prod(in_shape))
    saved = getattr(layer, "activation", None)
    if saved is not None:
        layer.activation = keras.activations.linear  # the pre-activation map
    try:
        zero = keras.ops.convert_to_numpy(layer(np.zeros((1, *in_shape), np.float32), training=False))
        basis = np.eye(n_in, dtype=np.float32).reshape(n_in, *in_shape)
        outs = np.concatenate([keras.ops.convert_to_numpy(layer(basis[i:i + 512], training=False))
                               for i in range(0, n_in, 512)])
    finally:
        if saved is not None:
            layer.activation = saved
    out_shape = zero.shape[1:]
    weight = (outs.reshape(n_in, -1).astype(np.float64) - zero.reshape(1, -1)).T
    return Affine(weight, zero.reshape(-1).astype(np.float64)), out_shape


def _pool_windows(layer, in_shape):
    height, width, channels = in_shape
    ph, pw = layer.pool_size
    index = np.arange(height * width * channels).reshape(in_shape)
    oh, ow = height // ph, width // pw
    blocks = index[:oh * ph, :ow * pw].reshape(oh, ph, ow, pw, channels).transpose(0, 2, 4, 1, 3)
    return MaxPool(blocks.reshape(oh * ow * channels, ph * pw)), (oh, ow, channels)


def chain(model):
    """The model as a list of `Affine`, `ReLU` and `MaxPool` steps, consecutive affine maps merged; the last
    step is the affine map to the logits. Also returns the input shape (no batch axis)."""
    model = getattr(model, "classifier", model)  # a defense (kerasll.defenses): its classifier
    layers = chain_layers(model)
    in_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    shape, steps = in_shape, []
    for layer in layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if kind == "MaxPooling2D":
            pool, shape = _pool_windows(layer, shape)
            steps.append(pool)
            continue
        if kind in AFFINE:
            affine, shape = _affine_of(layer, shape)
            steps.append(affine)
        if activation_name(layer) == "relu" or kind == "ReLU":
            steps.append(ReLU(int(np.prod(shape))))
    return _merged(steps), in_shape


def _merged(steps):
    out = []
    for step in steps:
        if isinstance(step, Affine) and out and isinstance(out[-1], Affine):
            last = out.pop()
            step = Affine(step.weight @ last.weight, step.weight @ last.bias + step.bias)
        out.append(step)
    if not out or not isinstance(out[-1], Affine):
        raise KerasllError("bound propagation needs logits from an affine last layer (Dense), got a "
                           f"{type(out[-1]).__name__ if out else 'empty'} step")
    return out


def relu_count(steps):
    """How many ReLUs the chain has (what an exact MILP would branch on)."""
    return sum(s.size for s in steps if isinstance(s, ReLU))
