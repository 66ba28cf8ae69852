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


def vjp(fn, x):
    x = torch.as_tensor(x)
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)

    def pull(cotangent):  # differentiable (create_graph): double backprop in a training step
        with torch.enable_grad():
            (g,) = torch.autograd.grad(out, x, grad_outputs=cotangent, create_graph=True, retain_graph=True,
                                       allow_unused=True)
        return torch.zeros_like(x) if g is None else g
    return out, pull


def jvp(fn, x, tangent):
    """J·u by the double-vjp trick: Jᵀc is linear in c, so ∂(u·Jᵀc)/∂c = J·u, differentiable again."""
    out, pull = vjp(fn, x)
    with torch.enable_grad():
        c = torch.zeros_like(out, requires_grad=True)
        (ju,) = torch.autograd.grad((pull(c) * tangent).sum(), c, create_graph=True)
    return out, ju


def train_step(model, data):
    """A defense's training step (`DefenseModel`), Keras's PyTorch pattern: the examples drawn at the step's
    weights and detached, then `backward()` on the loss and the optimizer applied to the weights' `.grad`."""
    import keras

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    seed = model.draw_seed(model.optimizer.iterations, 0)
    examples = model.examples(model.classifier, torch.as_tensor(x), y, seed, model.optimizer.iterations)
    batch = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in examples.items()}
    model.zero_grad()
    objective = model.objective(lambda z: model(z, training=True), batch, y, seed)
    supervised = model.compute_loss(x=objective.x, y=y, y_pred=objective.y_pred, sample_weight=sample_weight,
                                    training=True)
    loss = model.total_loss(supervised, objective.penalty)
    model.track(loss.detach(), objective, objective.x.shape[0])
    model.optimizer.scale_loss(loss).backward()
    weights = model.trainable_weights[:]
    with torch.no_grad():
        model.optimizer.apply([v.value.grad for v in weights], weights)
    return model.compute_metrics(objective.x, y, objective.y_pred, sample_weight=sample_weight)


def replica_id():
    return 0


def top_k_within(x, k, most):
    values, indices = torch.topk(x, int(k))
    return values, indices.to(torch.int32)
