"""Reader for Keras-style `mnist.npz` archives (keys x_train, y_train, x_test, y_test)."""

from __future__ import annotations

import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from mnist_zoo.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# What NumPy and zipfile raise on a damaged or hostile archive.
# (NumPy parses an .npy header with ast.literal_eval: SyntaxError and TokenError too.)
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, NotImplementedError, SyntaxError,
               MemoryError, tokenize.TokenError, zipfile.BadZipFile, zlib.error, struct.error)


def load_npz(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load an `mnist.npz` without unpickling anything; arrays are returned as stored."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .npz file")
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except READ_ERRORS as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single .npy array, not an .npz archive of {', '.join(NPZ_KEYS)}")
    with archive:
        missing = [key for key in NPZ_KEYS if key not in archive.files]
        if missing:
            raise DataError(f"{path}: missing arrays {', '.join(missing)} (has {', '.join(archive.files) or 'none'})")
        try:
            x_train, y_train, x_test, y_test = (archive[key] for key in NPZ_KEYS)
        except READ_ERRORS as err:
            raise DataError(f"{path}: corrupt array in .npz archive ({err})") from None
    return (x_train, y_train), (x_test, y_test)
