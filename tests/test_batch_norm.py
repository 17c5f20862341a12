"""The fused BatchNorm layer trains as Keras's; recalibration makes statistics the size-weighted mean
of batch statistics on real images."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from fresh_process import run_script

from mnist_zoo import build, train
from mnist_zoo.models.fused_batch_norm import FusedBatchNormalization
from mnist_zoo.training.batch_norm import batch_norm_layers, recalibrate_batch_norm


def moving_statistics(model: keras.Model) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array(layer.moving_mean), np.array(layer.moving_variance)) for layer in batch_norm_layers(model)]


def recalibrated_statistics(model: keras.Model, images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The statistics a copy of `model` gets from recalibration on `images`; `model` is left as it is."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    recalibrate_batch_norm(copy, images, batch_size=128)
    return moving_statistics(copy)


def training_step(layer: keras.layers.BatchNormalization, features: tf.Tensor) -> tuple[list[np.ndarray], set[str]]:
    """Output, gradients (input, gamma, beta) and then moving statistics of one training call in a
    compiled function, with the names of the ops that function ran."""

    def step(x: tf.Tensor) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            normalized = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(3.0 * normalized))  # a loss whose gradient varies per element
        return [normalized, *tape.gradient(loss, [x, layer.gamma, layer.beta])]

    compiled = tf.function(step)
    ops = {op.type for op in compiled.get_concrete_function(features).graph.get_operations()}
    results = [np.array(t) for t in compiled(features)]
    return results + [np.array(layer.moving_mean), np.array(layer.moving_variance)], ops


@pytest.mark.parametrize("block", ["conv_1a_relu", "conv_2b_relu", "relu_1"])
def test_fused_batch_norm_trains_as_keras_batch_norm(small_mnist, block):
    (x_train, _), _ = small_mnist
    model = build("cnn_bn", dropout=0.0)
    # 4 images: at most 4 x 26 x 26 = 2,704 values a channel, so Bessel's n / (n - 1) is visible
    features = keras.Model(model.inputs[0], model.get_layer(block).output)(x_train[:4], training=True)
    channels = features.shape[-1]
    # momentum 0: the moving statistics become the batch's own
    layers = [FusedBatchNormalization(momentum=0.0), keras.layers.BatchNormalization(momentum=0.0)]
    for layer in layers:
        layer.build(features.shape)
        layer.gamma.assign(np.linspace(0.5, 1.5, channels))
        layer.beta.assign(np.linspace(-1.0, 1.0, channels))
    (fused, fused_ops), (reference, _) = (training_step(layer, features) for layer in layers)

    # images take the fused kernel; (batch, features) inputs take Keras's own ops
    assert ("FusedBatchNormV3" in fused_ops) == (len(features.shape) == 4)
    # over 25 random initialisations the outputs and statistics agreed to 2e-5 of their largest value and
    # the gradients to 2.3e-4 (float32 sums that cancel); Bessel's factor moves the variance by 3.7e-4 or more
    tolerances = {"output": 1e-4, "input gradient": 2e-3, "gamma gradient": 2e-3, "beta gradient": 2e-3,
                  "moving mean": 1e-4, "moving variance": 1e-4}
    for (name, tolerance), got, expected in zip(tolerances.items(), fused, reference):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=tolerance * np.abs(expected).max(), err_msg=name)


# what the README tells users to run: the layer is registered by `import mnist_zoo.models`, not by the
# lazy `import mnist_zoo`
LOAD = """import sys
import keras
import mnist_zoo.models
import numpy as np

model = keras.saving.load_model(sys.argv[1])
print(type(model.get_layer("conv_1a_batch_norm")).__name__)
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


def test_a_saved_model_keeps_its_fused_batch_norm_in_a_fresh_process(small_mnist, tmp_path):
    (x_train, _), _ = small_mnist
    model = build("cnn_bn")
    model(x_train[:64], training=True)  # moves the statistics away from their initial values
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x_train[:64])
    printed = run_script(LOAD, tmp_path / "model.keras", tmp_path / "x.npy", tmp_path / "p.npy", cwd=tmp_path)
    assert printed.split() == [FusedBatchNormalization.__name__]
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict(x_train[:64], verbose=0))


def test_statistics_are_the_size_weighted_mean_of_batch_statistics(small_mnist):
    (x_train, _), _ = small_mnist
    images = x_train[:600]  # batches of 256, 256 and 88
    model = build("cnn_bn", dropout=0.0)
    model(images[:2], training=False)
    weights = [np.array(w) for w in model.trainable_weights]
    layers = batch_norm_layers(model)
    assert len(layers) == 7  # six convolutions and the dense layer

    recalibrate_batch_norm(model, images, batch_size=256)
    got = moving_statistics(model)

    assert all(layer.momentum == 0.9 for layer in layers)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, np.array(after))
    for layer, (mean, variance) in zip(layers, got):
        # in training mode a layer's input depends on the weights and its batch only
        features = keras.Model(model.inputs[0], layer.input)
        axes = tuple(range(len(layer.input.shape) - 1))
        batches = [np.array(features(images[i : i + 256], training=True), dtype=np.float64) for i in range(0, 600, 256)]
        sizes = np.array([len(batch) for batch in batches])
        expected_mean = sum(n * batch.mean(axis=axes) for n, batch in zip(sizes, batches)) / sizes.sum()
        expected_variance = sum(n * batch.var(axis=axes) for n, batch in zip(sizes, batches)) / sizes.sum()
        # float32 reductions over up to 173k values; the first batch's alone differ by 2-20%
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(variance, expected_variance, rtol=1e-3)


def test_a_run_recalibrates_its_final_model_on_clean_training_images(tmp_path, mnist):
    overrides = {"data.train_size": 1024, "data.validation_size": 500, "data.test_size": 500, "train.batch_size": 128,
                 "train.epochs": 1, "model.dropout": 0.0, "data.augment": True, "data.rotation": 20.0,
                 "train.precision": "float32",  # the statistics are compared at float32's tolerances
                 "model.filters": [16, 32]}  # the recipe's 48/96 cost 9x the multiply-adds and test nothing more
    run = train("cnn_bn", out=tmp_path / "recalibrated", **overrides, **{"train.recalibrate_batch_norm": True})
    metrics = json.loads((run.directory / "metrics.json").read_text())
    assert metrics["recalibration_seconds"] > 0
    assert "recalibrate_batch_norm = true" in (run.directory / "config.toml").read_text()

    (x_train, _), _ = mnist
    saved = keras.saving.load_model(run.directory / "model.keras")
    again = recalibrated_statistics(saved, x_train[:1024])
    for (mean, variance), (mean_again, variance_again) in zip(moving_statistics(saved), again):
        np.testing.assert_allclose(mean, mean_again, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(variance, variance_again, rtol=1e-4, atol=1e-5)

    plain = train("cnn_bn", out=tmp_path / "plain", **overrides, **{"train.recalibrate_batch_norm": False})
    assert json.loads((plain.directory / "metrics.json").read_text())["recalibration_seconds"] == 0
    saved = keras.saving.load_model(plain.directory / "model.keras")
    differences = [np.abs(a[0] - b[0]).max()
                   for a, b in zip(moving_statistics(saved), recalibrated_statistics(saved, x_train[:1024]))]
    assert max(differences) > 1e-3  # without it, the statistics are the distorted batches'
