"""Timing compiled Keras train steps (used by the benchmark scripts)."""

import statistics
import time

import keras
import tensorflow as tf


def time_train_step(model, x, y, steps=20, repeats=5, warmup=3):
    """Median seconds per compiled train step of `model` on one fixed batch (x, y).

    The model is compiled with SGD and sparse cross-entropy if it is not yet;
    the step is traced and warmed up before timing.
    """
    if not model.compiled:
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    batch = (tf.constant(x), tf.constant(y))
    model.make_train_function()
    for _ in range(warmup):
        model.train_function(iter([batch]))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_function(iter([batch]))
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)
