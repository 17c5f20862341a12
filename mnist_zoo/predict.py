"""Read digit images from PNG, .npy or IDX files and classify them with a run or an export."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from mnist_zoo.data.idx import IMAGES_MAGIC, load_idx, read_bytes
from mnist_zoo.data.npz import READ_ERRORS
from mnist_zoo.errors import DataError
from mnist_zoo.training.runner import load_run, predict_probabilities

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path, notes: list[str]) -> np.ndarray:
    """A PNG as one (28, 28) uint8 image; other sizes, colour and 16-bit depth are converted, with a note."""
    data = read_bytes(path)
    if not data.startswith(PNG_SIGNATURE) or len(data) < 26:
        raise DataError(f"{path}: not a PNG file")
    width, height, depth = *struct.unpack(">II", data[16:24]), data[24]
    try:
        image = tf.io.decode_png(data, channels=0, dtype=tf.uint16 if depth == 16 else tf.uint8)
    except tf.errors.InvalidArgumentError as err:
        raise DataError(f"{path}: corrupt PNG ({err.message.splitlines()[0]})") from None
    image = tf.cast(image, tf.float32)
    if depth == 16:
        image = image / 257.0
        notes.append(f"{path}: converted 16-bit pixels to 8-bit")
    channels = image.shape[-1]
    if channels in (2, 4):
        image = image[..., : channels - 1]  # drop alpha
    if image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
        notes.append(f"{path}: converted {'RGBA' if channels == 4 else 'RGB'} to grayscale")
    if (height, width) != (28, 28):
        image = tf.image.resize(image, (28, 28), antialias=True)
        notes.append(f"{path}: resized {width}x{height} to 28x28")
    pixels = np.clip(np.rint(image.numpy()[..., 0]), 0, 255).astype(np.uint8)
    if pixels.mean() > 127:
        pixels = 255 - pixels
        notes.append(f"{path}: inverted a dark digit on a light background (MNIST is light on dark)")
    return pixels


def read_npy(path: Path) -> np.ndarray:
    """An .npy of uint8-range integers shaped (28, 28) or (N, 28, 28)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(np.lib.format.MAGIC_PREFIX))
        numpy_file = header == np.lib.format.MAGIC_PREFIX or header.startswith(b"PK")  # PK: an .npz (a zip)
        array = np.load(path, allow_pickle=False) if numpy_file else None
    except READ_ERRORS as err:
        raise DataError(f"{path}: not a readable .npy array ({err})") from None
    if array is None:  # np.load would read it as a pickle, and say it holds pickled data
        raise DataError(f"{path}: not a .npy file (no NumPy header)")
    if not isinstance(array, np.ndarray):
        raise DataError(f"{path}: an .npz archive, expected a single .npy array")
    if array.dtype.kind not in "iu":
        raise DataError(f"{path}: dtype {array.dtype}; expected integer pixels 0..255 (uint8)")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(f"{path}: pixel values outside 0..255")
    return array.astype(np.uint8)


def read_images(path: str | Path, notes: list[str]) -> np.ndarray:
    """Images from one file as uint8 (N, 28, 28): PNG, .npy, or an IDX images file (raw or .gz)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() == ".png":
        images = read_png(path, notes)
    elif path.suffix.lower() == ".npy":
        images = read_npy(path)
    else:
        images = load_idx(path, magic=IMAGES_MAGIC)
    if images.shape[-2:] != (28, 28) or images.ndim not in (2, 3):
        raise DataError(f"{path}: images of shape {images.shape}, expected (28, 28) or (N, 28, 28)")
    return images.reshape(-1, 28, 28)


def classify(model_dir: str | Path, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, 10) from an export directory (newest version) or a run directory."""
    model_dir = Path(model_dir)
    if (model_dir / "model.keras").exists():
        _, model = load_run(model_dir)
        return predict_probabilities(model, images)
    if not (model_dir / "saved_model.pb").exists():
        versions = sorted((int(p.name) for p in model_dir.glob("*") if p.name.isdigit()), reverse=True)
        if not versions:
            raise DataError(f"{model_dir}: neither a run directory (model.keras) nor a SavedModel export")
        model_dir = model_dir / str(versions[0])
    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    return serve(images=tf.constant(images))["probabilities"].numpy()
