"""Timing for the benchmark scripts: compiled Keras train steps, a model's raw forward and input-gradient
passes, and the median of any call.

Ratios between steps are what the benchmarks report, so the steps are timed in
interleaved rounds (`interleaved_medians`): every round times every step once,
in turn, and a slow drift of the machine hits all of them alike. TensorFlow is
imported only by the functions that compile something, so `median_seconds` also
serves a process on another backend (the reference codes' children).
"""

import statistics
import time


def median_seconds(fn, repeats=5):
    """Median seconds of `fn()` over `repeats` calls, after one untimed call (tracing, warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_passes(model):
    """(forward, input_gradient): `model`'s compiled forward pass and its compiled ∇x logsumexp f(x) on a batch,
    written with the running Keras backend's own tools (`tf.function`; `jax.jit` over `stateless_call`;
    PyTorch eager under `no_grad`/`autograd`), each returning a NumPy array — the floor kerasll's own
    throughput is compared with."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        weights = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
        call = lambda x: model.stateless_call(*weights, x, training=False)[0]  # noqa: E731
        forward = jax.jit(call)
        gradient = jax.jit(jax.grad(lambda x: jax.nn.logsumexp(call(x), -1).sum()))
    elif backend == "torch":
        import torch

        def forward(x):
            with torch.no_grad():
                return model(x, training=False)

        def gradient(x):
            x = torch.as_tensor(x).detach().requires_grad_(True)
            return torch.autograd.grad(torch.logsumexp(model(x, training=False), -1).sum(), x)[0]
    else:
        import tensorflow as tf

        forward = tf.function(lambda x: model(x, training=False))

        @tf.function
        def gradient(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = tf.reduce_logsumexp(model(x, training=False), -1)
            return tape.gradient(out, x)

    numpy = keras.ops.convert_to_numpy
    return (lambda x: numpy(forward(keras.ops.convert_to_tensor(x)))), \
        (lambda x: numpy(gradient(keras.ops.convert_to_tensor(x))))


def train_step_timer(model, x, y, steps=20, warmup=3):
    """A function returning seconds per compiled train step of `model` on one fixed batch, over `steps` steps.

    The model is compiled with SGD and sparse cross-entropy if it is not yet;
    the step is traced and warmed up here, before the first timing.
    """
    import keras
    import tensorflow as tf

    if not model.compiled:
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    batch = (tf.constant(x), tf.constant(y))
    model.make_train_function()
    for _ in range(warmup):
        model.train_function(iter([batch]))

    def timer():
        start = time.perf_counter()
        for _ in range(steps):
            model.train_function(iter([batch]))
        return (time.perf_counter() - start) / steps

    return timer


def interleaved_medians(timers, repeats=5):
    """{name: median over `repeats` rounds of timers[name]()}, each round running every timer in turn."""
    samples = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            samples[name].append(timer())
    return {name: statistics.median(values) for name, values in samples.items()}


def time_train_step(model, x, y, steps=20, repeats=5, warmup=3):
    """Median seconds per compiled train step of `model` on one fixed batch (x, y)."""
    return interleaved_medians({"step": train_step_timer(model, x, y, steps, warmup)}, repeats)["step"]


def random_batch(arch, batch_size, seed=0):
    """A fixed random batch shaped for `arch`'s usual data set: (data set name, images, labels).

    LeNet gets Fashion-MNIST's 28×28×1, the other architectures CIFAR-10's 32×32×3.
    """
    import numpy as np

    from kerasll.datasets import dataset_info

    dataset = "fashion_mnist" if arch == "lenet" else "cifar10"
    info = dataset_info(dataset)
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(batch_size, *info.input_shape)).astype(np.float32)
    return dataset, x, rng.integers(0, info.num_classes, batch_size)
