"""The shared tf.data pipeline: batching, shuffling, label encodings and augmentation on real images."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnist_zoo import Augmentation, ConfigError, make_dataset
from mnist_zoo.training.callbacks import CleanTail


def collect(dataset):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return images, labels


def test_evaluation_keeps_order_and_short_last_batch(small_mnist):
    _, (x_test, y_test) = small_mnist
    images, labels = collect(make_dataset(x_test[:1000], y_test[:1000], batch_size=300, training=False))
    assert [len(batch) for batch in images] == [300, 300, 300, 100]
    assert images[0].dtype == np.uint8 and images[0].shape[1:] == (28, 28)
    np.testing.assert_array_equal(np.concatenate(images), x_test[:1000])
    np.testing.assert_array_equal(np.concatenate(labels), y_test[:1000])


def test_training_shuffles_every_epoch_and_sees_every_image_once_with_its_label(small_mnist):
    (x_train, _), _ = small_mnist
    dataset = make_dataset(x_train[:1000], np.arange(1000), batch_size=128, training=True, seed=3)  # label = index
    assert int(dataset.cardinality()) == 8  # fit knows the epoch's length before the first pass
    epochs = [collect(dataset) for _ in range(2)]
    assert [len(batch) for batch in epochs[0][0]] == [128] * 7 + [104]
    for image_batches, label_batches in epochs:
        indices = np.concatenate(label_batches)
        np.testing.assert_array_equal(np.sort(indices), np.arange(1000))
        np.testing.assert_array_equal(np.concatenate(image_batches), x_train[indices])
    assert not np.array_equal(np.concatenate(epochs[0][1]), np.concatenate(epochs[1][1]))


@pytest.mark.parametrize("augment", [None, Augmentation(), Augmentation(elastic_alpha=36.0)], ids=["plain", "affine", "elastic"])
def test_stacked_batches_are_the_same_batches_in_two_elements(small_mnist, augment):
    """What a train step running a stack in one call gets: each epoch's batches, the same as unstacked
    (and distorted the same), the full ones as one (n, B) stack and the short one as a (1, r) stack."""
    (x_train, _), _ = small_mnist
    options = {"batch_size": 128, "training": True, "seed": 3, "augment": augment}
    batches = make_dataset(x_train[:1000], np.arange(1000), **options)  # label = index
    stacks = make_dataset(x_train[:1000], np.arange(1000), stacked=True, **options)
    assert int(stacks.cardinality()) == 2
    for _ in range(2):  # a fresh order (and fresh distortions) each epoch, the same in both
        images, labels = collect(stacks)
        assert [stack.shape for stack in images] == [(7, 128, 28, 28), (1, 104, 28, 28)]
        expected_images, expected_labels = collect(batches)
        np.testing.assert_array_equal(np.concatenate([stack.reshape(-1, 28, 28) for stack in images]),
                                      np.concatenate(expected_images))
        np.testing.assert_array_equal(np.concatenate([stack.reshape(-1) for stack in labels]),
                                      np.concatenate(expected_labels))
        distorted = np.concatenate(expected_images) != x_train[np.concatenate(expected_labels)]
        assert distorted.mean() > 0.1 if augment else not distorted.any()
    for count, shape in ((256, (2, 128, 28, 28)), (100, (1, 100, 28, 28))):  # no short batch; no full one
        stacks = make_dataset(x_train[:count], np.arange(count), stacked=True, **options)
        (stack,), _ = collect(stacks)
        assert stack.shape == shape and int(stacks.cardinality()) == 1
        batches = make_dataset(x_train[:count], np.arange(count), **options)
        np.testing.assert_array_equal(stack.reshape(-1, 28, 28), np.concatenate(collect(batches)[0]))


def test_pipeline_runs_without_the_autotuner(small_mnist):
    # the autotuner held training at a fixed, slower rate for whole epochs on 2 cores (README, Speed)
    (x_train, y_train), _ = small_mnist
    for augment in (None, Augmentation()):
        dataset = make_dataset(x_train[:256], y_train[:256], batch_size=64, training=True, augment=augment, seed=1)
        assert dataset.options().autotune.enabled is False


def test_training_order_is_reproducible_with_a_seed(small_mnist):
    (x_train, y_train), _ = small_mnist
    runs = [collect(make_dataset(x_train[:500], y_train[:500], batch_size=100, training=True, seed=7))[1] for _ in range(2)]
    np.testing.assert_array_equal(np.concatenate(runs[0]), np.concatenate(runs[1]))


def test_one_hot_with_label_smoothing_as_s0(small_mnist):
    _, (x_test, y_test) = small_mnist
    _, labels = collect(make_dataset(x_test[:10], y_test[:10], batch_size=10, training=False, one_hot=True, label_smoothing=0.2))
    rows = labels[0]
    assert rows.shape == (10, 10) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[np.arange(10), y_test[:10]], 0.82, rtol=1e-6)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=1e-6)
    assert np.isclose(rows.min(), 0.02)


def test_the_compiled_sampler_warps_as_keras_affine_transform(small_mnist):
    """The affine distortion samples bilinearly with zero fill at each image's map, as Keras's own
    `affine_transform` does; XLA's arithmetic may flip a rounding now and then, by one grey level."""
    _, (x_test, _) = small_mnist
    images, seed = tf.constant(x_test[:1000]), tf.constant([4, 2], tf.int64)
    augment = Augmentation(rotation=15.0, zoom=0.15, shift=0.15)
    transforms = augment.transforms(1000, seed)
    keras_warp = keras.ops.image.affine_transform(tf.cast(images, tf.float32)[..., None], transforms)[..., 0]
    expected = np.clip(np.round(keras_warp.numpy()), 0, 255).astype(int)
    difference = np.abs(augment(images, seed).numpy().astype(int) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-4
    assert (expected != x_test[:1000]).mean() > 0.1  # a real distortion


def test_augmentation_distorts_but_keeps_the_digit(small_mnist):
    _, (x_test, y_test) = small_mnist
    originals = x_test[:256]
    augmented = collect(make_dataset(originals, y_test[:256], batch_size=256, training=True, augment=Augmentation(), seed=1))[0][0]
    assert augmented.dtype == np.uint8 and augmented.shape == originals.shape
    ink = lambda images: images.reshape(len(images), -1).astype(float).sum(axis=1)  # noqa: E731
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(augmented, originals)])
    assert changed > 0.9
    # mild affine distortions keep most of the ink (zoom and rotation move, not erase, strokes)
    assert 0.7 < ink(augmented).sum() / ink(originals).sum() < 1.3


