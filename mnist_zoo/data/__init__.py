"""Data layer: MNIST loaders for every on-disk format and the shared tf.data pipeline."""

from mnist_zoo.data.csv_files import load_csv
from mnist_zoo.data.idx import load_idx, load_idx_dir
from mnist_zoo.data.npz import load_npz
from mnist_zoo.data.packaged import load_packaged
from mnist_zoo.data.sources import load_csv_dir, load_mnist, split_validation

__all__ = [
    "load_csv",
    "load_csv_dir",
    "load_idx",
    "load_idx_dir",
    "load_mnist",
    "load_npz",
    "load_packaged",
    "split_validation",
]
