"""Convolutional entries: the small CNN of reference S4."""

from __future__ import annotations

import keras

from mnist_zoo.models.layers import (
    dense_stack,
    images_input,
    logits,
    make_initializer,
    pixel_normalization,
    regularizer,
)
from mnist_zoo.models.registry import register_model


@register_model(reference="S4 (PyTorch small CNN: conv32-pool-conv64-pool-fc64-fc10)")
def cnn_small(
    *,
    filters: tuple[int, ...] = (32, 64),
    dense: int = 64,
    dropout: float = 0.0,
    initializer: str = "glorot_uniform",
    l2: float = 0.0,
    normalization: str = "unit",
) -> keras.Model:
    """Conv 3x3 + ReLU + max-pool per entry of `filters`, then Dense(64) ReLU and 10 logits."""
    convolutions = []
    for index, width in enumerate(filters, start=1):
        convolutions += [
            keras.layers.Conv2D(
                width, 3, activation="relu", kernel_initializer=make_initializer(initializer),
                kernel_regularizer=regularizer(l2), name=f"conv_{index}",
            ),
            keras.layers.MaxPooling2D(2, name=f"pool_{index}"),
        ]
    return keras.Sequential(
        [
            images_input(),
            pixel_normalization(normalization),
            keras.layers.Reshape((28, 28, 1), name="channels"),
            *convolutions,
            keras.layers.Flatten(name="flatten"),
            *dense_stack((dense,), activation="relu", dropout=dropout, kernel_initializer=initializer, l2=l2),
            logits(kernel_initializer=initializer, l2=l2),
        ],
        name="cnn_small",
    )