def test_elastic_distortion_adds_to_the_affine_map_in_one_resampling(small_mnist):
    _, (x_test, y_test) = small_mnist
    originals = x_test[:256]

    def distorted(augment):
        return collect(make_dataset(originals, y_test[:256], batch_size=256, training=True, augment=augment, seed=1))[0][0]

    affine, elastic = distorted(Augmentation()), distorted(Augmentation(elastic_alpha=36.0))
    # a vanishing field samples at the affine maps' points
    assert np.abs(distorted(Augmentation(elastic_alpha=1e-4)).astype(int) - affine).max() <= 1
    np.testing.assert_array_equal(elastic, distorted(Augmentation(elastic_alpha=36.0)))
    assert np.mean([not np.array_equal(a, b) for a, b in zip(elastic, affine)]) > 0.9
    assert 0.9 < elastic.astype(float).sum() / affine.astype(float).sum() < 1.1
    # strong smooth displacements move strokes further than mild ones
    mild = distorted(Augmentation(elastic_alpha=8.0))
    assert np.abs(elastic.astype(int) - affine).mean() > np.abs(mild.astype(int) - affine).mean()


class BatchRecorder(keras.Sequential):
    """A real classifier that also keeps every batch it trains on (run eagerly)."""

    seen: list[np.ndarray]

    def train_step(self, data):
        self.seen.append(np.asarray(data[0]))
        return super().train_step(data)


def test_clean_tail_trains_the_last_epochs_of_fit_on_undistorted_images(small_mnist):
    (x_train, y_train), _ = small_mnist
    originals = {image.tobytes() for image in x_train[:256]}
    augmenting = tf.Variable(True, trainable=False)
    dataset = make_dataset(x_train[:256], y_train[:256], batch_size=64, training=True, augment=Augmentation(),
                           augmenting=augmenting, seed=2)
    model = BatchRecorder([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Rescaling(1 / 255),
                           keras.layers.Dense(10)])
    model.seen = []
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    model.fit(dataset, epochs=3, callbacks=[CleanTail(augmenting, first_clean_epoch=2)], verbose=0, shuffle=False)
    assert len(model.seen) == 12  # 3 epochs of 4 batches
    untouched = [np.mean([image.tobytes() in originals for image in batch]) for batch in model.seen]
    assert max(untouched[:8]) < 0.1  # epochs 1-2: distorted
    assert untouched[8:] == [1.0] * 4  # epoch 3: every image as it is on disk
    assert not bool(augmenting.numpy())


def test_the_augmenting_switch_holds_for_stacked_batches(small_mnist):
    """`CleanTail`'s switch, read as each stack is made, as it is for each batch."""
    (x_train, _), _ = small_mnist
    augmenting = tf.Variable(False, trainable=False)
    dataset = make_dataset(x_train[:200], np.arange(200), batch_size=64, training=True, augment=Augmentation(),
                           augmenting=augmenting, seed=2, stacked=True)
    for switch, distorted in ((False, False), (True, True)):
        augmenting.assign(switch)
        images, labels = collect(dataset)
        changed = np.concatenate([stack.reshape(-1, 28, 28) for stack in images]) != x_train[np.concatenate(
            [stack.reshape(-1) for stack in labels])]
        assert changed.any() == distorted


def test_no_augmentation_when_evaluating(small_mnist):
    _, (x_test, y_test) = small_mnist
    images = collect(make_dataset(x_test[:64], y_test[:64], batch_size=64, training=False, augment=Augmentation()))[0][0]
    np.testing.assert_array_equal(images, x_test[:64])


@pytest.mark.parametrize(
    "options, match",
    [
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"batch_size": 8, "label_smoothing": 0.1}, "needs one_hot"),
        ({"batch_size": 8, "one_hot": True, "label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\)"),
        ({"batch_size": 8, "stacked": True, "training": False}, "stacked batches are for training"),
    ],
)
def test_bad_pipeline_options(small_mnist, options, match):
    _, (x_test, y_test) = small_mnist
    with pytest.raises(ConfigError, match=match):
        make_dataset(x_test[:8], y_test[:8], **{"training": True, **options})
