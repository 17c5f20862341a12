"""From a config to a compiled Keras model: its precision, optimizer, schedule, loss and metric, and the
fast path of its train step (XLA, and stacks of batches run in one call)."""

from __future__ import annotations

import keras
import tensorflow as tf

from mnist_zoo.config import RunConfig, with_overrides
from mnist_zoo.models import build
from mnist_zoo.training.distribute import dtype_policy, synchronize_batch_norm
from mnist_zoo.training.losses import accuracy_metric, make_loss, needs_one_hot
from mnist_zoo.training.machine import auto_precision
from mnist_zoo.training.optimizers import make_optimizer
from mnist_zoo.training.schedules import make_schedule

# On a 2-core AVX2 EPYC, XLA takes 2-5 s to compile an MLP's train step and saves it at most ~0.6 ms
# a step: a shorter run does not repay the compilation
XLA_MIN_STEPS = 2000


def use_xla(config: RunConfig, model: keras.Model, replicas: int, steps: int) -> bool:
    """Whether to compile the train step with XLA: `train.jit_compile`, where "auto" means
    models without convolutions (XLA makes Conv2D slower on CPU), on one replica, without
    op determinism, for runs of at least XLA_MIN_STEPS train steps."""
    if config.train.jit_compile != "auto":
        return config.train.jit_compile == "on"
    return not has_convolutions(model) and replicas == 1 and not config.train.deterministic and steps >= XLA_MIN_STEPS


def stacks_batches(model: keras.Model, xla: bool, replicas: int) -> bool:
    """Whether training feeds each epoch's batches as stacks, each run in one call (`stacked_steps`): for a
    train step XLA compiles, on one replica, of a model without convolutions (XLA ran `cnn_small`'s stacks
    at a tenth of its speed batch by batch)."""
    return xla and replicas == 1 and not has_convolutions(model)


def stacked_steps(model: keras.Model) -> None:
    """Let `model`'s train step also take a stack of batches (images (n, B, 28, 28)) and run its n steps in
    one call: under XLA one compiled loop, in place of n calls that each cost more than a small MLP's step."""
    step = model.train_step

    def train_step(data: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        images, labels = data
        if images.shape.rank == 3:  # one batch
            return step(data)

        def next_step(index: tf.Tensor, logs: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
            return index + 1, step((images[index], labels[index]))

        logs = step((images[0], labels[0]))  # outside the loop, where Keras may still create metric variables
        return tf.while_loop(lambda index, _: index < tf.shape(images)[0], next_step, (tf.constant(1), logs))[1]

    train_step.takes_stacks = True
    model.train_step = train_step


def takes_stacks(model: keras.Model) -> bool:
    """Whether `model`'s train step runs stacks of batches (`stacked_steps`, which `compile_model` applies where
    `stacks_batches` says so): whether its training set must come stacked."""
    return getattr(model.train_step, "takes_stacks", False)


def has_convolutions(model: keras.Model) -> bool:
    """Whether `model` has a Conv2D layer: what decides the "auto" choices of XLA and precision."""
    return any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)


def resolve_precision(config: RunConfig) -> RunConfig:
    """`config` with `train.precision = "auto"` replaced by the policy it stands for here (`auto_precision`),
    so that the run directory's config.toml says what the run computed in, and a resume keeps it."""
    if config.train.precision != "auto":
        return config
    with dtype_policy("float32"):
        convolutional = has_convolutions(build(config.model.name, **config.model.options))
    return with_overrides(config, {"train.precision": auto_precision(convolutional)})


def compile_model(config: RunConfig, steps_per_epoch: int, replicas: int = 1) -> keras.Model:
    """Build the configured model and compile it with its optimizer, schedule, loss and accuracy."""
    model = build(config.model.name, **config.model.options)
    schedule = config.schedule
    learning_rate = make_schedule(
        schedule.name,
        learning_rate=config.optimizer.learning_rate,
        steps_per_epoch=steps_per_epoch,
        epochs=config.train.epochs,
        warmup_epochs=schedule.warmup_epochs,
        decay_rate=schedule.decay_rate,
        step_epochs=schedule.step_epochs,
        decay_steps=schedule.decay_steps,
        restart_epochs=schedule.restart_epochs,
        restart_multiplier=schedule.restart_multiplier,
        min_lr_fraction=schedule.min_lr_fraction,
    )
    optimizer = make_optimizer(
        config.optimizer.name,
        learning_rate,
        momentum=config.optimizer.momentum,
        nesterov=config.optimizer.nesterov,
        weight_decay=config.optimizer.weight_decay,
        ema_momentum=config.optimizer.ema_momentum,
    )
    if replicas > 1:
        synchronize_batch_norm(model)
    one_hot = needs_one_hot(config.train.loss, config.data.label_smoothing)
    xla = use_xla(config, model, replicas, steps_per_epoch * config.train.epochs)
    stacked = stacks_batches(model, xla, replicas)
    model.compile(
        optimizer=optimizer,
        loss=make_loss(config.train.loss, config.data.label_smoothing),
        metrics=[accuracy_metric(one_hot)],
        # Keras's multi-step loop fails under MirroredStrategy ("while/cond/Placeholder"), so several
        # replicas run one step per execution; a stack of batches is already many steps
        steps_per_execution=config.train.steps_per_execution if replicas == 1 and not stacked else 1,
        jit_compile=xla,
    )
    if stacked:
        stacked_steps(model)
    # the optimizer's slots now (Keras builds them inside the first trace of the train step when
    # no distribution strategy is set, and tf.function traces a function that creates variables
    # twice: over a second of every run's first epoch on 2 cores)
    model.optimizer.build(model.trainable_variables)
    if model.jit_compile:
        # XLA repays its compilation in the train step, run thousands of times; evaluation and prediction
        # are a few passes, each batch shape (first batch, validation, test) a compilation of its own
        # (a second or more each on 2 cores), so their steps are made now, without XLA
        model.jit_compile = False
        model.make_test_function()
        model.make_predict_function()
        model.jit_compile = True
    return model
