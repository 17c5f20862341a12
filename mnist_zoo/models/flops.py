"""Forward FLOPs per image, counted from the layers (a multiply-add counts as two)."""

from __future__ import annotations

import math

import keras


def layer_flops(layer: keras.layers.Layer) -> int:
    """FLOPs of one layer for one image: Dense and convolutions, plus BatchNorm's scale and shift."""
    if isinstance(layer, keras.layers.Dense):
        fan_in = layer.kernel.shape[0]
        return 2 * fan_in * layer.units
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        kernel_elements = math.prod(layer.kernel.shape)
        positions = math.prod(layer.output.shape[1:3])
        return 2 * kernel_elements * positions
    if isinstance(layer, keras.layers.BatchNormalization):
        return 2 * math.prod(layer.output.shape[1:])
    return 0


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs of `model` for a single image, including nested models."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        else:
            total += layer_flops(layer)
    return total
