"""StopOnDivergence: end training with a clear error the moment the loss stops being finite."""

from __future__ import annotations

import math

import keras

from mnist_zoo.errors import ZooError


class TrainingDiverged(ZooError):
    """The loss became NaN or infinite; the last finished epoch's checkpoint is kept."""


class StopOnDivergence(keras.callbacks.TerminateOnNaN):
    """Like `TerminateOnNaN`, but raises `TrainingDiverged` naming the epoch and batch.

    Raising (instead of only setting `stop_training`) ends `fit` before the
    epoch's end, so callbacks that save at epoch end (`BackupAndRestore`,
    `ModelCheckpoint`) keep the last good state rather than the diverged one.

    Example:
        >>> model.fit(data, callbacks=[StopOnDivergence(), keras.callbacks.BackupAndRestore("b")])
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"training diverged at epoch {self._epoch + 1}, batch {batch + 1}: loss is {float(loss)}; "
                "lower optimizer.learning_rate (the last finished epoch's state is kept)"
            )

    def get_config(self) -> dict:
        return {}
