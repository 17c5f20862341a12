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


def _image_grid(images: np.ndarray, captions: list[str], colors: list[str], title: str,
                columns: int = 10) -> plt.Figure:
    """`images` (uint8 digits) in rows of `columns`, each under its caption, drawn as one picture on one
    axis: twenty axes, one per digit, took most of a short run's plotting time."""
    rows = max(1, -(-len(images) // columns))
    cell_height, cell_width, caption_height = 40, 34, 11  # pixels of the picture per digit
    canvas = np.zeros((rows * cell_height, columns * cell_width), np.uint8)
    figure, axis = plt.subplots(figsize=(columns * 1.3, rows * 1.5 + 0.5))
    for index, (image, caption, color) in enumerate(zip(images, captions, colors)):
        row, column = divmod(index, columns)
        top, left = row * cell_height + caption_height, column * cell_width + 3
        canvas[top : top + 28, left : left + 28] = image
        axis.text(left + 14, top - 1, caption, ha="center", va="bottom", color=color, fontsize=9)
    axis.imshow(canvas, cmap="gray_r", vmin=0, vmax=255)
    axis.axis("off")
    figure.suptitle(title)
    return figure


def plot_samples(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, path: Path, count: int = 20) -> None:
    """A 2x10 grid of test images with true and predicted labels; mistakes in red."""
    predicted = probabilities.argmax(axis=1)[:count]
    figure = _image_grid(images[:count], [f"{true} → {guess}" for true, guess in zip(labels, predicted)],
                         ["red" if true != guess else "black" for true, guess in zip(labels, predicted)],
                         "test images: true → predicted (mistakes in red)")
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
    figure = _image_grid(images[worst], [f"{labels[index]} → {predicted[index]} "
                                         f"{probabilities[index, predicted[index]]:.0%}" for index in worst],
                         ["red"] * len(worst),
                         f"most confident mistakes ({len(wrong)} wrong of {len(labels)}): true → predicted, confidence")
    _save(figure, path)


def save_all(directory: Path, history: list[dict[str, float]], images: np.ndarray, labels: np.ndarray,
             probabilities: np.ndarray) -> None:
    """Write curves.png, samples.png, confusion.png and mistakes.png into `directory`."""
    plot_curves(history, directory / "curves.png")
    plot_samples(images, labels, probabilities, directory / "samples.png")
    plot_confusion(labels, probabilities, directory / "confusion.png")
    plot_mistakes(images, labels, probabilities, directory / "mistakes.png")
