"""Shared fixtures: real MNIST (from the offline packaged copy) and writers for on-disk formats."""

from __future__ import annotations

import os

os.environ["MNIST_ZOO_OFFLINE"] = "1"  # tests never download
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from mnist_zoo.data.packaged import load_packaged  # noqa: E402


@pytest.fixture(scope="session")
def mnist(tmp_path_factory: pytest.TempPathFactory):
    """The real MNIST splits, converted once per session into a private cache."""
    os.environ["MNIST_ZOO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    (x_train, y_train), (x_test, y_test) = load_packaged()
    for array in (x_train, y_train, x_test, y_test):
        array.setflags(write=False)
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """A small real subset: the first 4,000 training and 2,000 test images."""
    (x_train, y_train), (x_test, y_test) = mnist
    return (x_train[:4000], y_train[:4000]), (x_test[:2000], y_test[:2000])
