"""Corrupt input raises DataError naming the file and the problem; nothing is executed from data."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
from formats import write_csv, write_idx, write_idx_dir

from mnist_zoo import DataError, load_mnist
from mnist_zoo.data import load_csv, load_idx, load_idx_dir, load_npz
from mnist_zoo.data.idx import IMAGES_MAGIC, LABELS_MAGIC
from mnist_zoo.data.packaged import read_packaged_pickle, unpickle_arrays


@pytest.fixture
def idx_dir(tmp_path, small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    write_idx_dir(tmp_path, ((x_train[:200], y_train[:200]), (x_test[:100], y_test[:100])))
    return tmp_path


def raises_naming(path, match: str):
    """Expect a DataError whose message names `path` and matches `match`."""
    return pytest.raises(DataError, match=rf"{path.name}.*{match}")


def test_idx_wrong_magic(idx_dir):
    path = idx_dir / "train-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[:4] = struct.pack(">i", IMAGES_MAGIC)
    path.write_bytes(bytes(data))
    with raises_naming(path, r"not an IDX labels file \(wrong magic number 2051, expected 2049\)"):
        load_idx_dir(idx_dir)


def test_idx_truncated_payload(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with raises_naming(path, "truncated"):
        load_idx(path, magic=IMAGES_MAGIC)


def test_idx_header_larger_than_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">4i", IMAGES_MAGIC, 1_000_000, 28, 28) + bytes(784))
    with raises_naming(path, "truncated"):
        load_idx(path, magic=IMAGES_MAGIC)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">i", LABELS_MAGIC))
    with raises_naming(path, "truncated header"):
        load_idx(path, magic=LABELS_MAGIC)


def test_idx_trailing_bytes(idx_dir):
    path = idx_dir / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00\x01")
    with raises_naming(path, "unexpected bytes"):
        load_idx_dir(idx_dir)


def test_idx_count_mismatch(idx_dir, small_mnist):
    (_, y_train), _ = small_mnist
    write_idx(idx_dir / "train-labels-idx1-ubyte", y_train[:150])
    with raises_naming(idx_dir / "train-labels-idx1-ubyte", "150 labels but .* 200 images"):
        load_idx_dir(idx_dir)


def test_idx_wrong_image_size(idx_dir):
    write_idx(idx_dir / "train-images-idx3-ubyte", np.zeros((200, 32, 32), np.uint8))
    with raises_naming(idx_dir / "train-images-idx3-ubyte", "images of 32x32 pixels, expected 28x28"):
        load_mnist(idx_dir)


def test_idx_empty_file(idx_dir):
    path = idx_dir / "t10k-images-idx3-ubyte"
    path.write_bytes(b"")
    with raises_naming(path, "empty file"):
        load_idx_dir(idx_dir)


def test_idx_directory_where_file_expected(idx_dir):
    path = idx_dir / "t10k-images-idx3-ubyte"
    path.unlink()
    path.mkdir()
    with raises_naming(path, "is a directory"):
        load_idx_dir(idx_dir)


def test_idx_missing_file(idx_dir):
    (idx_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_idx_dir(idx_dir)


def test_gz_that_is_not_gzip(idx_dir):
    path = idx_dir / "train-labels-idx1-ubyte"
    fake = idx_dir / "train-labels-idx1-ubyte.gz"
    fake.write_bytes(path.read_bytes())
    with raises_naming(fake, "not a gzip file"):
        load_idx(fake, magic=LABELS_MAGIC)


def test_truncated_gzip(idx_dir):
    path = idx_dir / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress((idx_dir / "train-images-idx3-ubyte").read_bytes())[:500])
    with raises_naming(path, "corrupt or truncated gzip"):
        load_idx(path, magic=IMAGES_MAGIC)


def test_csv_row_of_wrong_length(tmp_path, small_mnist):
    (x_train, y_train), _ = small_mnist
    path = tmp_path / "mnist_train.csv"
    write_csv(path, x_train[:20], y_train[:20])
    lines = path.read_text().splitlines()
    lines[6] = lines[6].rsplit(",", 1)[0]  # line 7: one pixel short
    path.write_text("\n".join(lines) + "\n")
    with raises_naming(path, "line 7: 784 values, expected 785"):
        load_csv(path)


def test_csv_pixel_out_of_range(tmp_path, small_mnist):
    (x_train, y_train), _ = small_mnist
    images = x_train[:20].astype(np.int64)
    images[11, 14, 8] = 256  # row 12 (no header)
    path = tmp_path / "mnist_train.csv"
    write_csv(path, images, y_train[:20], header=False)
    with raises_naming(path, "line 12: pixel value 256 outside 0..255"):
        load_csv(path)


def test_csv_non_numeric_value(tmp_path, small_mnist):
    (x_train, y_train), _ = small_mnist
    path = tmp_path / "mnist_train.csv"
    write_csv(path, x_train[:5], y_train[:5])
    lines = path.read_text().splitlines()
    lines[3] = "x" + lines[3][1:]  # line 4: the label is not a number
    path.write_text("\n".join(lines) + "\n")
    with raises_naming(path, "line 4: 'x' is not an integer"):
        load_csv(path)


def test_csv_label_out_of_range(tmp_path, small_mnist):
    (x_train, _), _ = small_mnist
    path = tmp_path / "mnist_train.csv"
    write_csv(path, x_train[:3], np.array([1, 12, 3]))
    with raises_naming(path, "line 3: label 12 outside 0..9"):
        load_csv(path)


def test_npz_pixel_out_of_range(tmp_path, small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train.astype(np.int16) + 1, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(DataError, match=rf"{path.name}.*pixel values outside 0..255"):
        load_mnist(path)


def test_npz_missing_key_and_not_a_zip(tmp_path, small_mnist):
    (x_train, y_train), _ = small_mnist
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train)
    with raises_naming(path, "missing arrays x_test, y_test"):
        load_npz(path)
    path.write_bytes(b"not a zip archive at all")
    with raises_naming(path, "not a readable .npz"):
        load_npz(path)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.array([{"a": 1}], dtype=object), y_train=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1))
    with raises_naming(path, "Object arrays cannot be loaded"):
        load_npz(path)


def test_packaged_checksum_mismatch(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(((np.zeros(1),) * 2,) * 3)))
    with raises_naming(path, "checksum mismatch"):
        read_packaged_pickle(path)


class CallsSystem:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_restricted_unpickler_refuses_code_before_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blob = pickle.dumps((np.zeros(3, np.float32), CallsSystem()), protocol=4)
    with pytest.raises(DataError, match="refused global (posix|os).system"):
        unpickle_arrays(blob, "crafted.pkl")
    assert not (tmp_path / "pwned").exists()


def test_restricted_unpickler_admits_arrays():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.int64))
    loaded = unpickle_arrays(pickle.dumps(arrays, protocol=4), "arrays.pkl")
    np.testing.assert_array_equal(loaded[0], arrays[0])
    np.testing.assert_array_equal(loaded[1], arrays[1])
