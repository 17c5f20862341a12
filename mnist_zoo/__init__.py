"""mnist_zoo: a Keras 3 model zoo for MNIST with one data pipeline, one runner and honest numbers."""

from mnist_zoo.data import load_mnist, split_validation
from mnist_zoo.data.pipeline import Augmentation, make_dataset
from mnist_zoo.errors import ConfigError, DataError, ZooError
from mnist_zoo.models import ModelCard, build, count_flops, list_models, model_card, register_model

__version__ = "0.1.0"

__all__ = [
    "Augmentation",
    "ConfigError",
    "DataError",
    "ModelCard",
    "ZooError",
    "build",
    "count_flops",
    "list_models",
    "load_mnist",
    "make_dataset",
    "model_card",
    "register_model",
    "split_validation",
]
