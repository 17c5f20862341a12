"""HistoryCSV: one row per finished epoch, with its learning rate and wall time, rewritten atomically."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras

from mnist_zoo.files import write_text_atomic


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The rows of a history CSV as floats (epoch is 1-based); empty when the file is absent."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


class HistoryCSV(keras.callbacks.Callback):
    """Writes `epoch, lr, seconds` and every logged metric after each epoch.

    The learning rate is the one in force at the epoch's first step. The file
    is rewritten whole through a temporary name, and rows of the epoch being
    written (left by an interrupted run) are replaced, so after any crash and
    resume each epoch appears exactly once. Also adds `lr` to the logs, so the
    `History` returned by `fit` has it.

    Args:
        path: the CSV file to write.

    Example:
        >>> model.fit(data, epochs=3, callbacks=[HistoryCSV("run/history.csv")])
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._lr = math.nan
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["lr"] = self._lr
        row = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._started}
        row.update({key: float(value) for key, value in logs.items()})
        rows = [old for old in read_history(self.path) if old["epoch"] < epoch + 1] + [row]
        columns = list(dict.fromkeys(key for old in rows for key in old))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for old in rows:
            writer.writerow({key: int(value) if key == "epoch" else value for key, value in old.items()})
        write_text_atomic(self.path, buffer.getvalue())

    def get_config(self) -> dict:
        return {"path": str(self.path)}
