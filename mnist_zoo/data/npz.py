"""Reader for Keras-style `mnist.npz` archives (keys x_train, y_train, x_test, y_test)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mnist_zoo.errors import DataError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load an `mnist.npz` without unpickling anything; arrays are returned as stored."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .npz file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} (has {', '.join(archive.files) or 'none'})")
            x_train, y_train, x_test, y_test = (archive[key] for key in NPZ_KEYS)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    return (x_train, y_train), (x_test, y_test)
