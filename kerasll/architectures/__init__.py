"""Classifier architectures: LeNet, DDNet, ResNet18, each with normalisation inside.

The builders import Keras when called, so listing them (the CLI's help) imports no TensorFlow."""

from kerasll.architectures import ddnet, lenet, mlp, resnet  # noqa: F401  (registers them)
from kerasll.architectures.registry import build_model, list_models, register_model

__all__ = ["build_model", "list_models", "register_model"]
