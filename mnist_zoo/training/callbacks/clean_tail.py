"""CleanTail: train the last epochs on undistorted images."""

from __future__ import annotations

import keras
import tensorflow as tf


class CleanTail(keras.callbacks.Callback):
    """Turn a training set's distortions off from epoch `first_clean_epoch` (0-based) on.

    The test digits are clean, so a run trained on distorted ones can end with
    a few epochs on the clean images, as YOLO's "close mosaic" ends on
    unmosaicked ones. `augmenting` is the switch `make_dataset` reads as each
    batch is made; Keras makes each epoch's batches after `on_epoch_begin`, and
    a resumed run gets its true epoch number, so the switch is right either way.

    Example:
        >>> augmenting = tf.Variable(True, trainable=False)
        >>> data = make_dataset(x, y, batch_size=128, training=True, augment=Augmentation(), augmenting=augmenting)
        >>> model.fit(data, epochs=35, callbacks=[CleanTail(augmenting, first_clean_epoch=30)])
    """

    def __init__(self, augmenting: tf.Variable, first_clean_epoch: int) -> None:
        super().__init__()
        self.augmenting = augmenting
        self.first_clean_epoch = first_clean_epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.augmenting.assign(epoch < self.first_clean_epoch)
