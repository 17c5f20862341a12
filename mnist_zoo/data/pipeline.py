"""`make_dataset`: the one tf.data pipeline every model trains and evaluates on."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from mnist_zoo.errors import ConfigError

NUM_CLASSES = 10


@dataclass(frozen=True)
class Augmentation:
    """Random affine distortions applied per batch while training.

    Args:
        shift: largest translation, as a fraction of the image side.
        rotation: largest rotation, in degrees.
        zoom: largest zoom in or out, as a fraction.
    """

    shift: float = 0.1
    rotation: float = 10.0
    zoom: float = 0.1

    def layers(self, seed: int | None) -> keras.Sequential:
        """The Keras preprocessing layers that apply these distortions to (B, 28, 28, 1) floats."""
        stages = []
        if self.rotation:
            stages.append(keras.layers.RandomRotation(self.rotation / 360.0, fill_mode="constant", seed=seed))
        if self.zoom:
            stages.append(keras.layers.RandomZoom(self.zoom, fill_mode="constant", seed=seed))
        if self.shift:
            stages.append(keras.layers.RandomTranslation(self.shift, self.shift, fill_mode="constant", seed=seed))
        return keras.Sequential(stages, name="augmentation")


def encode_labels(labels: tf.Tensor, *, one_hot: bool, label_smoothing: float) -> tf.Tensor:
    """Sparse labels as they are, or one-hot with smoothing: true class 1 - eps + eps/10, others eps/10."""
    if not one_hot:
        return labels
    return tf.one_hot(labels, NUM_CLASSES) * (1.0 - label_smoothing) + label_smoothing / NUM_CLASSES


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    augment: Augmentation | None = None,
    label_smoothing: float = 0.0,
    one_hot: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A dataset of (uint8 images (B, 28, 28), labels) batches.

    The arrays stay resident as tensors; each batch is gathered by index, so
    shuffling (every epoch, over the whole set, when `training`) and
    augmentation (per batch, when `training` and `augment`) are vectorised.
    The last short batch is kept. Labels are int32 class ids, or float32
    one-hot rows when `one_hot` (with `label_smoothing`, as reference S0).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if label_smoothing and not one_hot:
        raise ConfigError("label_smoothing needs one_hot=True")
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    images = tf.constant(np.asarray(images, dtype=np.uint8))
    labels = tf.constant(np.asarray(labels, dtype=np.int32))
    indices = tf.data.Dataset.range(len(labels))
    if training:
        indices = indices.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = indices.batch(batch_size).map(
        lambda index: (tf.gather(images, index), tf.gather(labels, index)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if training and augment is not None:
        distort = augment.layers(seed)

        def augment_batch(batch: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            moved = distort(tf.cast(batch, tf.float32)[..., tf.newaxis], training=True)[..., 0]
            return tf.cast(tf.clip_by_value(tf.round(moved), 0.0, 255.0), tf.uint8), target

        dataset = dataset.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    if one_hot:
        dataset = dataset.map(
            lambda batch, target: (batch, encode_labels(target, one_hot=True, label_smoothing=label_smoothing)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
