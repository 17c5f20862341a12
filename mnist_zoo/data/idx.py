"""Reader for the official MNIST IDX files, raw or gzip-compressed."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from mnist_zoo.errors import DataError

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension
GZIP_MAGIC = b"\x1f\x8b"
KINDS = {IMAGES_MAGIC: "IDX images file", LABELS_MAGIC: "IDX labels file"}


def read_bytes(path: str | Path) -> bytes:
    """Return the contents of `path`, decompressed when it is gzip; DataError if unreadable."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path}: corrupt or truncated gzip data ({err})") from None
    if path.suffix == ".gz":
        raise DataError(f"{path}: named .gz but is not a gzip file")
    return data


def load_idx(path: str | Path, *, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes whose magic number must be `magic`.

    Checks the magic number and that the header's dimensions match the
    payload's size exactly. Returns a uint8 array shaped by the header.
    """
    data = read_bytes(path)
    if not data:
        raise DataError(f"{path}: empty file")
    if len(data) < 4:
        raise DataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        raise DataError(f"{path}: not an {KINDS[magic]} (wrong magic number {found}, expected {magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated header: {len(data)} bytes, need {header}")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if any(d < 0 for d in dims):
        raise DataError(f"{path}: negative dimension in header {dims}")
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header
    if payload < expected:
        raise DataError(
            f"{path}: truncated: header {dims} needs {expected} bytes of data, file has {payload}"
        )
    if payload > expected:
        raise DataError(
            f"{path}: {payload - expected} unexpected bytes after the {expected} the header {dims} describes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_file(directory: Path, name: str) -> Path:
    """Return `directory/name` or `directory/name.gz`, whichever exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise DataError(f"{directory}: missing {name} (or {name}.gz)")


def load_idx_pair(directory: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Read `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` and check they agree."""
    images_path = find_idx_file(directory, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = load_idx(images_path, magic=IMAGES_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images of {images.shape[1]}x{images.shape[2]} pixels, expected 28x28")
    labels = load_idx(labels_path, magic=LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels but {images_path.name} holds {len(images)} images"
        )
    return images, labels


def load_idx_dir(directory: str | Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the four official IDX files from `directory` as ((x_train, y_train), (x_test, y_test))."""
    directory = Path(directory)
    return load_idx_pair(directory, "train"), load_idx_pair(directory, "t10k")
