"""`kerasll train`: train a defended model into the zoo (resumable)."""

from typing import Annotated, Optional

import typer

from kerasll.architectures import list_models
from kerasll.cli.common import (
    DataDirOption, SourceOption, ZooOption, console, generated_help, open_zoo,
)
from kerasll.datasets import list_datasets
from kerasll.defenses import defenses_help


@generated_help("train", "arch")
def arch_help():
    return "Architecture: " + ", ".join(list_models()) + " (default: lenet)"


@generated_help("train", "dataset")
def dataset_help():
    return "Data set: " + ", ".join(list_datasets()) + " (default: fashion_mnist)"


@generated_help("train", "defense")
def defense_help():
    return "Defense: " + defenses_help() + " (default: none)"


def train(
    arch: Annotated[Optional[str], typer.Option(help=arch_help())] = None,
    dataset: Annotated[Optional[str], typer.Option(help=dataset_help())] = None,
    defense: Annotated[Optional[str], typer.Option(help=defense_help())] = None,
    strength: Annotated[Optional[str], typer.Option(help="λ for jacreg and amsreg / μ for adflat (default: the paper's: 0.01/0.5 Fashion-MNIST, 0.05/1.0 CIFAR-10; adflat on Fashion-MNIST 16 gradient / 256 difference / 256 at-difference, chosen on a validation split; see docs/results.md).")] = None,
    eps: Annotated[Optional[str], typer.Option(help="Radius of at, fastat and adflat, pixel units or a fraction like 10/255 (default: 10/255 Fashion-MNIST, 3/255 CIFAR-10).")] = None,
    step_size: Annotated[Optional[str], typer.Option(help="AT PGD step (default: 2.5·eps/steps); FGSM step of fastat and adflat, in (0, 1] (default: 1.25·eps).")] = None,
    attack_steps: Annotated[Optional[int], typer.Option(help="AT PGD steps per batch (default: 10).")] = None,
    projections: Annotated[Optional[int], typer.Option(help="Random projections per step (jacreg, amsreg) (default: 1).")] = None,
    projection: Annotated[Optional[str], typer.Option(help="Jacobian projections (jacreg, amsreg): vjp (random output vectors, reverse mode) or jvp (random input tangents, forward mode) (default: vjp).")] = None,
    estimator: Annotated[Optional[str], typer.Option(help="AMSReg estimator: bound (paper) or exact (‖∇x log p‖²) (default: bound).")] = None,
    variant: Annotated[Optional[str], typer.Option(help="adflat penalty: gradient (‖∇x log p̃(x′)‖² at the FGSM point x′), difference ((log p̃(x′) − log p̃(x))²) or at-difference (the difference penalty with the cross-entropy at x′, as fast AT) (default: gradient).")] = None,
    sigma: Annotated[Optional[str], typer.Option(help="gaussian: the training noise's standard deviation in pixel units (default: 0.25); certify with the same σ.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: 200, the paper's). LR ÷10 after 50% and 75%.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size (default: 128).")] = None,
    lr: Annotated[Optional[str], typer.Option(help="Base learning rate, SGD momentum 0.9 (default: 0.01 LeNet/DDNet, 0.1 ResNet18).")] = None,
    warmup_epochs: Annotated[Optional[float], typer.Option(help="Linear LR warm-up over this many epochs before the step schedule (default: 5 ResNet18, 0 LeNet/DDNet).")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay (default: 5e-4).")] = None,
    weight_decay_mode: Annotated[Optional[str], typer.Option(help="coupled: added to the gradient before momentum, on every variable, as in the papers; decoupled: Keras's SGD(weight_decay=…) (default: coupled).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (default: 0).")] = None,
    train_limit: Annotated[Optional[int], typer.Option(help="Train on the first N images only (quick runs).")] = None,
    strategy: Annotated[str, typer.Option(help="auto (mirrored over all GPUs when there are several), one (one device), mirrored (all GPUs, or all logical CPUs; KERASLL_CPU_DEVICES=N makes N) or multiworker (the cluster in TF_CONFIG; run the same command on every worker, the chief writes the entry). --batch-size is the global batch.")] = "auto",
    mixed_precision: Annotated[bool, typer.Option("--mixed-precision", help="Train under mixed_float16 (GPU) or mixed_bfloat16 (CPU).")] = False,
    jit_compile: Annotated[bool, typer.Option("--jit-compile", help="Compile the train step with XLA.")] = False,
    tensorboard: Annotated[bool, typer.Option(help="Write TensorBoard logs into the entry's logs/ folder (the CSV history is always written).")] = True,
    force: Annotated[bool, typer.Option("--force", help="Start the entry over if it exists (training under other settings or data is otherwise refused).")] = False,
    name: Annotated[Optional[str], typer.Option(help="Entry name (default: derived from the settings, e.g. fmnist-lenet-amsreg-0.5-e200-s0).")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Start from a named recipe in zoo/recipes.toml (see `kerasll zoo recipes`); options override its fields.")] = None,
    data_dir: DataDirOption = None,
    source: SourceOption = "auto",
    zoo: ZooOption = None,
):
    """Train a model with a defense into the zoo; re-run the same command to resume.

    The entry is written when training starts (status [italic]training[/]), updated
    after every epoch, and marked [italic]complete[/] at the end. After Ctrl-C, a
    kill or a power loss, the same command continues from the last finished epoch
    with the optimizer state and LR schedule restored.

    Examples:

      kerasll train --defense amsreg --strength 0.5 --epochs 10

      kerasll train --recipe fmnist-lenet-at --epochs 10

      kerasll train --defense adflat --variant difference --epochs 10

      kerasll train --arch resnet18 --dataset cifar10 --defense at --eps 8/255 --data-dir ~/data
    """
    from kerasll.zoo.config import config_from
    from kerasll.zoo.recipes import get_recipe

    fields = get_recipe(recipe) if recipe else {}
    overrides = dict(arch=arch, dataset=dataset, defense=defense, strength=strength, eps=eps, step_size=step_size,
                     attack_steps=attack_steps, projections=projections, projection=projection, estimator=estimator, variant=variant, sigma=sigma,
                     epochs=epochs, batch_size=batch_size, lr=lr, warmup_epochs=warmup_epochs, weight_decay=weight_decay,
                     weight_decay_mode=weight_decay_mode, seed=seed, train_limit=train_limit)
    config = config_from(fields, overrides).check_names()  # before TensorFlow starts
    from kerasll.cli.training_progress import TrainingProgress
    from kerasll.distribution.strategies import chief_from_env
    from kerasll.zoo.training import train_entry

    config = config.resolved()
    entry = train_entry(open_zoo(zoo), config, name=name, recipe=recipe, data_dir=data_dir, source=source,
                        callbacks=[TrainingProgress()], log=console.print, tensorboard=tensorboard,
                        strategy=strategy, mixed_precision=mixed_precision, jit_compile=jit_compile, force=force)
    if strategy == "multiworker" and not chief_from_env():
        console.print(f"this worker is done; the chief writes entry [bold]{entry.name}[/]: {entry.path}")
        return
    console.print(f"entry [bold]{entry.name}[/] is {entry.metadata()['status']}: {entry.path}")
    if entry.logs_dir.is_dir():
        console.print(f"training logs: {entry.logs_dir / 'history.csv'}")
        if any(entry.logs_dir.glob("*/events.out.tfevents.*")):
            console.print(f"view them with: tensorboard --logdir {entry.logs_dir}")
