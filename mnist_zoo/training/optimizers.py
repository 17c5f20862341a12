"""Optimizers by config name."""

from __future__ import annotations

import keras

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


def make_optimizer(
    name: str,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    ema_momentum: float = 0.0,
) -> keras.optimizers.Optimizer:
    """A Keras optimizer; `weight_decay` is decoupled decay (AdamW-style) for every choice.

    A nonzero `ema_momentum` turns on Keras's weight averaging (`use_ema`): the
    optimizer tracks an exponential moving average of the weights, updated every
    step, and `fit` ends by writing it into the model.
    """
    decay = weight_decay or None
    averaging = {"use_ema": True, "ema_momentum": ema_momentum} if ema_momentum else {}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov, weight_decay=decay, **averaging)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=decay, **averaging)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **averaging)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=momentum, weight_decay=decay, **averaging)
    raise ValueError(f"unknown optimizer {name!r}")


def slow_average_warning(ema_momentum: float, steps: int) -> str | None:
    """A warning when a run is too short for its weight average, else None.

    Keras starts the average at the first step's weights and has no warm-up, so
    after `steps` updates the average still holds `ema_momentum ** steps` of the
    untrained weights; above 1% the finished model is visibly worse than its
    raw weights.
    """
    leftover = ema_momentum**steps
    if not ema_momentum or leftover <= 0.01:
        return None
    return (
        f"optimizer.ema_momentum = {ema_momentum} averages over about {1 / (1 - ema_momentum):,.0f} steps, but this "
        f"run takes {steps:,}: the final weights keep {leftover:.0%} of the untrained ones; lower it, or set 0 to "
        "turn the average off"
    )
