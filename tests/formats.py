"""Independent writers of the on-disk MNIST formats, used to make real test files."""

from __future__ import annotations

import gzip
import struct

import numpy as np


def write_idx(path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (big-endian header), gzip-compressed when path ends in .gz."""
    header = struct.pack(">i", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=1)
    with open(path, "wb") as handle:
        handle.write(data)


def write_csv(path, images: np.ndarray, labels: np.ndarray, header: bool = True) -> None:
    """Write images and labels as `label,p0,...,p783` rows, as the S2 tutorial's files."""
    table = np.column_stack([labels, images.reshape(len(images), -1)])
    head = "label," + ",".join(f"pixel{i}" for i in range(784)) if header else ""
    np.savetxt(path, table, fmt="%d", delimiter=",", header=head, comments="")


def write_idx_dir(directory, mnist_splits, gz: bool = False) -> None:
    """Write the four official IDX files for the given splits into `directory`."""
    (x_train, y_train), (x_test, y_test) = mnist_splits
    suffix = ".gz" if gz else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", x_train)
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", y_train)
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", x_test)
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", y_test)
