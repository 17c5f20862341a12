"""Forward and training FLOPs per image, counted from the layers (a multiply-add counts as two)."""

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


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model` in order, with nested models replaced by their own layers."""
    return [leaf for layer in model.layers
            for leaf in (leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs of `model` for a single image, including nested models."""
    return sum(layer_flops(layer) for layer in leaf_layers(model))


def count_training_flops(model: keras.Model) -> int:
    """FLOPs of one training step per image: the forward pass, then each layer's weight gradient and
    input gradient (each the forward's FLOPs again), except the input gradient of the first layer with
    FLOPs: no trainable weight lies upstream of it, so TensorFlow never computes it."""
    flops = [layer_flops(layer) for layer in leaf_layers(model)]
    return 3 * sum(flops) - next((count for count in flops if count), 0)
