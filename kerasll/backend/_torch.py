"""kerasll's backend operations on PyTorch (`kerasll.backend`)."""

import torch


WORD = "int64"  # the keyed draws' hash words (`kerasll.attacks.noise`)
WIDE = "float64"  # their widest float


def value_and_input_grad(fn, has_aux=False):
    def run(x, *args):
        x = torch.as_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(x, *args)
            values = out[0] if has_aux else out
            (g,) = torch.autograd.grad(values.sum(), x, allow_unused=True)
        g = torch.zeros_like(x) if g is None else g
        detached = tuple(t.detach() for t in out) if has_aux else out.detach()
        return detached, g
    return run


def input_jacobian(fn):
    def run(x):
        x = torch.as_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            out = fn(x)
            rows = [torch.autograd.grad(out[:, c].sum(), x, retain_graph=True, allow_unused=True)[0]
                    for c in range(out.shape[-1])]
        rows = [torch.zeros_like(x) if g is None else g for g in rows]
        return out.detach(), torch.stack(rows, dim=1)
    return run


def compiled(fn):
    return fn  # eager: torch.compile costs more than it gains on kerasll's small, varied batches


def model_function(model_ref, fn, signature=None):
    def run(*args):
        with torch.no_grad():
            return fn(lambda x: model_ref()(x, training=False), *args)
    return run


def block_normal(seed, stream, block, shape, dtype):
    device = "cuda" if torch.cuda.is_available() else "cpu"  # where Keras's torch backend puts tensors
    generator = torch.Generator(device=device)
    generator.manual_seed(((int(seed) * 1_000_003 + int(stream)) * 1_000_033 + int(block)) % (1 << 63))
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=getattr(torch, dtype))


def has_gpu():
    return torch.cuda.is_available()


def spec(shape, dtype):
    return None  # compiled functions take any shape here


def signature_key(signature):
    return None


def cross_entropy(labels, logits):
    if labels.dim() == 2:
        return -(labels * torch.log_softmax(logits, dim=-1)).sum(-1)
    return torch.nn.functional.cross_entropy(logits, labels.long(), reduction="none")
