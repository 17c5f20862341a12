"""Convolutional entries: the small CNN of reference S4, the zoo's speed entry and its champion."""

from __future__ import annotations

import keras

from mnist_zoo.models.layers import (
    batch_norm_layer,
    check_dropout,
    dense_stack,
    images_input,
    logits,
    make_initializer,
    pixel_normalization,
    regularizer,
)
from mnist_zoo.models.registry import register_model


def _convnet(
    name: str,
    convolutions: list[keras.layers.Layer],
    *,
    dense: int,
    dropout: float,
    initializer: str,
    l2: float,
    normalization: str,
    batch_norm: bool = False,
) -> keras.Model:
    """uint8 images -> normalised (28, 28, 1) -> `convolutions` -> Dense(`dense`) ReLU -> 10 logits."""
    return keras.Sequential(
        [
            images_input(),
            pixel_normalization(normalization),
            keras.layers.Reshape((28, 28, 1), name="channels"),
            *convolutions,
            keras.layers.Flatten(name="flatten"),
            *dense_stack((dense,), activation="relu", batch_norm=batch_norm, dropout=dropout,
                         kernel_initializer=initializer, l2=l2),
            logits(kernel_initializer=initializer, l2=l2),
        ],
        name=name,
    )


def _conv(width: int, size: int, index: int, initializer: str, l2: float, strides: int = 1) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(
        width, size, strides=strides, activation="relu", kernel_initializer=make_initializer(initializer),
        kernel_regularizer=regularizer(l2), name=f"conv_{index}",
    )


def _conv_bn(width: int, size: int, name: str, initializer: str, l2: float, strides: int = 1) -> list[keras.layers.Layer]:
    """Conv2D without bias, BatchNormalization, ReLU; strided convolutions pad to keep size / stride."""
    return [
        keras.layers.Conv2D(
            width, size, strides=strides, padding="same" if strides > 1 else "valid", use_bias=False,
            kernel_initializer=make_initializer(initializer), kernel_regularizer=regularizer(l2), name=name,
        ),
        batch_norm_layer(f"{name}_batch_norm"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ]


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
        convolutions += [_conv(width, 3, index, initializer, l2), keras.layers.MaxPooling2D(2, name=f"pool_{index}")]
    return _convnet("cnn_small", convolutions, dense=dense, dropout=dropout, initializer=initializer, l2=l2,
                    normalization=normalization)


@register_model(reference="zoo speed entry; goal: >= 99.0% test accuracy after <= 8 s of training on 2 CPU cores")
def cnn_fast(
    *,
    filters: tuple[int, ...] = (32, 64),
    dense: int = 128,
    dropout: float = 0.0,
    initializer: str = "glorot_uniform",
    l2: float = 0.0,
    normalization: str = "unit",
) -> keras.Model:
    """Strided convolutions instead of pooling (5x5/2, then 3x3/2 per further entry of `filters`),
    Dense(128) ReLU and 10 logits: a CNN cheap enough to train to 99% in seconds on a CPU."""
    convolutions = [
        _conv(width, 5 if index == 1 else 3, index, initializer, l2, strides=2)
        for index, width in enumerate(filters, start=1)
    ]
    return _convnet("cnn_fast", convolutions, dense=dense, dropout=dropout, initializer=initializer, l2=l2,
                    normalization=normalization)


@register_model(
    reference="zoo champion; goal: >= 99.7% test accuracy (Ciresan et al. 2010: 99.65%), "
    "<= 30 min training per seed on 2 CPU cores"
)
def cnn_bn(
    *,
    filters: tuple[int, ...] = (48, 96),
    dense: int = 128,
    dropout: float = 0.4,
    initializer: str = "he_uniform",
    l2: float = 0.0,
    normalization: str = "unit",
) -> keras.Model:
    """Per entry of `filters`: two 3x3 convolutions and a 5x5/2 one, each with BatchNorm and ReLU,
    then dropout; Dense(128) with BatchNorm, ReLU and dropout; 10 logits (28 -> 12 -> 4 pixels)."""
    check_dropout(dropout)  # before the block Dropout layers, which would raise a bare ValueError
    convolutions: list[keras.layers.Layer] = []
    for block, width in enumerate(filters, start=1):
        convolutions += [
            *_conv_bn(width, 3, f"conv_{block}a", initializer, l2),
            *_conv_bn(width, 3, f"conv_{block}b", initializer, l2),
            *_conv_bn(width, 5, f"conv_{block}c", initializer, l2, strides=2),
            keras.layers.Dropout(dropout, name=f"dropout_block_{block}"),
        ]
    return _convnet("cnn_bn", convolutions, dense=dense, dropout=dropout, initializer=initializer, l2=l2,
                    normalization=normalization, batch_norm=True)
