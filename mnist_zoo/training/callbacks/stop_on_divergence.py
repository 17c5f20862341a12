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
    `max_loss_factor` times the larger of 1 and the loss at the start: the
    `initial_loss` given, else the first loss this process saw (a healthy run
    never climbs that far above where it started). Pass `initial_loss` when
    the model runs several steps per execution: the first loss reported is
    then already a mean over several updates. Raising,
    rather than only setting `stop_training`, ends `fit` before the epoch's
    end, so callbacks that save at epoch end (`BackupAndRestore`,
    `ModelCheckpoint`) keep the last good state instead of the diverged one.

    Args:
        max_loss_factor: how far above its start the loss may climb.
        initial_loss: the untrained model's loss on a batch, if known.

    Example:
        >>> start = model.evaluate(first_batch, return_dict=True)["loss"]
        >>> model.fit(data, callbacks=[StopOnDivergence(initial_loss=start), keras.callbacks.BackupAndRestore("backup")])
    """

    def __init__(self, max_loss_factor: float = 10.0, initial_loss: float | None = None) -> None:
        super().__init__()
        self.max_loss_factor = max_loss_factor
        self.initial_loss = initial_loss
        self._epoch = 0
        self._limit: float | None = None
        if initial_loss is not None and math.isfinite(initial_loss):
            self._limit = max_loss_factor * max(initial_loss, 1.0)

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
        return {"max_loss_factor": self.max_loss_factor, "initial_loss": self.initial_loss}
