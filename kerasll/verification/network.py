"""A Keras classifier as the chain that bound propagation walks: affine maps, ReLUs and max-pools.

Every layer whose inference-mode map is affine (Dense and Conv2D before their activation, Normalization,
Rescaling, BatchNormalization, average pooling, Flatten, Reshape, Dropout, and the merges Add, Subtract,
Average, Concatenate) becomes an explicit matrix read off the layer itself: the layer applied to the basis
images of its input, minus its output at zero (exact: each entry is one weight times 1.0). ReLU (as a layer or
inside Dense/Conv2D) and non-overlapping max-pooling are the nonlinear steps. Anything else is refused before
any work, naming the layer. A final softmax is dropped: a margin of the logits is positive exactly where the
probabilities' is, so the logits are what is verified (as `kerasll eval` attacks them).

A network with branches (a residual block's skip) is walked in the graph's order with every tensor still
needed later kept in the state: each affine step copies the kept tensors and appends its output, a ReLU acts
on its own tensor's coordinates (`ReLU.mask`) and lets the others through. Consecutive affine maps are
multiplied into one, so a chain (a LeNet) gives the same steps as layer by layer.
"""

import functools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from kerasll.errors import KerasllError
from kerasll.logits import activation_name

AFFINE = ("Dense", "Conv1D", "Conv2D", "Normalization", "Rescaling", "BatchNormalization", "AveragePooling2D",
          "Flatten", "Reshape", "Dropout", "InputLayer")
MERGE = ("Add", "Subtract", "Average", "Concatenate")  # affine maps of several inputs
MAX_ENTRIES = 50_000_000  # the largest explicit map (400 MB of float64) bound propagation builds; a larger one is refused
SPARSE_BELOW = 0.25  # an affine step's matrix is multiplied as a sparse one below this share of nonzeros
SUPPORTED = AFFINE + MERGE + ("ReLU", "Activation", "MaxPooling2D")


@dataclass
class Affine:
    """x ↦ W x + b on flattened (C-order) values; W is (out, in) float64."""

    weight: np.ndarray
    bias: np.ndarray

    @functools.cached_property
    def _sparse(self):
        """W as a sparse matrix where it is mostly zeros (a convolution's), else None."""
        from scipy import sparse

        return sparse.csr_matrix(self.weight) if np.mean(self.weight != 0) < SPARSE_BELOW else None

    @functools.cached_property
    def _absolute(self):
        """|W|, sparse where W is."""
        return abs(self._sparse) if self._sparse is not None else np.abs(self.weight)

    def rows(self, which):
        """W's rows `which` as a sparse matrix (CROWN's starting coefficients)."""
        from scipy import sparse

        return (self._sparse if self._sparse is not None else sparse.csr_matrix(self.weight))[which]

    def interval(self, centre, radius):
        """(W c + b, |W| r) for (B, in) centres and radii: IBP's map, sparse where W is."""
        if self._sparse is not None:
            return (self._sparse @ centre.T).T + self.bias, (self._absolute @ radius.T).T
        return centre @ self.weight.T + self.bias, radius @ self._absolute.T

    def times(self, coef):
        """coef @ W for a sparse (rows, out) `coef`, sparse again."""
        from scipy import sparse

        if self._sparse is not None:
            return coef @ self._sparse
        product = np.ascontiguousarray(coef @ self.weight)  # dense: stored whole (zeros go at the next ReLU)
        rows, columns = product.shape
        return sparse.csr_matrix((product.ravel(), np.tile(np.arange(columns), rows),
                                  np.arange(0, rows * columns + 1, columns)), shape=product.shape)


@dataclass
class ReLU:
    """max(x, 0) on the coordinates where `mask` is True (all where None); the others pass through."""

    size: int
    mask: np.ndarray = None

    @property
    def on(self):
        return np.ones(self.size, bool) if self.mask is None else self.mask


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


def check_entries(layer, n_in, n_out):
    """Refuse, in one line, an explicit map of more than `MAX_ENTRIES` entries (a large network: use attacks)."""
    if n_in * n_out > MAX_ENTRIES:
        where = f"layer {layer.name!r}" if layer is not None else "a residual branch's state"
        raise KerasllError(f"cannot bound this network: {where} maps {n_in:,} values to {n_out:,}, an explicit "
                           f"map of {n_in * n_out:,} entries (kerasll's verifiers build up to {MAX_ENTRIES:,}); "
                           "verify a smaller network")


def _pool_windows(layer, in_shape):
    height, width, channels = in_shape
    ph, pw = layer.pool_size
    index = np.arange(height * width * channels).reshape(in_shape)
    oh, ow = height // ph, width // pw
    blocks = index[:oh * ph, :ow * pw].reshape(oh, ph, ow, pw, channels).transpose(0, 2, 4, 1, 3)
    return MaxPool(blocks.reshape(oh * ow * channels, ph * pw)), (oh, ow, channels)


