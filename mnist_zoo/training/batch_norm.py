"""BatchNorm statistics recomputed after training, on the images the model will see at test time."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of `model`, those of nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += batch_norm_layers(layer)
    return found


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, batch_size: int) -> None:
    """Set every trainable BatchNorm layer's moving mean and variance to its batch statistics
    averaged, weighted by batch size, over one pass of `images` in batches of `batch_size`.

    Training on distorted images leaves statistics of the distorted distribution, tracked
    over the last few batches only; recomputed on the clean training images they match what
    the model sees at test time (as PyTorch's `swa_utils.update_bn`). The model runs in
    training mode, as in fit, in a compiled function; no weight other than the statistics changes.
    """
    layers = [layer for layer in batch_norm_layers(model) if layer.trainable]
    momenta = [layer.momentum for layer in layers]
    # per layer, size-weighted sums of the batch means and variances
    mean_sums = [np.zeros(layer.moving_mean.shape) for layer in layers]
    variance_sums = [np.zeros(layer.moving_variance.shape) for layer in layers]
    forward = tf.function(lambda batch: model(batch, training=True), reduce_retracing=True)
    try:
        for layer in layers:
            layer.momentum = 0.0  # each call leaves the batch's own statistics in the moving ones
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            forward(batch)
            for layer, mean_sum, variance_sum in zip(layers, mean_sums, variance_sums):
                mean_sum += len(batch) * keras.ops.convert_to_numpy(layer.moving_mean)
                variance_sum += len(batch) * keras.ops.convert_to_numpy(layer.moving_variance)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    for layer, mean_sum, variance_sum in zip(layers, mean_sums, variance_sums):
        layer.moving_mean.assign(mean_sum / len(images))
        layer.moving_variance.assign(variance_sum / len(images))
