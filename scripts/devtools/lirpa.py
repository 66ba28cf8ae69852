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
