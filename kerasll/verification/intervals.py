"""Interval bound propagation through a Keras classifier's own layers, in `keras.ops`: differentiable in the
weights on every backend, what certified training (`kerasll.defenses.certified`) trains on. A chain, or a
graph with branches (residual Add, Subtract, Average, Concatenate: `classifier_graph`, `graph_intervals`).

The same bounds as `bounds.ibp_margins` (float64 NumPy on the explicit chain, for verification), computed
layer by layer at the layers' dtype: a Dense or Conv2D maps the centre by the layer and the radius by |W|
(`convolution_op` with |kernel|), an elementwise affine layer (Rescaling, Normalization, BatchNormalization
in inference) maps the radius by |f(r) − f(0)|, a monotone one (ReLU, max- or average-pooling, Flatten,
Reshape, Dropout) maps the interval's ends; the last Dense is folded into the margins (elision).
"""

from keras import ops

from kerasll.errors import KerasllError
from kerasll.logits import activation_name

ELEMENTWISE = ("Rescaling", "Normalization", "BatchNormalization")
MONOTONE = ("Flatten", "Reshape", "Dropout", "MaxPooling2D", "AveragePooling2D", "ReLU")


def classifier_graph(model):
    """The classifier's graph (`network._graph`: (layer, input keys, output key) in order, nested models opened),
    every layer checked (unsupported ones refused by name), the input layers left out, the last node a Dense
    layer giving the output (the logits, folded into the margins). Branches (residual Add, Concatenate) are
    kept: IBP maps each merge's intervals."""
    from kerasll.verification.network import _check, _graph

    classifier = getattr(model, "classifier", model)
    nodes, output = _graph(classifier)
    for layer, _, _ in nodes:
        _check(layer)
    nodes = [node for node in nodes if type(node[0]).__name__ != "InputLayer"]
    if not nodes or type(nodes[-1][0]).__name__ != "Dense" or nodes[-1][2] != output:
        raise KerasllError("interval bounds need a Dense last layer (the logits), got "
                           f"{type(nodes[-1][0]).__name__ if nodes else 'no layer'}")
    graph = getattr(classifier, "_functional", None) or classifier
    return nodes, id(graph.inputs[0])


def _merge(layer, intervals):
    """IBP through a merge of several tensors' intervals: sums and averages add the ends, a difference pairs
    one's lower end with the other's upper, a concatenation joins them."""
    kind = type(layer).__name__
    lowers, uppers = [i[0] for i in intervals], [i[1] for i in intervals]
    if kind == "Concatenate":
        return ops.concatenate(lowers, axis=layer.axis), ops.concatenate(uppers, axis=layer.axis)
    if kind == "Subtract":
        return lowers[0] - uppers[1], uppers[0] - lowers[1]
    lower, upper = sum(lowers[1:], lowers[0]), sum(uppers[1:], uppers[0])
    if kind == "Average":
        return lower / len(lowers), upper / len(uppers)
    return lower, upper


def graph_intervals(nodes, input_key, x, eps):
    """IBP through the graph `nodes` (`classifier_graph`'s, all but the last): {key: interval} of every tensor
    (the input's: the box) and {key: pre-activation interval} of each node ending in a ReLU; each merge maps its
    inputs' intervals (`_merge`), every other layer as `_through`."""
    from kerasll.verification.network import MERGE

    known, pre = {input_key: (ops.clip(x - eps, 0.0, 1.0), ops.clip(x + eps, 0.0, 1.0))}, {}
    for layer, inputs, out in nodes[:-1]:
        if type(layer).__name__ in MERGE:
            known[out] = _merge(layer, [known[key] for key in inputs])
            continue
        known[out], before = _through(layer, *known[inputs[0]])
        if before is not None:
            pre[out] = before
    return known, pre


def _affine(layer, centre, radius):
    kernel = layer.kernel
    if type(layer).__name__ == "Dense":
        centre, radius = ops.matmul(centre, kernel), ops.matmul(radius, ops.abs(kernel))
    else:
        centre, radius = layer.convolution_op(centre, kernel), layer.convolution_op(radius, ops.abs(kernel))
    if layer.use_bias:
        centre = centre + layer.bias
    return centre, radius


def _through(layer, lower, upper):
    """IBP through one layer: the interval of its output, and of its pre-activation where it ends in a ReLU
    (else None)."""
    kind = type(layer).__name__
    if kind in ("Dense", "Conv1D", "Conv2D"):
        centre, radius = _affine(layer, (upper + lower) / 2, (upper - lower) / 2)
        lower, upper = centre - radius, centre + radius
    elif kind in ELEMENTWISE:
        centre = layer((upper + lower) / 2, training=False)
        radius = ops.abs(layer((upper - lower) / 2, training=False) - layer(ops.zeros_like(lower), training=False))
        lower, upper = centre - radius, centre + radius
    elif kind not in ("ReLU", "Activation"):  # monotone: the ends
        lower, upper = layer(lower, training=False), layer(upper, training=False)
    if activation_name(layer) == "relu" or kind == "ReLU":
        return (ops.relu(lower), ops.relu(upper)), (lower, upper)
    return (lower, upper), None


def margin_rows(last, y, num_classes):
    """The margins z_y − z_j as one affine map of the last Dense layer's input: (B, C, n) and (B, C)."""
    spec = ops.one_hot(ops.cast(y, "int32"), num_classes)[:, None, :] - ops.eye(num_classes)[None]  # (B, C, C): e_y − e_j
    weight = ops.einsum("bck,nk->bcn", spec, last.kernel)
    bias = ops.einsum("bck,k->bc", spec, last.bias) if last.use_bias else ops.zeros(ops.shape(spec)[:2])
    return weight, bias


def elided(last, y, num_classes, interval):
    """Lower bounds (B, C) on the margins over the last layer's input `interval`, their rows folded into its
    matrix (elision)."""
    weight, bias = margin_rows(last, y, num_classes)
    lower, upper = interval
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    return ops.einsum("bcn,bn->bc", weight, centre) + bias - ops.einsum("bcn,bn->bc", ops.abs(weight), radius)


def interval_margins(model, x, y, eps, num_classes):
    """IBP lower bounds (B, C) on z_y − z_j over the L∞ ball of radius `eps` ∩ [0, 1] (0 at j = y), through the
    layers of `model` (a classifier, or a defense's: its classifier; a chain or a graph with branches), in
    inference mode."""
    nodes, input_key = classifier_graph(model)
    known, _ = graph_intervals(nodes, input_key, x, eps)
    return elided(nodes[-1][0], y, num_classes, known[nodes[-1][1][0]])
