"""The model zoo: registry plus the modules whose builders register themselves on import."""

from mnist_zoo.models import cnn, mlp  # noqa: F401 - importing registers the builders
from mnist_zoo.models.flops import count_flops
from mnist_zoo.models.registry import ModelCard, build, list_models, model_card, register_model

__all__ = ["ModelCard", "build", "count_flops", "list_models", "model_card", "register_model"]
