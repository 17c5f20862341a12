"""Learning-rate schedules by config name, built from Keras's own schedule classes."""

from __future__ import annotations

import keras

SCHEDULES = ("constant", "step", "exponential", "cosine", "cosine_restarts", "one_cycle")
ONE_CYCLE_START_DIVISOR = 25.0  # one-cycle warms up from lr / 25, as PyTorch's OneCycleLR


def make_schedule(
    name: str,
    *,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float = 0.0,
    decay_rate: float = 0.1,
    step_epochs: int = 1,
    decay_steps: int = 0,
    restart_epochs: float = 1.0,
    restart_multiplier: float = 2.0,
    min_lr_fraction: float = 0.0,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate (a float for `constant`) as a function of the optimizer step.

    - `step`: multiply by `decay_rate` every `step_epochs` epochs.
    - `exponential`: multiply by `decay_rate` every `decay_steps` steps (default one epoch),
      smoothly; S3 used 0.999 per sample.
    - `cosine`: cosine decay to `min_lr_fraction * lr` over the run, after `warmup_epochs`
      of linear warm-up from 0.
    - `cosine_restarts`: SGDR; the first cycle lasts `restart_epochs`, each next one
      `restart_multiplier` times longer.
    - `one_cycle`: linear warm-up from lr / 25 over `warmup_epochs` (default 30% of the run),
      then cosine annealing to `min_lr_fraction * lr`.
    """
    total = steps_per_epoch * epochs
    if name == "constant":
        return learning_rate
    if name == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=step_epochs * steps_per_epoch, decay_rate=decay_rate, staircase=True
        )
    if name == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=decay_steps or steps_per_epoch, decay_rate=decay_rate
        )
    if name == "cosine_restarts":
        return keras.optimizers.schedules.CosineDecayRestarts(
            learning_rate,
            first_decay_steps=max(1, round(restart_epochs * steps_per_epoch)),
            t_mul=restart_multiplier,
            alpha=min_lr_fraction,
        )
    if name in ("cosine", "one_cycle"):
        if name == "one_cycle" and not warmup_epochs:
            warmup_epochs = 0.3 * epochs
        warmup = round(warmup_epochs * steps_per_epoch)
        start = learning_rate / ONE_CYCLE_START_DIVISOR if name == "one_cycle" else 0.0
        if not warmup:
            return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total, alpha=min_lr_fraction)
        return keras.optimizers.schedules.CosineDecay(
            start,
            decay_steps=max(1, total - warmup),
            alpha=min_lr_fraction,
            warmup_target=learning_rate,
            warmup_steps=warmup,
        )
    raise ValueError(f"unknown schedule {name!r}")
