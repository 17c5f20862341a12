"""`make_dataset`: the one tf.data pipeline every model trains and evaluates on."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from mnist_zoo.errors import ConfigError

NUM_CLASSES = 10
IMAGE_SIDE = 28


@dataclass(frozen=True)
class Augmentation:
    """Random affine (rotation, zoom, shift) and optional elastic distortions, one per image,
    applied per batch while training.

    The three affine draws are composed into one map per image, and each
    image is resampled once (bilinear, zero fill, as
    `keras.ops.image.affine_transform`), by a sampler XLA compiles: a third
    of the cost of `affine_transform`, itself a third of Keras's
    RandomRotation, RandomZoom and RandomTranslation layers in sequence.
    With `elastic_alpha`, each image also gets Simard et al.'s (2003) elastic
    distortion: uniform random displacements smoothed by a Gaussian of
    `elastic_sigma` pixels and scaled by `elastic_alpha`, added to the affine
    map before that one resampling.

    Args:
        shift: largest translation, as a fraction of the image side.
        rotation: largest rotation, in degrees.
        zoom: largest zoom in or out, as a fraction.
        elastic_alpha: scale of the elastic displacement field, in pixels; 0 turns it off.
        elastic_sigma: smoothness of the elastic displacement field, in pixels.
    """

    shift: float = 0.1
    rotation: float = 10.0
    zoom: float = 0.1
    elastic_alpha: float = 0.0
    elastic_sigma: float = 6.0

    def transforms(self, count: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """`count` random output-to-input maps [a0 a1 a2 b0 b1 b2 0 0] about the image centre."""
        draws = tf.random.stateless_uniform((4, count), seed=seed, minval=-1.0, maxval=1.0)
        angle = draws[0] * self.rotation * math.pi / 180.0
        scale = 1.0 + draws[1] * self.zoom
        shift_x, shift_y = draws[2] * self.shift * IMAGE_SIDE, draws[3] * self.shift * IMAGE_SIDE
        cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
        centre = (IMAGE_SIDE - 1) / 2.0
        zeros = tf.zeros_like(cos)
        return tf.stack([cos, -sin, centre - cos * centre + sin * centre - shift_x,
                         sin, cos, centre - sin * centre - cos * centre - shift_y, zeros, zeros], axis=1)

    def displacements(self, count: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """`count` elastic displacement fields (B, 28, 28, 2) of (x, y) offsets in pixels."""
        return self._smooth(self._noise(count, seed))

    @staticmethod
    def _noise(count: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """`count` fields (B, 28, 28, 2) of uniform noise in [-1, 1)."""
        return tf.random.stateless_uniform((count, IMAGE_SIDE, IMAGE_SIDE, 2), seed=seed, minval=-1.0, maxval=1.0)

    def _smooth(self, noise: tf.Tensor) -> tf.Tensor:
        """Noise fields smoothed by a Gaussian of `elastic_sigma` pixels and scaled by `elastic_alpha`."""
        radius = math.ceil(2 * self.elastic_sigma)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / self.elastic_sigma) ** 2)
        taps = np.tile((taps / taps.sum()).astype(np.float32)[:, None, None], (1, 2, 1))  # (taps, 2 channels, 1)
        smooth_rows = tf.nn.depthwise_conv2d(noise, tf.constant(taps[None]), [1, 1, 1, 1], "SAME")
        smooth = tf.nn.depthwise_conv2d(smooth_rows, tf.constant(taps[:, None]), [1, 1, 1, 1], "SAME")
        return smooth * self.elastic_alpha

    def __call__(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """Distort a uint8 batch (B, 28, 28) with a stateless `seed` pair; uint8 out."""
        count = tf.shape(images)[0]
        offsets = self.displacements(count, seed + 1) if self.elastic_alpha else None
        return self._warp(images, self.transforms(count, seed), offsets)

    def stack(self, images: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
        """Distort a stack of uint8 batches (n, B, 28, 28), batch k with the seed pair `seeds[k]`: the images
        each batch's own call gives, its random draws made batch by batch, the elastic smoothing and the
        resampling done once for the whole stack."""
        shape = tf.shape(images)

        def per_batch(draw: Callable[[tf.Tensor], tf.Tensor]) -> tf.Tensor:
            drawn = tf.map_fn(draw, seeds, fn_output_signature=tf.float32)
            return tf.reshape(drawn, tf.concat([[-1], tf.shape(drawn)[2:]], axis=0))

        transforms = per_batch(lambda seed: self.transforms(shape[1], seed))
        offsets = self._smooth(per_batch(lambda seed: self._noise(shape[1], seed + 1))) if self.elastic_alpha else None
        return tf.reshape(self._warp(tf.reshape(images, (-1, IMAGE_SIDE, IMAGE_SIDE)), transforms, offsets), shape)

    def _warp(self, images: tf.Tensor, transforms: tf.Tensor, offsets: tf.Tensor | None) -> tf.Tensor:
        """uint8 images (N, 28, 28) resampled at their affine maps (plus elastic `offsets`); uint8 out."""
        moved = self._resample(tf.cast(images, tf.float32), transforms, offsets)
        return tf.cast(tf.clip_by_value(tf.round(moved), 0.0, 255.0), tf.uint8)

    @staticmethod
    @tf.function(jit_compile=True)
    def _resample(images: tf.Tensor, transforms: tf.Tensor, offsets: tf.Tensor | None) -> tf.Tensor:
        """Bilinear samples of float images (B, 28, 28) at the affine maps' points (plus `offsets`), zero fill.

        Hand-written because `keras.ops.image.map_coordinates` needs a static
        batch size, which a tf.data batch does not have. Compiled by XLA into
        one loop: op by op, its gathers and element-wise steps took over half
        of an elastic batch's distortion on 2 cores, and `affine_transform`
        took 3.2 times as long as this on an epoch's stack (issue 5's notes).
        XLA gives each image the same samples whatever the batch size.
        """
        rows, cols = tf.meshgrid(*[tf.range(IMAGE_SIDE, dtype=tf.float32)] * 2, indexing="ij")
        a0, a1, a2, b0, b1, b2 = [tf.reshape(transforms[:, i], (-1, 1, 1)) for i in range(6)]
        source_x = a0 * cols + a1 * rows + a2
        source_y = b0 * cols + b1 * rows + b2
        if offsets is not None:
            source_x, source_y = source_x + offsets[..., 0], source_y + offsets[..., 1]
        left, top = tf.floor(source_x), tf.floor(source_y)
        right_weight, bottom_weight = source_x - left, source_y - top
        left, top = tf.cast(left, tf.int32), tf.cast(top, tf.int32)
        pixels = tf.reshape(images, [-1])
        first_pixel = tf.reshape(tf.range(tf.shape(images)[0]) * IMAGE_SIDE * IMAGE_SIDE, (-1, 1, 1))

        def tap(row: tf.Tensor, col: tf.Tensor) -> tf.Tensor:
            inside = (row >= 0) & (row < IMAGE_SIDE) & (col >= 0) & (col < IMAGE_SIDE)
            row, col = tf.clip_by_value(row, 0, IMAGE_SIDE - 1), tf.clip_by_value(col, 0, IMAGE_SIDE - 1)
            return tf.where(inside, tf.gather(pixels, first_pixel + row * IMAGE_SIDE + col), 0.0)

        upper = (1 - right_weight) * tap(top, left) + right_weight * tap(top, left + 1)
        lower = (1 - right_weight) * tap(top + 1, left) + right_weight * tap(top + 1, left + 1)
        return (1 - bottom_weight) * upper + bottom_weight * lower


def encode_labels(labels: tf.Tensor, *, one_hot: bool, label_smoothing: float) -> tf.Tensor:
    """Sparse labels as they are, or one-hot with smoothing: true class 1 - eps + eps/10, others eps/10."""
    if not one_hot:
        return labels
    return tf.one_hot(labels, NUM_CLASSES) * (1.0 - label_smoothing) + label_smoothing / NUM_CLASSES


def shuffled_batches(
    images: tf.Tensor, labels: tf.Tensor, batch_size: int, seed: int | None, stacked: bool = False
) -> tf.data.Dataset:
    """(images, labels) batches of one fresh permutation of the whole set per pass, the last batch short;
    `stacked`, the same batches as two elements: the full ones stacked (n, B, ...), the short one (1, r, ...).

    One stateless shuffle of the whole set per epoch, gathered in one op and
    cut into batches by a reshape: no per-element shuffle buffer (which cost
    the MLPs about 7% of their training speed on 2 cores) and no gather per
    batch (which cost `mlp_sigmoid` 16%).
    """
    count = int(labels.shape[0])
    full = count // batch_size

    def epoch(draw: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=tf.stack([draw, 0]))
        shuffled_images, shuffled_labels = tf.gather(images, order), tf.gather(labels, order)
        cut = full * batch_size
        full_batches = (tf.reshape(shuffled_images[:cut], (full, batch_size, *images.shape[1:])),
                        tf.reshape(shuffled_labels[:cut], (full, batch_size)))
        short_batch = (shuffled_images[cut:], shuffled_labels[cut:])
        if stacked:  # an element each: the stack of full batches, and the short batch as a stack of one
            parts = [tf.data.Dataset.from_tensors(full_batches)] if full else []
            short = tf.data.Dataset.from_tensors(tuple(part[None] for part in short_batch))
        else:
            parts = [tf.data.Dataset.from_tensor_slices(full_batches)]
            short = tf.data.Dataset.from_tensors(short_batch)
        if cut < count:
            parts.append(short)
        return functools.reduce(tf.data.Dataset.concatenate, parts)

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    elements = int(full > 0) + int(count % batch_size > 0) if stacked else -(-count // batch_size)
    return draws.flat_map(epoch).apply(tf.data.experimental.assert_cardinality(elements))


def distort(
    augment: Augmentation, augmenting: tf.Variable | None, images: tf.Tensor, seeds: tf.Tensor, stacked: bool
) -> tf.Tensor:
    """A batch distorted with its seed pair, or (`stacked`) a stack of n batches with the first n of
    `seeds`; `images` unchanged while the `augmenting` switch is off."""
    def distorted() -> tf.Tensor:
        return augment.stack(images, seeds[: tf.shape(images)[0]]) if stacked else augment(images, seeds)

    if augmenting is None:
        return distorted()
    return tf.cond(augmenting, distorted, lambda: images)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    augment: Augmentation | None = None,
    augmenting: tf.Variable | None = None,
    label_smoothing: float = 0.0,
    one_hot: bool = False,
    seed: int | None = None,
    stacked: bool = False,
) -> tf.data.Dataset:
    """A dataset of (uint8 images (B, 28, 28), labels) batches.

    The arrays stay resident as tensors. Shuffling (every epoch, over the
    whole set, when `training`) is one gather of the epoch cut into batches,
    evaluation gathers each batch by index, and augmentation (per batch, when
    `training` and `augment`) is vectorised.
    A boolean `augmenting` variable, read as each batch is made, switches the
    augmentation off while it holds False (see `CleanTail`).
    The last short batch is kept. Labels are int32 class ids, or float32
    one-hot rows when `one_hot` (with `label_smoothing`, as reference S0).
    `stacked` (training) gives each epoch's batches as stacks, for a train step
    that runs a stack in one call (`compiling.stacked_steps`): the same batches,
    with the same distortions, each stack distorted in one call.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if label_smoothing and not one_hot:
        raise ConfigError("label_smoothing needs one_hot=True")
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if stacked and not training:
        raise ConfigError("stacked batches are for training")
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    images = tf.constant(np.asarray(images, dtype=np.uint8))
    labels = tf.constant(np.asarray(labels, dtype=np.int32))
    if training:
        dataset = shuffled_batches(images, labels, batch_size, seed, stacked)
    else:
        dataset = tf.data.Dataset.range(len(labels)).batch(batch_size).map(
            lambda index: (tf.gather(images, index), tf.gather(labels, index)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if training and augment is not None:
        # one stateless seed pair per batch, fresh every epoch: reproducible under a fixed seed
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        if stacked:  # the pairs batch by batch as unstacked: a stack of the full batches', then the short one's
            seeds = seeds.batch(max(len(labels) // batch_size, 1))
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda example, pairs: (distort(augment, augmenting, example[0], pairs, stacked), example[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if one_hot:
        dataset = dataset.map(
            lambda batch, target: (batch, encode_labels(target, one_hot=True, label_smoothing=label_smoothing)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    # under a multi-worker strategy each worker keeps its share of every batch; the same seed
    # gives every worker the same order, so the shares partition the epoch
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # tf.data's autotuner, on this 2-core VM, now and then pins training at a fixed slow rate
    # (cnn_small at 4.0k images/s against 8k, mlp_bn at 21.5k against 31k) for whole epochs;
    # without it the AUTOTUNE parallelism and buffer above take tf.data's fixed defaults
    options.autotune.enabled = False
    if stacked:  # a stack is one element, made by one call: its ops may use every core (0), where tf.data
        # ran them on one, which made distorting a stack slower than distorting its batches in parallel
        options.threading.max_intra_op_parallelism = 0
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