def _graph(model, input_keys=None):
    """`model`'s layers in the graph's order as (layer, input keys, output key), nested models (a Sequential
    inside a Functional, a defense's classifier) opened; a key names a tensor. Returns them and the output's key."""
    import keras

    model = getattr(model, "classifier", model)
    graph = getattr(model, "_functional", None) or model  # a Sequential keeps its graph as a Functional
    if isinstance(graph, keras.Sequential) or not hasattr(graph, "outputs") or len(graph.outputs) != 1:
        raise KerasllError(f"cannot bound model {model.name!r}: bound propagation needs a built model with one "
                           "input and one output (a Sequential built with keras.Input, or a Functional model)")
    keys = {id(t): (input_keys[i] if input_keys else id(t)) for i, t in enumerate(graph.inputs)}
    nodes = []

    def visit(tensor):
        if id(tensor) not in keys:
            layer, index, _ = tensor._keras_history
            inputs = [visit(t) for t in layer._inbound_nodes[index].input_tensors]
            if isinstance(layer, keras.Model):
                inner, keys[id(tensor)] = _graph(layer, inputs)
                nodes.extend(inner)
            else:
                nodes.append((layer, inputs, id(tensor)))
                keys[id(tensor)] = id(tensor)
        return keys[id(tensor)]

    return nodes, visit(graph.outputs[0])


def _maps_of(layer, in_shapes):
    """The explicit maps of a layer (its pre-activation map) with inputs of shapes `in_shapes` (no batch axis):
    one (out, in) float64 matrix per input, read off as the layer applied to the basis images of that input (the
    others zero) minus its output at zero; the bias (its output at zero) and the output's shape."""
    import keras

    kind = type(layer).__name__
    if kind in ("ReLU", "Activation"):  # its affine part is the identity (the ReLU, if any, comes after)
        size = int(np.prod(in_shapes[0]))
        return [np.eye(size)], np.zeros(size), in_shapes[0]

    def apply(inputs):
        out = layer(inputs if kind in MERGE else inputs[0], training=False)
        return keras.ops.convert_to_numpy(out).astype(np.float64)

    zeros = lambda n: [np.zeros((n, *shape), np.float32) for shape in in_shapes]  # noqa: E731
    saved = getattr(layer, "activation", None)
    if saved is not None:
        layer.activation = keras.activations.linear  # the pre-activation map
    try:
        zero = apply(zeros(1))
        check_entries(layer, sum(int(np.prod(shape)) for shape in in_shapes), zero.size)
        weights = []
        for k, shape in enumerate(in_shapes):
            n_in = int(np.prod(shape))
            basis = np.eye(n_in, dtype=np.float32).reshape(n_in, *shape)
            outs = []
            for i in range(0, n_in, 512):  # the basis images in batches
                inputs = zeros(len(basis[i:i + 512]))
                inputs[k] = basis[i:i + 512]
                outs.append(apply(inputs))
            weights.append((np.concatenate(outs).reshape(n_in, -1) - zero.reshape(1, -1)).T)
    finally:
        if saved is not None:
            layer.activation = saved
    return weights, zero.reshape(-1), zero.shape[1:]


def chain(model):
    """The model as a list of `Affine`, `ReLU` and `MaxPool` steps, consecutive affine maps merged; the last
    step is the affine map to the logits. Also returns the input shape (no batch axis)."""
    model = getattr(model, "classifier", model)  # a defense (kerasll.defenses): its classifier
    nodes, output = _graph(model)
    for layer, _, _ in nodes:
        _check(layer)
    in_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    uses = Counter(key for _, inputs, _ in nodes for key in inputs)
    uses[output] += 1
    graph = getattr(model, "_functional", None) or model
    live, steps = [(id(graph.inputs[0]), in_shape)], []  # the state: (key, shape) of each tensor kept
    for layer, inputs, out in nodes:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        for key in inputs:
            uses[key] -= 1
        kept = [(key, shape) for key, shape in live if uses[key] > 0]
        shapes = dict(live)
        if kind == "MaxPooling2D":
            if kept:
                raise KerasllError(f"cannot bound layer {layer.name!r}: max-pooling inside a residual branch "
                                   "(another tensor is still needed after it); supported: pooling on the main path")
            pool, shape = _pool_windows(layer, shapes[inputs[0]])
            steps.append(pool)
            live = [(out, shape)]
            continue
        weights, bias, out_shape = _maps_of(layer, [shapes[key] for key in inputs])
        steps.append(_state_map(live, kept, inputs, weights, bias))
        live = kept + [(out, tuple(int(d) for d in out_shape))]
        if activation_name(layer) == "relu" or kind == "ReLU":
            sizes = [int(np.prod(shape)) for _, shape in live]
            mask = np.zeros(sum(sizes), bool)
            mask[-sizes[-1]:] = True
            steps.append(ReLU(len(mask), None if mask.all() else mask))
    return _merged(steps), in_shape


def _state_map(live, kept, inputs, weights, bias):
    """The affine step on the whole state: the kept tensors copied, then the layer's output from its inputs."""
    offsets, start = {}, 0
    for key, shape in live:
        offsets[key] = (start, start + int(np.prod(shape)))
        start = offsets[key][1]
    kept_size = sum(int(np.prod(shape)) for _, shape in kept)
    check_entries(None, start, kept_size + len(bias))
    matrix = np.zeros((kept_size + len(bias), start))
    row = 0
    for key, shape in kept:
        first, last = offsets[key]
        matrix[row + np.arange(last - first), np.arange(first, last)] = 1.0
        row += last - first
    for key, weight in zip(inputs, weights):
        first, last = offsets[key]
        matrix[kept_size:, first:last] += weight
    return Affine(matrix, np.concatenate([np.zeros(kept_size), bias]))


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
    return sum(int(s.on.sum()) for s in steps if isinstance(s, ReLU))
