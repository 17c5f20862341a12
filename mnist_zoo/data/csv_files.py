"""Reader for MNIST as CSV (`label, 784 pixels` per row, optional header), as reference S2 used."""

from __future__ import annotations

import io
from pathlib import Path
from typing import NoReturn

import numpy as np

from mnist_zoo.data.idx import read_bytes
from mnist_zoo.errors import DataError

PIXELS = 28 * 28


def load_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load one CSV file as (uint8 images of shape (N, 28, 28), uint8 labels).

    A first line that is not numeric is taken as a header. Any malformed row
    raises DataError naming the file and the line number.
    """
    path = Path(path)
    try:
        text = read_bytes(path).decode("ascii")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text CSV file (byte {err.start} is not ASCII)") from None
    lines = text.splitlines()
    first = 1 if lines and not _is_numeric_row(lines[0]) else 0
    if not any(line.strip() for line in lines[first:]):
        raise DataError(f"{path}: no data rows")
    try:
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, skiprows=first, ndmin=2)
    except ValueError:
        table = None
    if (
        table is None
        or table.shape[1] != PIXELS + 1
        or table.min() < 0
        or table[:, 1:].max() > 255
        or table[:, 0].max() > 9
    ):
        _raise_first_bad_row(path, lines, first)
    return table[:, 1:].astype(np.uint8).reshape(-1, 28, 28), table[:, 0].astype(np.uint8)


def _is_numeric_row(line: str) -> bool:
    return all(field.strip().lstrip("-").isdigit() for field in line.split(","))


def _raise_first_bad_row(path: Path, lines: list[str], first: int) -> NoReturn:
    """Find the first malformed row and raise a DataError that names its line."""
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != PIXELS + 1:
            raise DataError(f"{path}: line {number}: {len(fields)} values, expected {PIXELS + 1} (label then {PIXELS} pixels)")
        try:
            values = [int(field) for field in fields]
        except ValueError:
            bad = next(field for field in fields if not field.strip().lstrip("-").isdigit())
            raise DataError(f"{path}: line {number}: {bad.strip()!r} is not an integer") from None
        if not 0 <= values[0] <= 9:
            raise DataError(f"{path}: line {number}: label {values[0]} outside 0..9")
        bad_pixel = next((value for value in values[1:] if not 0 <= value <= 255), None)
        if bad_pixel is not None:
            raise DataError(f"{path}: line {number}: pixel value {bad_pixel} outside 0..255")
    raise DataError(f"{path}: malformed CSV")
