"""StopOnDivergence: end training with a clear error as soon as the loss blows up."""

from __future__ import annotations

import math

import keras

from mnist_zoo.errors import ZooError


class TrainingDiverged(ZooError):
    """The loss became NaN, infinite or far above where it started; the last finished epoch is kept."""


class StopOnDivergence(keras.callbacks.TerminateOnNaN):
    """Like `TerminateOnNaN`, but also catches a finite blow-up, and raises an error naming the epoch.

    Training has diverged when the running loss is not finite, or exceeds
    `max_loss_factor` times the larger of 1 and the first loss this process
    saw (a healthy run never climbs that far above where it started). Raising,
    rather than only setting `stop_training`, ends `fit` before the epoch's
    end, so callbacks that save at epoch end (`BackupAndRestore`,
    `ModelCheckpoint`) keep the last good state instead of the diverged one.

    Args:
        max_loss_factor: how far above its start the loss may climb.

    Example:
        >>> model.fit(data, callbacks=[StopOnDivergence(), keras.callbacks.BackupAndRestore("backup")])
    """

    def __init__(self, max_loss_factor: float = 10.0) -> None:
        super().__init__()
        self.max_loss_factor = max_loss_factor
        self._epoch = 0
        self._limit: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self._limit is None and math.isfinite(loss):
            self._limit = self.max_loss_factor * max(loss, 1.0)
        if not math.isfinite(loss) or loss > self._limit:
            why = f"loss is {loss}" if not math.isfinite(loss) else f"loss {loss:.4g} is over {self._limit:.4g}"
            raise TrainingDiverged(
                f"training diverged at epoch {self._epoch + 1}, batch {batch + 1}: {why}; "
                "lower optimizer.learning_rate (the last finished epoch's state is kept)"
            )

    def get_config(self) -> dict:
        return {"max_loss_factor": self.max_loss_factor}
