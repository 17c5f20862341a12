"""Callbacks Keras lacks, one per module, in Keras's own shape."""

from mnist_zoo.training.callbacks.atomic_model_checkpoint import AtomicModelCheckpoint
from mnist_zoo.training.callbacks.clean_tail import CleanTail
from mnist_zoo.training.callbacks.history_csv import HistoryCSV, read_history
from mnist_zoo.training.callbacks.stop_on_divergence import StopOnDivergence, TrainingDiverged

__all__ = ["AtomicModelCheckpoint", "CleanTail", "HistoryCSV", "StopOnDivergence", "TrainingDiverged", "read_history"]
