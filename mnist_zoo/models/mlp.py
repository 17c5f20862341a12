"""Fully-connected entries: logistic regression and the MLPs of reference systems S0-S3."""

from __future__ import annotations

import keras

from mnist_zoo.models.layers import dense_stack, images_input, logits, pixel_normalization
from mnist_zoo.models.registry import register_model


def _mlp(
    name: str,
    hidden: tuple[int, ...],
    *,
    activation: str,
    batch_norm: bool,
    dropout: float,
    initializer: str,
    l2: float,
    normalization_mode: str,
) -> keras.Model:
    return keras.Sequential(
        [
            images_input(),
            pixel_normalization(normalization_mode),
            keras.layers.Flatten(name="flatten"),
            *dense_stack(
                hidden,
                activation=activation,
                batch_norm=batch_norm,
                dropout=dropout,
                kernel_initializer=initializer,
                l2=l2,
            ),
            logits(kernel_initializer=initializer, l2=l2),
        ],
        name=name,
    )


@register_model(reference="softmax regression baseline (no hidden layer)")
def logistic(*, l2: float = 0.0, normalization: str = "unit") -> keras.Model:
    """Softmax regression: 784 -> 10, the linear baseline."""
    return _mlp(
        "logistic", (), activation="linear", batch_norm=False, dropout=0.0,
        initializer="glorot_uniform", l2=l2, normalization_mode=normalization,
    )


@register_model(reference="S0 (256 ReLU, NumPy BP net) and S3 (128 sigmoid) via options")
def mlp_shallow(
    *,
    hidden: int = 256,
    activation: str = "relu",
    dropout: float = 0.0,
    initializer: str = "he_normal",
    l2: float = 0.0,
    normalization: str = "centered",
) -> keras.Model:
    """One hidden layer: 784 -> 256 ReLU -> 10 (S0); 128 sigmoid with normalization='s3' is S3."""
    return _mlp(
        "mlp_shallow", (hidden,), activation=activation, batch_norm=False, dropout=dropout,
        initializer=initializer, l2=l2, normalization_mode=normalization,
    )


@register_model(reference="S2 (784-100-30-10 sigmoid, PyTorch fully-connected net)")
def mlp_sigmoid(
    *,
    hidden: tuple[int, ...] = (100, 30),
    dropout: float = 0.0,
    initializer: str = "glorot_uniform",
    l2: float = 0.0,
    normalization: str = "centered",
) -> keras.Model:
    """Two sigmoid hidden layers: 784 -> 100 -> 30 -> 10, as reference S2."""
    return _mlp(
        "mlp_sigmoid", hidden, activation="sigmoid", batch_norm=False, dropout=dropout,
        initializer=initializer, l2=l2, normalization_mode=normalization,
    )


@register_model(reference="S1 (784-256-64-10 ReLU, PyTorch three-layer MLP)")
def mlp_relu(
    *,
    hidden: tuple[int, ...] = (256, 64),
    dropout: float = 0.0,
    initializer: str = "he_normal",
    l2: float = 0.0,
    normalization: str = "standardize",
) -> keras.Model:
    """Two ReLU hidden layers: 784 -> 256 -> 64 -> 10, as reference S1."""
    return _mlp(
        "mlp_relu", hidden, activation="relu", batch_norm=False, dropout=dropout,
        initializer=initializer, l2=l2, normalization_mode=normalization,
    )


@register_model(reference="S2 improved (BatchNorm after each hidden Dense layer)")
def mlp_bn(
    *,
    hidden: tuple[int, ...] = (512, 512),
    activation: str = "relu",
    dropout: float = 0.0,
    initializer: str = "he_normal",
    l2: float = 0.0,
    normalization: str = "centered",
) -> keras.Model:
    """Two hidden Dense layers, each followed by BatchNormalization: 784 -> 512 -> 512 -> 10."""
    return _mlp(
        "mlp_bn", hidden, activation=activation, batch_norm=True, dropout=dropout,
        initializer=initializer, l2=l2, normalization_mode=normalization,
    )
