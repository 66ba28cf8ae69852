"""auto_LiRPA (Verified-Intelligence/auto_LiRPA) beside kerasll's bounds: kerasll's chain of explicit affine maps
and ReLUs built in PyTorch, and auto_LiRPA's IBP and CROWN margins of it (scripts/compare_lirpa.py)."""

import time

import numpy as np


def torch_chain(steps):
    import torch

    from kerasll.verification.network import Affine, ReLU

    layers = []
    for step in steps:
        if isinstance(step, Affine):
            linear = torch.nn.Linear(step.weight.shape[1], step.weight.shape[0]).double()
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(step.weight))
                linear.bias.copy_(torch.from_numpy(step.bias))
            layers.append(linear)
        elif isinstance(step, ReLU):
            layers.append(torch.nn.ReLU())
        else:
            return None  # max-pooling: relaxed differently by the two libraries
    return torch.nn.Sequential(*layers)


def lirpa_margins(net, x, y, eps, classes):
    import torch
    from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm

    flat = torch.from_numpy(x.reshape(len(x), -1).astype(np.float64))
    # kerasll's CROWN bounds every neuron by CROWN and intersects it with IBP from the tightened bounds before
    # it: auto_LiRPA's `compare_crown_with_ibp`, without its default `sparse_intermediate_bounds` (which keeps
    # IBP's bound, not the intersection, for the neurons IBP finds stable in the whole batch).
    bounded = BoundedModule(net, torch.zeros_like(flat[:1]), device="cpu",
                            bound_opts={"compare_crown_with_ibp": True, "sparse_intermediate_bounds": False})
    spec = np.eye(classes)[y][:, None, :] - np.eye(classes)[None]  # (B, C, C): row j is e_y − e_j
    keep = ~np.eye(classes, dtype=bool)[y]
    spec = torch.from_numpy(spec[keep].reshape(len(x), classes - 1, classes))
    box = PerturbationLpNorm(norm=np.inf, x_L=(flat - eps).clamp(0, 1), x_U=(flat + eps).clamp(0, 1))
    out, seconds = {}, {}
    for ours, method in (("ibp", "IBP"), ("crown", "backward")):
        start = time.perf_counter()
        lower, _ = bounded.compute_bounds(x=(BoundedTensor(flat, box),), C=spec, method=method, bound_upper=False)
        seconds[ours] = time.perf_counter() - start
        out[ours] = lower.detach().numpy()
    return out, seconds, keep


def torch_lenet(model):
    """The Keras LeNet (Normalization, conv 6@5×5 'same', pool, conv 16@5×5, pool, dense 120, 84, 10) as a
    PyTorch module on NCHW float32 images with its own layers (Conv2d, MaxPool2d; the normalization a 1×1
    convolution), the weights copied: what
    auto_LiRPA is timed on (float32: its max-pool's backward bound fails in float64). The first dense layer's
    rows are put in NCHW order (Keras flattens NHWC)."""
    import torch

    model = getattr(model, "classifier", model)  # a defense: its classifier
    layers = {layer.name: layer for layer in model.layers}
    norm = layers["normalize"]
    mean = float(np.ravel(norm.mean)[0])
    std = float(np.sqrt(np.ravel(norm.variance)[0]))

    def conv(name, padding):
        kernel, bias = (np.asarray(w, np.float64) for w in layers[name].get_weights())
        out = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[0], padding=padding).double()
        with torch.no_grad():
            out.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            out.bias.copy_(torch.from_numpy(bias))
        return out

    def dense(name, rows=None):
        kernel, bias = (np.asarray(w, np.float64) for w in layers[name].get_weights())
        if rows is not None:
            kernel = kernel[rows]
        out = torch.nn.Linear(kernel.shape[0], kernel.shape[1]).double()
        with torch.no_grad():
            out.weight.copy_(torch.from_numpy(kernel.T.copy()))
            out.bias.copy_(torch.from_numpy(bias))
        return out

    normalize = torch.nn.Conv2d(1, 1, 1)  # (x − mean) / std as a 1×1 convolution (auto_LiRPA bounds it as one)
    with torch.no_grad():
        normalize.weight.fill_(1 / std)
        normalize.bias.fill_(-mean / std)

    nchw = np.arange(5 * 5 * 16).reshape(5, 5, 16).transpose(2, 0, 1).reshape(-1)  # NCHW position → NHWC row
    return torch.nn.Sequential(normalize.double(), conv("conv1", 2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               conv("conv2", 0), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                               dense("fc1", nchw), torch.nn.ReLU(), dense("fc2"), torch.nn.ReLU(),
                               dense("logits")).float()


def lirpa_verified(net, x, y, eps, classes, method, batch=50):
    """auto_LiRPA's lower bounds on the margins of `net` (NCHW) over the box, `method` "IBP" or "backward"
    (CROWN, its default options), in batches: (B, C − 1) bounds and the seconds taken."""
    import torch
    from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm

    images = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
    bounded = BoundedModule(net, torch.zeros_like(images[:1]), device="cpu")
    keep = ~np.eye(classes, dtype=bool)[y]
    spec = np.eye(classes)[y][:, None, :] - np.eye(classes)[None]
    spec = spec[keep].reshape(len(x), classes - 1, classes)
    out, start = [], time.perf_counter()
    for i in range(0, len(x), batch):
        part = images[i:i + batch]
        box = PerturbationLpNorm(norm=np.inf, x_L=(part - eps).clamp(0, 1), x_U=(part + eps).clamp(0, 1))
        lower, _ = bounded.compute_bounds(x=(BoundedTensor(part, box),),
                                          C=torch.from_numpy(spec[i:i + batch].astype(np.float32)),
                                          method=method, bound_upper=False)
        out.append(lower.detach().numpy())
    return np.concatenate(out), time.perf_counter() - start
