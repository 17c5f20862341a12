"""AtomicModelCheckpoint: Keras's ModelCheckpoint, written through a temporary file and renamed into place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras

from mnist_zoo.files import temporary_name


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` for one fixed `.keras` path that a crash can never leave half-written.

    Keras saves to a staging file beside the target (`.NAME.keras.tmp.keras`);
    after each epoch a finished staging file is renamed onto the target, so
    the target always holds a complete model: the old one or the new one.

    Args:
        filepath: the `.keras` file to keep up to date.
        **kwargs: passed to `keras.callbacks.ModelCheckpoint` (monitor, mode,
            save_best_only, initial_value_threshold, ...).

    Example:
        >>> AtomicModelCheckpoint("run/best.keras", monitor="val_accuracy", mode="max", save_best_only=True)
    """

    def __init__(self, filepath: str | Path, **kwargs: Any) -> None:
        self.target = Path(filepath)
        self.staging = temporary_name(self.target)
        super().__init__(str(self.staging), **kwargs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.staging.exists():
            os.replace(self.staging, self.target)
