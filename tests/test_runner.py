"""The runner on small real subsets: outputs, schedules against the lr column, early stopping, seeds."""

from __future__ import annotations

import json
import math
import re

import keras
import numpy as np
import pytest

from mnist_zoo import ConfigError, train
from mnist_zoo.config import load_config, recipe_path, resolve_config, with_overrides
from mnist_zoo.training.callbacks import TrainingDiverged, read_history
from mnist_zoo.training.optimizers import slow_average_warning
from mnist_zoo.training.compiling import compile_model, stacks_batches, takes_stacks
from mnist_zoo.training.runner import backed_up_epochs, load_run_data, model_and_training_set, training_set

STEPS = 4  # 256 training images in batches of 64
TINY = {"data.train_size": 256, "data.validation_size": 500, "data.test_size": 500, "train.batch_size": 64}


def tiny_run(tmp_path, name="run", model="logistic", **overrides):
    return train(model, out=tmp_path / name, **{**TINY, **overrides})


def test_run_directory_holds_every_output(tmp_path, mnist):
    run = tiny_run(tmp_path, model="mlp_relu", **{"train.epochs": 2, "data.train_size": 2000})
    names = {path.name for path in run.directory.iterdir()}
    assert {"config.toml", "history.csv", "metrics.json", "model.keras", "best.keras", "curves.png",
            "samples.png", "confusion.png", "mistakes.png"} <= names
    assert "backup" not in names  # resume state is dropped once the run is finished
    metrics = json.loads((run.directory / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "val_accuracy", "params", "flops", "train_seconds",
                "train_samples_per_second", "versions", "seed"):
        assert metrics[key] is not None, key
    assert metrics["params"] == 218058 and metrics["test_images"] == 500
    assert 0.5 < metrics["test_accuracy"] <= 1.0
    reloaded = keras.saving.load_model(run.directory / "model.keras", safe_mode=True)
    _, (x_test, _) = mnist
    # called directly, both run the same kernels (the trained model predicts without XLA, the reloaded one
    # compiles as saved): any difference is in the weights
    np.testing.assert_allclose(reloaded(x_test[:50], training=False), run.model(x_test[:50], training=False), atol=1e-6)
    assert load_config(run.directory / "config.toml") == run.config
    assert [row["epoch"] for row in run.history] == [1, 2]


def test_tensorboard_logs_are_written_when_asked(tmp_path, mnist):
    run = tiny_run(tmp_path, **{"train.epochs": 1, "train.tensorboard": True})
    assert list((run.directory / "tensorboard").rglob("events.out.tfevents.*"))


def test_finished_run_is_never_overwritten(tmp_path, mnist):
    tiny_run(tmp_path, **{"train.epochs": 1})
    before = (tmp_path / "run" / "metrics.json").read_text()
    with pytest.raises(ConfigError, match="holds a finished run"):
        tiny_run(tmp_path, **{"train.epochs": 1})
    assert (tmp_path / "run" / "metrics.json").read_text() == before


def expected_lr(name: str, step: int, lr: float, total: int, **cfg) -> float:
    """Closed forms of the promised schedules, written independently of Keras."""
    if name == "constant":
        return lr
    if name == "step":
        return lr * cfg["decay_rate"] ** (step // (cfg["step_epochs"] * STEPS))
    if name == "exponential":
        return lr * cfg["decay_rate"] ** (step / STEPS)
    if name == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * step / total))
    if name == "one_cycle":
        warmup = round(cfg["warmup_epochs"] * STEPS)
        if step < warmup:
            return lr / 25 + (lr - lr / 25) * step / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
    if name == "cosine_restarts":
        length, start = cfg["restart_epochs"] * STEPS, 0
        while step >= start + length:
            start, length = start + length, length * 2
        return lr * 0.5 * (1 + math.cos(math.pi * (step - start) / length))
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name, options",
    [
        ("constant", {}),
        ("step", {"decay_rate": 0.5, "step_epochs": 2}),
        ("exponential", {"decay_rate": 0.5}),
        ("cosine", {}),
        ("cosine_restarts", {"restart_epochs": 1.0}),
        ("one_cycle", {"warmup_epochs": 2.0}),
    ],
)
def test_schedule_learning_rates_match_the_lr_column(tmp_path, mnist, name, options):
    epochs, lr = 6, 0.01
    overrides = {"train.epochs": epochs, "optimizer.learning_rate": lr, "schedule.name": name}
    overrides.update({f"schedule.{key}": value for key, value in options.items()})
    run = tiny_run(tmp_path, **overrides)
    got = [row["lr"] for row in read_history(run.directory / "history.csv")]
    want = [expected_lr(name, epoch * STEPS, lr, epochs * STEPS, **options) for epoch in range(epochs)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    if name != "constant":
        assert len(set(np.round(got, 9))) > 1


def test_early_stopping_stops_and_restores(tmp_path, mnist):
    # A learning rate this small cannot change validation accuracy, so patience 2 ends the run at epoch 3.
    run = tiny_run(tmp_path, **{"train.epochs": 20, "optimizer.learning_rate": 1e-12, "train.early_stopping_patience": 2})
    assert len(run.history) == 3


def test_same_seed_same_history(tmp_path, mnist):
    settings = {"train.epochs": 2, "train.deterministic": True, "train.seed": 5, "data.augment": True, "data.clean_epochs": 1}
    first = tiny_run(tmp_path, "a", model="mlp_relu", **settings).history
    second = tiny_run(tmp_path, "b", model="mlp_relu", **settings).history
    for column in ("loss", "accuracy", "val_loss"):
        assert [row[column] for row in first] == [row[column] for row in second]
    # the clean tail (epoch 2 undistorted) is what sets these runs apart from one distorted throughout
    distorted = tiny_run(tmp_path, "c", model="mlp_relu", **{**settings, "data.clean_epochs": 0}).history
    assert distorted[0]["loss"] == first[0]["loss"]
    assert distorted[1]["loss"] != first[1]["loss"]
    # op determinism was on for those runs only: left on, it would slow later runs and turn XLA off in Keras
    assert compile_model(resolve_config("mlp_bn"), steps_per_epoch=391).jit_compile


def test_divergence_stops_with_a_message_and_keeps_the_last_good_state(tmp_path, mnist):
    # SGD on MSE with the learning rate warming up to 3.0: stable for some epochs, then the loss blows up.
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch \d+, batch \d+: loss") as caught:
        tiny_run(tmp_path, **{"train.epochs": 8, "train.loss": "mse", "optimizer.name": "sgd",
                              "optimizer.learning_rate": 3.0, "schedule.name": "cosine", "schedule.warmup_epochs": 6.0})
    assert "\n" not in str(caught.value)
    epoch = int(re.search(r"epoch (\d+)", str(caught.value)).group(1))
    assert epoch >= 2  # at least one good epoch to keep
    directory = tmp_path / "run"
    assert not (directory / "metrics.json").exists()
    assert backed_up_epochs(directory) == epoch - 1 == len(read_history(directory / "history.csv"))
    best = keras.saving.load_model(directory / "best.keras", safe_mode=True)
    assert all(np.isfinite(keras.ops.convert_to_numpy(weight)).all() for weight in best.weights)


def test_a_finite_blow_up_also_counts_as_divergence(tmp_path, mnist):
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1, batch \d+: loss [0-9.e+]+ is over"):
        tiny_run(tmp_path, model="mlp_bn", **{"train.epochs": 3, "optimizer.learning_rate": 1000.0})


# MSE on one-hot targets learns slowest (S1 needed 3 full epochs for ~88%); 250 steps here.
@pytest.mark.parametrize("loss, floor", [("mse", 0.45), ("sigmoid_bce", 0.8), ("squared_hinge", 0.8)])
def test_one_hot_losses_learn(tmp_path, mnist, loss, floor):
    run = tiny_run(tmp_path, model="mlp_relu", **{"train.epochs": 4, "train.loss": loss, "data.train_size": 2000,
                                                  "train.batch_size": 32, "schedule.name": "constant",
                                                  "model.dropout": 0.0, "data.augment": False})
    assert run.metrics["test_accuracy"] > floor


def test_label_smoothing_trains(tmp_path, mnist):
    run = tiny_run(tmp_path, **{"train.epochs": 3, "data.label_smoothing": 0.2, "data.train_size": 2000})
    assert run.metrics["test_accuracy"] > 0.7


def test_weight_averaging_ends_with_the_average_not_the_last_weights(tmp_path, mnist, capsys):
    # Over these 96 steps an average this slow keeps ~99.9% of the first step's weights: the model ends untrained
    # although the raw weights, which the per-epoch validation sees, have learned. The run says so up front.
    run = tiny_run(tmp_path, model="mlp_relu", **{"train.epochs": 3, "data.train_size": 2000,
                                                  "optimizer.ema_momentum": 0.99999})
    assert run.history[-1]["val_accuracy"] > 0.8
    assert run.metrics["test_accuracy"] < 0.5
    assert "warning: optimizer.ema_momentum = 0.99999 averages over about 100,000 steps, but this run takes 96: " \
           "the final weights keep 100% of the untrained ones" in capsys.readouterr().err


@pytest.mark.parametrize("momentum, steps, leftover", [
    (0.9995, 3 * 469, "49%"),  # cnn_bn's recipe (469 steps an epoch on 60,000 images) cut to 3 epochs
    (0.9995, 24 * 469, None),  # the recipe as committed: 0.4% left
    (0.0, 10, None),  # no average
])
def test_a_run_too_short_for_its_average_is_warned(momentum, steps, leftover):
    warning = slow_average_warning(momentum, steps)
    if leftover is None:
        assert warning is None
    else:
        assert f"takes {steps:,}: the final weights keep {leftover} of the untrained ones" in warning


def test_a_resumed_run_draws_fresh_batches_instead_of_replaying_the_first_epochs(mnist):
    config = with_overrides(resolve_config("mlp_bn"), {"data.train_size": 512, "data.augment": True})
    data = load_run_data(config)

    def one_pass(dataset) -> np.ndarray:
        return np.concatenate([images.numpy() for images, _ in dataset])

    uninterrupted = training_set(config, data)
    first_epochs = [one_pass(uninterrupted) for _ in range(2)]
    resumed = one_pass(training_set(config, data, first_epoch=2))
    assert not any(np.array_equal(resumed, epoch) for epoch in first_epochs)
    np.testing.assert_array_equal(resumed, one_pass(training_set(config, data, first_epoch=2)))


def test_the_s3_recipe_takes_s3s_step(mnist):
    """S3 steps by the cross-entropy gradient summed over its 10 sigmoid outputs, lr 0.1 and L2 1e-2;
    Keras's binary cross-entropy averages over them, so the recipe's lr 1.0 and l2 5e-4 must make
    that same first step."""
    config = with_overrides(resolve_config(recipe_path("reference/s3_sigmoid_sgd")), {"train.steps_per_execution": 1})
    model = compile_model(config, steps_per_epoch=1)
    (x_train, y_train), _ = mnist
    image, target = x_train[:1], np.eye(10, dtype="float32")[y_train[:1]]
    hidden = keras.Model(model.inputs, model.get_layer("sigmoid_1").output)([image]).numpy()
    kernel, bias = (weight.numpy() for weight in model.get_layer("logits").weights)
    delta = 1 / (1 + np.exp(-(hidden @ kernel + bias))) - target  # d(summed BCE)/d(logits)
    model.train_on_batch(image, target)
    stepped = model.get_layer("logits").kernel.numpy()
    np.testing.assert_allclose(stepped, kernel - 0.1 * (hidden.T @ delta + 1e-2 * kernel), atol=1e-6)


@pytest.mark.parametrize("model, jit", [("logistic", "on"), ("cnn_fast", "auto")])  # with XLA, and without
def test_the_train_step_is_traced_once(mnist, model, jit):
    """tf.function traces a function that creates variables twice; the optimizer's slots must
    exist before the first trace, or every run pays for compiling its train step twice."""
    config = with_overrides(resolve_config(model), {**TINY, "train.jit_compile": jit})
    data = load_run_data(config)
    compiled = compile_model(config, steps_per_epoch=STEPS)
    traces = []
    step = compiled.train_step
    compiled.train_step = lambda batch: (traces.append(1), step(batch))[1]
    compiled.fit(training_set(config, data), epochs=2, shuffle=False, verbose=0)  # the pipeline shuffles
    assert len(traces) == 1


@pytest.mark.parametrize("augment", [{}, {"data.augment": True}, {"data.augment": True, "data.elastic_alpha": 36.0}],
                         ids=["plain", "affine", "elastic"])
def test_stacked_batches_train_as_the_same_steps_as_batches_one_at_a_time(mnist, augment):
    """An XLA run of a dense model feeds each epoch as stacks of batches, a call each: the same updates
    and metrics as its batches fed one at a time (10 steps an epoch: 9 full batches and a short one)."""
    config = with_overrides(resolve_config("mlp_sigmoid"), {**TINY, "data.train_size": 600, "data.augment": False,
                                                            "train.jit_compile": "on", **augment})
    data = load_run_data(config)
    dense, convolutional = keras.Sequential([keras.layers.Dense(2)]), keras.Sequential([keras.layers.Conv2D(2, 3)])
    assert stacks_batches(dense, xla=True, replicas=1)
    assert not stacks_batches(dense, xla=False, replicas=1) and not stacks_batches(dense, True, 2)
    assert not stacks_batches(convolutional, xla=True, replicas=1)
    runs = []
    for stacked in (True, False):
        keras.utils.set_random_seed(0)
        model = compile_model(config, steps_per_epoch=10)
        assert takes_stacks(model)  # compile_model followed stacks_batches
        dataset = training_set(config, data, stacked=stacked)
        assert int(dataset.cardinality()) == (2 if stacked else 10)
        history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
        runs.append((int(model.optimizer.iterations), history.history, model.get_weights()))
    (steps, history, weights), (single_steps, single_history, single_weights) = runs
    assert steps == single_steps == 20
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history[key], single_history[key], rtol=1e-5)
    for weight, single in zip(weights, single_weights):
        np.testing.assert_allclose(weight, single, rtol=1e-4, atol=1e-6)


def test_the_benchmarks_training_path_is_built_in_the_configs_precision(mnist):
    """What speed.py and precision.py time, and what their precision columns say, is the same policy."""
    config = with_overrides(resolve_config("cnn_fast"), {**TINY, "train.precision": "mixed_bfloat16"})
    model, dataset = model_and_training_set(config, load_run_data(config), steps_per_epoch=STEPS)
    assert next(layer for layer in model.layers if layer.weights).dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy was the build's only
    images, labels = next(iter(dataset))
    assert not takes_stacks(model) and images.shape == (64, 28, 28) and labels.shape[0] == 64


def test_auto_xla_only_for_dense_models_on_runs_long_enough_to_repay_it():
    def xla(name: str, steps_per_epoch: int, replicas: int = 1) -> bool:
        return compile_model(resolve_config(name), steps_per_epoch, replicas).jit_compile

    assert xla("mlp_bn", 391)  # the recipe: 60 epochs of 391 steps
    assert not xla("mlp_bn", 2), "a 120-step run would spend longer compiling than training"
    assert not xla("mlp_bn", 391, replicas=2) and not xla("cnn_small", 391)
