"""Losses by config name, each with the label encoding it needs."""

from __future__ import annotations

from collections.abc import Callable

import keras

# name -> (loss factory taking label_smoothing, whether it needs one-hot labels)
LOSSES: dict[str, tuple[Callable[[float], keras.losses.Loss], bool]] = {
    # softmax cross-entropy on logits; one-hot only when labels are smoothed (in the pipeline)
    "crossentropy": (lambda smoothing: keras.losses.SparseCategoricalCrossentropy(from_logits=True), False),
    # S1: mean squared error between the 10 linear outputs and one-hot targets
    "mse": (lambda smoothing: keras.losses.MeanSquaredError(), True),
    # S0: an independent sigmoid per class with binary cross-entropy
    "sigmoid_bce": (lambda smoothing: keras.losses.BinaryCrossentropy(from_logits=True), True),
    # S3's hinge choice: squared hinge on the 10 outputs (0/1 targets become -1/+1)
    "squared_hinge": (lambda smoothing: keras.losses.SquaredHinge(), True),
}


def needs_one_hot(loss: str, label_smoothing: float) -> bool:
    """Whether the pipeline must deliver one-hot (possibly smoothed) label rows for `loss`."""
    return LOSSES[loss][1] or label_smoothing > 0


def make_loss(loss: str, label_smoothing: float) -> keras.losses.Loss:
    """The Keras loss for `loss`; smoothed cross-entropy uses the categorical form."""
    if loss == "crossentropy" and label_smoothing > 0:
        return keras.losses.CategoricalCrossentropy(from_logits=True)
    return LOSSES[loss][0](label_smoothing)


def accuracy_metric(one_hot: bool) -> keras.metrics.Metric:
    """Accuracy named `accuracy` whatever the label encoding."""
    if one_hot:
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
