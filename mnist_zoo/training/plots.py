"""The plots of a run: learning curves, sample predictions, confusion matrix, confident mistakes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnist_zoo.files import atomic_path  # noqa: E402


def _save(figure: plt.Figure, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss, accuracy and learning rate per epoch, training against validation (as S1, S3, S4 drew)."""
    epochs = [row["epoch"] for row in history]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, metric in zip(axes[:2], ("loss", "accuracy")):
        axis.plot(epochs, [row[metric] for row in history], "o-", label="train")
        if history and f"val_{metric}" in history[0]:
            axis.plot(epochs, [row[f"val_{metric}"] for row in history], "s-", label="validation")
        axis.set(title=metric, xlabel="epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    axes[2].plot(epochs, [row["lr"] for row in history], "o-", color="tab:green")
    axes[2].set(title="learning rate (at epoch start)", xlabel="epoch", yscale="log")
    axes[2].grid(alpha=0.3)
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    _save(figure, path)


def plot_samples(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: Path, count: int = 20) -> None:
    """A 2x10 grid of test images with true and predicted labels; mistakes in red."""
    predicted = probabilities.argmax(axis=1)
    figure, axes = plt.subplots(2, count // 2, figsize=(count // 2 * 1.3, 3.4))
    for index, axis in enumerate(axes.flat):
        wrong = predicted[index] != labels[index]
        axis.imshow(images[index], cmap="gray_r")
        axis.set_title(f"{labels[index]} → {predicted[index]}", color="red" if wrong else "black", fontsize=10)
        axis.axis("off")
    figure.suptitle("test images: true → predicted (mistakes in red)")
    _save(figure, path)


def plot_confusion(labels: np.ndarray, probabilities: np.ndarray, path: Path) -> None:
    """The 10x10 confusion matrix of the test set, counts in every cell."""
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (labels.astype(int), probabilities.argmax(axis=1)), 1)
    figure, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(np.log1p(matrix), cmap="Blues")
    for true in range(10):
        for guess in range(10):
            if matrix[true, guess]:
                light = matrix[true, guess] > matrix.max() / 3
                axis.text(guess, true, matrix[true, guess], ha="center", va="center", fontsize=8,
                          color="white" if light else "black")
    axis.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
             title=f"confusion matrix ({(matrix.trace() / matrix.sum()):.2%} correct)")
    figure.colorbar(image, ax=axis, label="log(1 + count)")
    _save(figure, path)


def plot_mistakes(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: Path, count: int = 20) -> None:
    """The most confidently wrong test images, with their true label and the model's confidence."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    columns = 10
    rows = max(1, -(-len(worst) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(13, 1.7 * rows + 0.6), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, worst):
        axis.imshow(images[index], cmap="gray_r")
        axis.set_title(f"{labels[index]} → {predicted[index]} {probabilities[index, predicted[index]]:.0%}",
                       color="red", fontsize=9)
    figure.suptitle(f"most confident mistakes ({len(wrong)} wrong of {len(labels)}): true → predicted, confidence")
    _save(figure, path)


def save_all(directory: Path, history: list[dict[str, float]], images: np.ndarray, labels: np.ndarray,
             probabilities: np.ndarray) -> None:
    """Write curves.png, samples.png, confusion.png and mistakes.png into `directory`."""
    plot_curves(history, directory / "curves.png")
    plot_samples(images, labels, probabilities, directory / "samples.png")
    plot_confusion(labels, probabilities, directory / "confusion.png")
    plot_mistakes(images, labels, probabilities, directory / "mistakes.png")
