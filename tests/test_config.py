"""Recipes load into checked dataclasses; bad keys, types and values are errors naming key and file."""

from __future__ import annotations

import pytest

from mnist_zoo import ConfigError, list_models
from mnist_zoo.config import (
    RECIPES_DIR,
    RunConfig,
    load_config,
    parse_assignment,
    recipe_path,
    resolve_config,
    to_toml,
    with_overrides,
)


def test_every_entry_has_a_valid_recipe_that_names_it():
    for name in list_models():
        config = load_config(recipe_path(name))
        assert config.model.name == name
        assert config.description


def test_every_recipe_round_trips_through_toml(tmp_path):
    for path in sorted(RECIPES_DIR.rglob("*.toml")):
        config = load_config(path)
        copy = tmp_path / "config.toml"
        copy.write_text(to_toml(config))
        assert load_config(copy) == config, path


def test_resolved_config_holds_every_builder_option():
    config = resolve_config("cnn_small")
    assert config.model.options["filters"] == (32, 64)
    assert set(config.model.options) >= {"dense", "dropout", "initializer", "l2", "normalization"}


def test_overrides_by_section_key_and_bare_key():
    config = with_overrides(resolve_config("mlp_bn"), {"epochs": 3, "optimizer.learning_rate": 0.5, "model.hidden": [64]})
    assert config.train.epochs == 3 and config.optimizer.learning_rate == 0.5
    assert config.model.options["hidden"] == (64,)
    other = with_overrides(config, {"model.name": "logistic"})
    assert other.model.name == "logistic" and "hidden" not in other.model.options


@pytest.mark.parametrize(
    "assignment, expected",
    [
        ("optimizer.learning_rate=1e-3", ("optimizer.learning_rate", 1e-3)),
        ("model.hidden=[256, 64]", ("model.hidden", [256, 64])),
        ("data.augment=true", ("data.augment", True)),
        ("model.name=cnn_small", ("model.name", "cnn_small")),
        ('data.source="/tmp/x y"', ("data.source", "/tmp/x y")),
    ],
)
def test_parse_assignment(assignment, expected):
    assert parse_assignment(assignment) == expected


@pytest.mark.parametrize(
    "text, match",
    [
        ("[train]\nepochz = 3\n", r"unknown key train\.epochz"),
        ("[trian]\nepochs = 3\n", r"unknown section or key 'trian'"),
        ("[train]\nepochs = \"ten\"\n", r"train\.epochs: expected int"),
        ("[train]\nepochs = 0\n", r"train\.epochs must be >= 1, got 0"),  # not a range that depends on it
        ("[train]\nbatch_size = 0\n", r"train\.batch_size must be >= 1, got 0"),
        ("[optimizer]\nlearning_rate = -0.1\n", r"optimizer\.learning_rate must be a positive number"),
        ("[optimizer]\nname = \"adagrad\"\n", r"optimizer\.name must be one of"),
        ("[optimizer]\nema_momentum = 1.0\n", r"optimizer\.ema_momentum must be in \[0, 1\)"),
        ("[schedule]\nname = \"linear\"\n", r"schedule\.name must be one of"),
        ("[train]\nloss = \"l1\"\n", r"train\.loss must be one of"),
        ("[train]\nprecision = \"float16\"\n", r"train\.precision must be one of auto, float32, mixed_float16, mixed_bfloat16"),
        ("[model]\nname = \"resnet\"\n", r"unknown model 'resnet'"),
        ("[model]\nname = \"mlp_bn\"\nwidth = 3\n", r"unknown option 'width' for model 'mlp_bn'"),
        ("[model]\nname = \"mlp_bn\"\nhidden = 3\n", r"option mlp_bn\.hidden: expected a non-empty tuple"),
        ("[data]\nlabel_smoothing = 1.0\n", r"data\.label_smoothing must be in \[0, 1\)"),
        ("[data]\naugment = true\nclean_epochs = 10\n", r"data\.clean_epochs must be in \[0, train\.epochs\), got 10"),
        ("[data]\nclean_epochs = 2\n", r"data\.clean_epochs must be 0 when data\.augment is false, got 2"),
        ("[train\nepochs = 3\n", r"malformed TOML"),
        ("train = 3\n", r"train must be a table"),
    ],
)
def test_bad_config_files(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_bad_overrides():
    base = RunConfig()
    with pytest.raises(ConfigError, match="write it as section.key"):
        with_overrides(base, {"name": "x"})
    with pytest.raises(ConfigError, match=r"unknown key train\.epochz"):
        with_overrides(base, {"train.epochz": 1})
    with pytest.raises(ConfigError, match="expected section.key=value"):
        parse_assignment("train.epochs")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
