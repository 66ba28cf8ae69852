"""kerasll's backend operations on PyTorch (`kerasll.backend`)."""

import torch


WORD = "int64"  # the keyed draws' hash words (`kerasll.attacks.noise`)
WIDE = "float64"  # their widest float


def value_and_input_grad(fn):
    def run(x, *args):
        x = torch.as_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            values = fn(x, *args)
            (g,) = torch.autograd.grad(values.sum(), x)
        return values.detach(), g
    return run


def compiled(fn):
    return fn  # eager: torch.compile costs more than it gains on kerasll's small, varied batches


def model_function(model_ref, fn):
    def run(*args):
        with torch.no_grad():
            return fn(lambda x: model_ref()(x, training=False), *args)
    return run
