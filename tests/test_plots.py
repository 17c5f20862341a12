"""The run's digit plots draw real test digits, one per caption, and only the mistakes as mistakes."""

from __future__ import annotations

import matplotlib.image
import numpy as np

from mnist_zoo.training.plots import plot_mistakes, plot_samples


def ink(path) -> float:
    """Fraction of the PNG's pixels that are dark (digit strokes and caption text)."""
    pixels = matplotlib.image.imread(path)[..., :3]
    return float(np.mean(pixels.mean(axis=-1) < 0.5))


def test_digit_grids_draw_the_digits_and_only_the_mistakes(tmp_path, small_mnist):
    _, (x_test, y_test) = small_mnist
    images, labels = x_test[:200], y_test[:200]
    right = np.eye(10)[labels]
    wrong = np.eye(10)[(labels + 1) % 10]
    plot_samples(images, labels, right, tmp_path / "samples.png")
    plot_mistakes(images, labels, right, tmp_path / "none.png")
    plot_mistakes(images, labels, wrong, tmp_path / "all.png")
    digits = ink(tmp_path / "samples.png")
    assert digits > 0.03  # twenty digits' strokes, not just captions
    assert ink(tmp_path / "none.png") < digits / 5  # no mistakes: a title and nothing else
    assert ink(tmp_path / "all.png") > digits / 2
    assert matplotlib.image.imread(tmp_path / "samples.png").shape[:2] == matplotlib.image.imread(
        tmp_path / "all.png").shape[:2]  # twenty digits in two rows of ten either way
