"""Property tests: random bytes and random truncations of real files either load or raise DataError."""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from formats import write_csv, write_idx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_zoo import DataError
from mnist_zoo.data import load_csv, load_idx, load_npz
from mnist_zoo.data.idx import IMAGES_MAGIC, LABELS_MAGIC

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def real_files(small_mnist, tmp_path_factory):
    """Small real files in every format, as bytes."""
    (x_train, y_train), _ = small_mnist
    root = tmp_path_factory.mktemp("fuzz")
    write_idx(root / "images", x_train[:20])
    write_idx(root / "labels", y_train[:20])
    write_csv(root / "train.csv", x_train[:5], y_train[:5])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x_train[:10], y_train=y_train[:10], x_test=x_train[10:15], y_test=y_train[10:15])
    return {
        "images": (root / "images").read_bytes(),
        "labels": (root / "labels").read_bytes(),
        "csv": (root / "train.csv").read_bytes(),
        "npz": buffer.getvalue(),
    }


def load_or_data_error(reader, data: bytes, name: str):
    """Write `data` to a real file and read it: any outcome but success or DataError fails the test."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(data)
        try:
            return reader(path)
        except DataError as err:
            assert str(path) in str(err)
            return None


READERS = {
    "images": (lambda path: load_idx(path, magic=IMAGES_MAGIC), "train-images-idx3-ubyte"),
    "labels": (lambda path: load_idx(path, magic=LABELS_MAGIC), "train-labels-idx1-ubyte"),
    "csv": (load_csv, "mnist_train.csv"),
    "npz": (load_npz, "mnist.npz"),
}


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(kind, data):
    reader, name = READERS[kind]
    load_or_data_error(reader, data, name)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(fraction=st.floats(0, 1, exclude_max=True), gz=st.booleans())
def test_truncated_real_files(kind, real_files, fraction, gz):
    reader, name = READERS[kind]
    whole = real_files[kind]
    data = gzip.compress(whole) if gz and kind != "npz" else whole
    cut = data[: int(len(data) * fraction)]
    result = load_or_data_error(reader, cut, name + (".gz" if gz and kind != "npz" else ""))
    if result is not None:
        assert kind == "csv"  # only a CSV cut at a line break is still a valid (shorter) file


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(position=st.integers(0, 10**6), value=st.integers(0, 255))
def test_one_corrupted_byte_in_real_files(kind, real_files, position, value):
    reader, name = READERS[kind]
    data = bytearray(real_files[kind])
    data[position % len(data)] = value
    load_or_data_error(reader, bytes(data), name)


def test_real_files_load(real_files, small_mnist):
    (x_train, y_train), _ = small_mnist
    np.testing.assert_array_equal(load_or_data_error(READERS["images"][0], real_files["images"], "i"), x_train[:20])
    images, labels = load_or_data_error(load_csv, real_files["csv"], "train.csv")
    np.testing.assert_array_equal(labels, y_train[:5])
