"""Registry behaviour, and every entry builds, takes raw uint8 pixels, has its documented size and learns."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnist_zoo import ConfigError, build, list_models, make_dataset, model_card, register_model
from mnist_zoo.config import recipe_path, resolve_config
from mnist_zoo.models.flops import count_flops, count_training_flops

# Parameter counts written out from each architecture (weights + biases; BatchNorm has 4 per unit).
DOCUMENTED_PARAMS = {
    "logistic": 784 * 10 + 10,
    "mlp_shallow": 784 * 256 + 256 + 256 * 10 + 10,
    "mlp_sigmoid": 784 * 100 + 100 + 100 * 30 + 30 + 30 * 10 + 10,
    "mlp_relu": 784 * 256 + 256 + 256 * 64 + 64 + 64 * 10 + 10,
    "mlp_bn": 784 * 512 + 4 * 512 + 512 * 512 + 4 * 512 + 512 * 10 + 10,
    "cnn_small": (9 * 32 + 32) + (9 * 32 * 64 + 64) + (1600 * 64 + 64) + (64 * 10 + 10),
    # 28 -(5x5/2)-> 12 -(3x3/2)-> 5: 5 * 5 * 64 = 1600 features
    "cnn_fast": (25 * 32 + 32) + (9 * 32 * 64 + 64) + (1600 * 128 + 128) + (128 * 10 + 10),
    # bias-free convolutions and Dense with BatchNorm; 28 -> 26 -> 24 -(5x5/2)-> 12 -> 10 -> 8 -(5x5/2)-> 4
    "cnn_bn": (9 * 48 + 9 * 48 * 48 + 25 * 48 * 48 + 3 * 4 * 48) + (9 * 48 * 96 + 9 * 96 * 96 + 25 * 96 * 96 + 3 * 4 * 96)
    + (4 * 4 * 96 * 128 + 4 * 128) + (128 * 10 + 10),
}

# Accuracy on 2,000 real test images after 250 Adam steps on 4,000 real training images.
ACCURACY_FLOORS = {
    "logistic": 0.75,
    "mlp_shallow": 0.78,
    "mlp_sigmoid": 0.65,
    "mlp_relu": 0.85,
    "mlp_bn": 0.80,
    "cnn_small": 0.88,
    "cnn_fast": 0.88,
    "cnn_bn": 0.88,
}
# the champion's default build costs 13x a cnn_small image (67.9 against 5.1 MFLOPs); one epoch of the
# subset clears its floor (0.91)
EPOCHS = {"cnn_bn": 1}


def test_registry_lists_the_reference_entries():
    assert set(DOCUMENTED_PARAMS) <= set(list_models())
    assert list_models("mlp_*") == ["mlp_bn", "mlp_relu", "mlp_shallow", "mlp_sigmoid"]
    assert list_models("mlp_*", exclude="*_s*") == ["mlp_bn", "mlp_relu"]
    assert list_models("nothing*") == []


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp_bn", reference="x")(lambda: None)


def test_unknown_model_names_closest_matches():
    with pytest.raises(ValueError, match="unknown model 'mlp_nb'; did you mean mlp_bn"):
        build("mlp_nb")


@pytest.mark.parametrize(
    "options, match",
    [
        ({"widht": 3}, "unknown option 'widht' for model 'mlp_bn'"),
        ({"hidden": 512}, "option mlp_bn.hidden: expected a non-empty tuple"),
        ({"hidden": []}, "option mlp_bn.hidden: expected a non-empty tuple of positive ints like"),
        ({"hidden": [256, 0]}, "option mlp_bn.hidden: expected a non-empty tuple of positive ints like"),
        ({"dropout": "0.1"}, "option mlp_bn.dropout: expected float"),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\)"),
        ({"normalization": "zscore"}, "unknown normalization 'zscore'"),
        ({"initializer": "normal(0.1)"}, "unknown initializer"),
        ({"activation": "nope"}, "model 'mlp_bn'"),
    ],
)
def test_bad_options_are_clear_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        build("mlp_bn", **options)


def test_options_change_the_model():
    model = build("mlp_shallow", hidden=128, activation="sigmoid", normalization="s3", initializer="normal(0.0, 0.1)")
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert build("mlp_bn", hidden=[100, 30]).count_params() == 784 * 100 + 400 + 100 * 30 + 120 + 310


def test_torch_default_initializer_is_uniform_within_one_over_sqrt_fan_in():
    keras.utils.set_random_seed(0)
    kernel = keras.ops.convert_to_numpy(build("mlp_relu", initializer="torch_default").get_layer("dense_1").kernel)
    bound = 1 / np.sqrt(784)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.99 * bound
    assert abs(kernel.std() - bound / np.sqrt(3)) < 0.01 * bound  # the std of U(-b, b)


def test_batch_norm_uses_pytorch_momentum():
    assert build("mlp_bn").get_layer("batch_norm_1").momentum == 0.9


@pytest.mark.parametrize("mode, low, high", [("unit", 0, 1), ("centered", -0.5, 0.5), ("standardize", -0.4242, 2.8215), ("s3", 0.01, 1.0)])
def test_normalization_modes(mode, low, high):
    model = build("logistic", normalization=mode)
    layer = model.get_layer(f"normalize_{mode}")
    out = keras.ops.convert_to_numpy(layer(np.array([[0, 255]], np.uint8)))
    np.testing.assert_allclose(out[0], [low, high], atol=1e-4)


def test_model_card_fields():
    card = model_card("cnn_small")
    assert card.params == DOCUMENTED_PARAMS["cnn_small"]
    # conv1 26*26*32*9, conv2 11*11*64*288, fc 1600*64, out 64*10 multiply-adds, times two
    assert card.flops == 2 * (26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 1600 * 64 + 64 * 10)
    assert card.reference.startswith("S4") and card.recipe == "zoo_configs/cnn_small.toml"
    assert card.defaults["filters"] == (32, 64)
    assert card.accuracy is None or 0.9 < card.accuracy <= 1.0


def test_training_flops_skip_only_the_first_layers_input_gradient():
    # forward, weight gradients and input gradients, each the forward's multiply-adds, but no gradient
    # for the images: 784x512 (mlp_bn) and the 3x3x1x32 convolution over 26x26 positions (cnn_small)
    # once less; the nested-model case counts the layers inside
    mlp = 784 * 512 + 512 * 512 + 512 * 10
    assert count_training_flops(build("mlp_bn")) == 2 * (3 * mlp - 784 * 512) + 3 * 2 * (2 * 512)  # + BatchNorm
    convolutions = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 1600 * 64 + 64 * 10
    assert count_training_flops(build("cnn_small")) == 2 * (3 * convolutions - 26 * 26 * 32 * 9)
    outer = keras.Sequential([keras.Input((28, 28)), build("cnn_small")])
    assert count_training_flops(outer) == count_training_flops(build("cnn_small"))


@pytest.mark.parametrize("name", list_models())
def test_model_card_summary_is_the_docstrings_whole_first_paragraph(name):
    summary = model_card(name).summary
    assert summary.endswith(".") and "\n" not in summary and "  " not in summary, summary


@pytest.mark.parametrize("name", [name for name in list_models() if recipe_path(name).exists()])
def test_recipe_builds_the_architecture_of_its_card(name):
    """The card's size and cost describe `build(name)`, and its accuracy the recipe's runs: the two must agree."""
    card = model_card(name)
    model = build(name, **resolve_config(name).model.options)
    assert (model.count_params(), count_flops(model)) == (card.params, card.flops)


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PARAMS))
def test_entry_builds_takes_uint8_and_learns(name, small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    keras.utils.set_random_seed(0)
    model = build(name)
    assert model.count_params() == DOCUMENTED_PARAMS[name]
    assert model.inputs[0].dtype == "uint8" and tuple(model.inputs[0].shape) == (None, 28, 28)
    assert tuple(model.outputs[0].shape) == (None, 10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(make_dataset(x_train, y_train, batch_size=32, training=True, seed=0), epochs=EPOCHS.get(name, 2),
              shuffle=False, verbose=0)
    _, accuracy = model.evaluate(make_dataset(x_test, y_test, batch_size=500, training=False), verbose=0)
    assert accuracy >= ACCURACY_FLOORS[name], f"{name}: {accuracy:.4f}"
