"""mnist_zoo: a Keras 3 model zoo for MNIST with one data pipeline, one runner and honest numbers.

Names are imported on first use, so `import mnist_zoo` (and the command
line's argument parsing) does not pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# TensorFlow's oneDNN kernels, which it turns on by default only on CPUs with AVX-512 VNNI, bfloat16 or AMX,
# train the convolutional entries much faster on AVX2-only CPUs too (README, Speed). Read when TensorFlow is
# first imported, so it applies when mnist_zoo is imported first; TF_ENABLE_ONEDNN_OPTS=0 still turns them off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

_EXPORTS = {
    "Augmentation": "mnist_zoo.data.pipeline",
    "make_dataset": "mnist_zoo.data.pipeline",
    "load_mnist": "mnist_zoo.data.sources",
    "split_validation": "mnist_zoo.data.sources",
    "ConfigError": "mnist_zoo.errors",
    "DataError": "mnist_zoo.errors",
    "ZooError": "mnist_zoo.errors",
    "ModelCard": "mnist_zoo.models",
    "build": "mnist_zoo.models",
    "count_flops": "mnist_zoo.models",
    "list_models": "mnist_zoo.models",
    "model_card": "mnist_zoo.models",
    "register_model": "mnist_zoo.models",
    "RunConfig": "mnist_zoo.config",
    "load_config": "mnist_zoo.config",
    "Run": "mnist_zoo.training.runner",
    "train": "mnist_zoo.training.runner",
    "evaluate": "mnist_zoo.training.runner",
    "export_saved_model": "mnist_zoo.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mnist_zoo' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
