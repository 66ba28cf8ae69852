"""`kerasll demo`: train a small defended model offline and attack it."""

from typing import Annotated

import typer
from rich.console import Console

console = Console()


def demo(
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 5,
    strength: Annotated[float, typer.Option(min=0.0, help="AMSReg strength λ.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
):
    """Train LeNet with AMSReg on the embedded Fashion-MNIST subset; print clean and PGD accuracy.

    Runs offline in about half a minute on a laptop CPU. PGD uses the paper's
    Fashion-MNIST preset: L∞ ε = 25/255, 10 steps of 6.25/255, random start.
    TensorFlow's CPU kernels are pinned (oneDNN, AVX2 code, 2 threads), so the
    numbers are the README's on x86-64 CPUs with AVX2 or AVX-512 (kerasll.numerics).

    Example: kerasll demo --epochs 5
    """
    from kerasll.numerics import describe, pin_cpu_numerics

    pinned = pin_cpu_numerics()  # before TensorFlow starts
    import keras

    import kerasll as kl
    from kerasll.evaluation import accuracy, attack_settings, robust_accuracy

    keras.utils.set_random_seed(seed)
    x, y = kl.load_dataset("fashion_mnist", "train", source="embedded")
    xt, yt = kl.load_dataset("fashion_mnist", "test", source="embedded")
    console.print(f"[bold]kerasll demo[/]: LeNet + AMSReg λ={strength:g} on the embedded Fashion-MNIST subset "
                  f"({len(x)} train / {len(xt)} test images), {epochs} epochs, seed {seed}")
    console.print(describe(pinned))
    model = kl.AMSRegModel(kl.build_model("lenet", dataset="fashion_mnist"), strength=strength, seed=seed)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=epochs, validation_data=(xt, yt), verbose=2)
    settings = attack_settings("fashion_mnist", seed=seed)
    clean = accuracy(model, xt, yt)
    robust = robust_accuracy(model, xt, yt, settings)
    console.print(f"clean accuracy: [bold]{100 * clean:.2f}%[/]")
    console.print(f"PGD accuracy:   [bold]{100 * robust:.2f}%[/]  "
                  f"(L∞ ε=25/255, {settings.steps} steps of 6.25/255, random start)")
