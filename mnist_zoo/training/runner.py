"""`train` and `evaluate`: a config in, a run directory out, on `model.fit` and Keras callbacks."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import math
import platform
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mnist_zoo.config import RunConfig, load_config, resolve_config, to_toml, with_overrides
from mnist_zoo.data import load_mnist, split_validation
from mnist_zoo.data.pipeline import Augmentation, make_dataset
from mnist_zoo.errors import ConfigError, WorkerError
from mnist_zoo.files import atomic_path, make_directory, remove_temporaries, write_text_atomic
from mnist_zoo.models import count_flops
from mnist_zoo.training import plots
from mnist_zoo.training.batch_norm import recalibrate_batch_norm
from mnist_zoo.training.callbacks import AtomicModelCheckpoint, CleanTail, HistoryCSV, StopOnDivergence, read_history
from mnist_zoo.training.compiling import compile_model, resolve_precision, takes_stacks
from mnist_zoo.training.distribute import (
    dtype_policy,
    fit_under,
    is_chief,
    is_multi_worker,
    make_strategy,
    split_cpu,
    worker_label,
)
from mnist_zoo.training.losses import needs_one_hot
from mnist_zoo.training.machine import bfloat16_warning, machine_description
from mnist_zoo.training.optimizers import slow_average_warning

RUNS_DIR = Path("runs")
EVAL_BATCH = 1000


@dataclass
class Run:
    """A finished training run: where it lives and what it measured."""

    directory: Path
    config: RunConfig
    model: keras.Model
    history: list[dict[str, float]]
    metrics: dict[str, Any]


@dataclass
class Data:
    """The splits a run uses, as uint8 arrays."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_run_data(config: RunConfig) -> Data:
    """Load MNIST as the config says: validation carved off the training set's end, optional subsets."""
    (x_train, y_train), (x_test, y_test) = load_mnist(config.data.source or None)
    (x_train, y_train), (x_val, y_val) = split_validation(x_train, y_train, config.data.validation_size)
    if config.data.train_size > len(x_train):
        raise ConfigError(f"data.train_size is {config.data.train_size:,}, but only {len(x_train):,} training images "
                          "are left after the validation split")
    if config.data.test_size > len(x_test):
        raise ConfigError(f"data.test_size is {config.data.test_size:,}, but the test set has {len(x_test):,} images")
    if config.data.train_size:
        x_train, y_train = x_train[: config.data.train_size], y_train[: config.data.train_size]
    if config.data.test_size:
        x_test, y_test = x_test[: config.data.test_size], y_test[: config.data.test_size]
    return Data(x_train, y_train, x_val, y_val, x_test, y_test)


def resolved_config_text(config: RunConfig) -> str:
    """The `config.toml` of a run: the resolved config, headed by the scale-out rule it ran under."""
    return (
        "# train.batch_size is the global batch, split over every replica and worker;\n"
        "# optimizer.learning_rate is used as given, not scaled with the number of replicas.\n" + to_toml(config)
    )


def run_directory(config: RunConfig, out: str | Path | None) -> Path:
    """The directory for this run: `out`, or an unfinished run of the same config, or a new one.

    Refuses a directory that holds a finished run, or an unfinished run of a
    different config, so nothing finished is ever overwritten.
    """
    text = resolved_config_text(config)
    if out is not None:
        directory = Path(out)
        if (directory / "metrics.json").exists():
            raise ConfigError(f"{directory}: holds a finished run; choose another --out")
        saved = directory / "config.toml"
        if saved.exists() and saved.read_text() != text:
            raise ConfigError(f"{directory}: holds an unfinished run of a different config; choose another --out")
        return directory
    for candidate in sorted(RUNS_DIR.glob(f"{config.model.name}-*"), reverse=True):
        saved = candidate / "config.toml"
        if not (candidate / "metrics.json").exists() and saved.exists() and saved.read_text() == text:
            return candidate
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return RUNS_DIR / f"{config.model.name}-{stamp}"


def make_callbacks(
    config: RunConfig, directory: Path, validating: bool, initial_loss: float, augmenting: tf.Variable | None = None
) -> list[keras.callbacks.Callback]:
    """Divergence stop, history, best checkpoint, resume state, early stopping, clean tail, TensorBoard."""
    monitor = "val_accuracy" if validating else "accuracy"
    best_so_far = max((row.get(monitor, -math.inf) for row in read_history(directory / "history.csv")), default=None)
    callbacks = [
        StopOnDivergence(initial_loss=initial_loss),
        HistoryCSV(directory / "history.csv"),
        AtomicModelCheckpoint(
            directory / "best.keras", monitor=monitor, mode="max", save_best_only=True,
            initial_value_threshold=best_so_far,
        ),
        # kept after fit ends, removed once metrics.json marks the run finished; the double
        # checkpoint keeps the previous epoch's state usable if a kill lands mid-write
        keras.callbacks.BackupAndRestore(directory / "backup", double_checkpoint=True, delete_checkpoint=False),
    ]
    if config.train.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=config.train.early_stopping_patience, restore_best_weights=True
            )
        )
    if augmenting is not None:
        callbacks.append(CleanTail(augmenting, config.train.epochs - config.data.clean_epochs))
    if config.train.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(directory / "tensorboard"))
    return callbacks


def backed_up_epochs(directory: Path) -> int:
    """How many epochs the resume state of an interrupted run holds (0 when there is none)."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        try:
            return int(json.loads((directory / "backup" / name).read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0


def training_set(
    config: RunConfig, data: Data, first_epoch: int = 0, augmenting: tf.Variable | None = None, stacked: bool = False
) -> tf.data.Dataset:
    """The shuffled, batched (and, if the config says so, augmented) training batches.

    Each pass over the dataset draws a fresh order and fresh distortions from
    the seed. A run resumed at a later epoch draws from a seed derived from that
    epoch, so it does not replay the first epochs' draws. `augmenting` is the
    switch `CleanTail` turns off for the last `data.clean_epochs`. `stacked`: the
    same batches in stacks, for a model that `takes_stacks`.
    """
    augment = None
    if config.data.augment:
        augment = Augmentation(config.data.shift, config.data.rotation, config.data.zoom, config.data.elastic_alpha,
                               config.data.elastic_sigma)
    seed = config.train.seed
    if first_epoch:
        seed = int(np.random.SeedSequence([seed, first_epoch]).generate_state(1)[0])
    return make_dataset(
        data.x_train, data.y_train, batch_size=config.train.batch_size, training=True, augment=augment,
        augmenting=augmenting, label_smoothing=config.data.label_smoothing,
        one_hot=needs_one_hot(config.train.loss, config.data.label_smoothing), seed=seed, stacked=stacked,
    )


def model_and_training_set(config: RunConfig, data: Data, steps_per_epoch: int) -> tuple[keras.Model, tf.data.Dataset]:
    """The compiled model and training batches of `config` on `data`, both built under its (concrete)
    precision, as `train` builds them on one device: for timing the training path outside `train`."""
    with dtype_policy(config.train.precision):
        model = compile_model(config, steps_per_epoch)
        return model, training_set(config, data, stacked=takes_stacks(model))


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """TensorFlow's op determinism on inside the block when `enabled`, and as it was before afterwards:
    a deterministic run must not leave later runs in the same process deterministic (slower, and
    Keras then turns XLA off)."""
    from tensorflow.python.framework import config as tf_config  # turning it off has no public name

    before = tf_config.is_op_determinism_enabled()
    if enabled:
        tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not before:
            tf_config.disable_op_determinism()


def train(config_or_model: RunConfig | str | Path = "mlp_bn", *, out: str | Path | None = None, **overrides: Any) -> Run:
    """Train as a recipe (a model name, a TOML path or a RunConfig) says, with overrides.

    Overrides are `section.key` names (pass them as `**{"optimizer.learning_rate": 0.1}`)
    or bare keys that belong to one section (`epochs=3`). Rerunning after an
    interruption continues from the last finished epoch.
    """
    config = resolve_config(config_or_model)
    if overrides:
        config = with_overrides(config, overrides)
    if config.train.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("train.tensorboard needs TensorBoard: pip install 'mnist_zoo[tensorboard]'")
    split_cpu(config.train.logical_cpus)
    strategy = make_strategy(config.train.strategy)
    config = resolve_precision(config)  # builds the model: after the devices are set up
    directory = run_directory(config, out)  # an unfinished run resumes only under the same resolved config
    keras.utils.set_random_seed(config.train.seed)
    with op_determinism(config.train.deterministic), dtype_policy(config.train.precision):
        data = load_run_data(config)  # data and model first: bad input leaves no run directory behind
        steps_per_epoch = math.ceil(len(data.x_train) / config.train.batch_size)
        for warning in (slow_average_warning(config.optimizer.ema_momentum, steps_per_epoch * config.train.epochs),
                        bfloat16_warning(config.train.precision)):
            if warning:
                print(f"warning: {warning}", file=sys.stderr)
        with strategy.scope():
            model = compile_model(config, steps_per_epoch, strategy.num_replicas_in_sync)
        if is_chief(strategy):
            return fit_and_finish(config, directory, directory, model, data, strategy)
        scratch = worker_scratch(directory)
        try:
            return fit_and_finish(config, directory, scratch, model, data, strategy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def worker_scratch(directory: Path) -> Path:
    """Where a non-chief worker keeps its files: a temporary directory seeded with the chief's
    resume state and history, so that every worker of a restarted job resumes at the same epoch."""
    scratch = Path(tempfile.mkdtemp(prefix="mnist_zoo-worker-"))
    if (directory / "backup").is_dir():
        shutil.copytree(directory / "backup", scratch / "backup")
    if (directory / "history.csv").exists():
        shutil.copy2(directory / "history.csv", scratch / "history.csv")
    return scratch


def fit_and_finish(
    config: RunConfig, directory: Path, workdir: Path, model: keras.Model, data: Data, strategy: tf.distribute.Strategy
) -> Run:
    """Fit, writing the run's files into `workdir` (the run directory, except on a non-chief worker)."""
    make_directory(workdir)
    remove_temporaries(workdir)
    write_text_atomic(workdir / "config.toml", resolved_config_text(config))
    done = backed_up_epochs(workdir)
    if done:
        print(f"resuming {directory} from epoch {done + 1} ({done} of {config.train.epochs} finished)")

    one_hot = needs_one_hot(config.train.loss, config.data.label_smoothing)
    augmenting = tf.Variable(True, trainable=False, name="augmenting") if config.data.clean_epochs else None
    train_set = training_set(config, data, first_epoch=done, augmenting=augmenting, stacked=takes_stacks(model))
    validating = len(data.x_val) > 0
    val_set = make_dataset(data.x_val, data.y_val, batch_size=EVAL_BATCH, training=False, one_hot=one_hot) if validating else None
    # the untrained loss on one batch: the divergence check's yardstick, since with several
    # steps per execution the first loss fit reports is already a mean over several updates
    first_batch = make_dataset(data.x_train[: config.train.batch_size], data.y_train[: config.train.batch_size],
                               batch_size=config.train.batch_size, training=False, one_hot=one_hot)
    try:
        with fit_under(strategy, model):
            initial_loss = model.evaluate(first_batch, verbose=0, return_dict=True)["loss"]
            model.fit(
                train_set,
                validation_data=val_set,
                epochs=config.train.epochs,
                callbacks=make_callbacks(config, workdir, validating, float(initial_loss), augmenting),
                verbose=1 if sys.stdout.isatty() else 2,
                shuffle=False,
            )
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError) as err:
        if not is_multi_worker(strategy):
            raise
        raise WorkerError(
            f"{worker_label(strategy)}: the job lost a worker ({type(err).__name__}); rerun every worker's "
            f"command to resume from epoch {backed_up_epochs(workdir) + 1}"
        ) from None
    recalibration_seconds = 0.0
    if config.train.recalibrate_batch_norm:
        started = time.perf_counter()
        recalibrate_batch_norm(model, data.x_train, config.train.batch_size)
        recalibration_seconds = time.perf_counter() - started
    run = finish_run(config, workdir, model, data, one_hot, recalibration_seconds)
    print(f"test accuracy: {run.metrics['test_accuracy']:.4f}")
    if is_multi_worker(strategy):
        print(f"{worker_label(strategy)}: finished; weights sha256 {weights_digest(model)}")
    if workdir == directory:
        print(f"outputs: {directory}")
    return dataclasses.replace(run, directory=directory)


def weights_digest(model: keras.Model) -> str:
    """SHA-256 of every weight's bytes: equal on every worker of a synchronous job."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def finish_run(
    config: RunConfig, directory: Path, model: keras.Model, data: Data, one_hot: bool, recalibration_seconds: float = 0.0
) -> Run:
    """Evaluate once on the test set, save the model, plots and metrics; then drop the resume state.

    Training time is the epochs' time plus the BatchNorm recalibration's, if any.
    """
    history = read_history(directory / "history.csv")
    test = evaluate_arrays(model, data.x_test, data.y_test, one_hot)
    val = evaluate_arrays(model, data.x_val, data.y_val, one_hot) if len(data.x_val) else {}
    seconds = sum(row["seconds"] for row in history) + recalibration_seconds
    metrics = {
        "model": config.model.name,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": val.get("accuracy"),
        "val_loss": val.get("loss"),
        "epochs": len(history),
        "params": model.count_params(),
        "flops": count_flops(model),
        "train_seconds": seconds,
        "recalibration_seconds": recalibration_seconds,
        "train_samples_per_second": len(data.x_train) * len(history) / seconds if seconds else None,
        "train_images": len(data.x_train),
        "test_images": len(data.x_test),
        "seed": config.train.seed,
        "precision": config.train.precision,
        "versions": library_versions(),
        "machine": machine_description(),
    }
    with atomic_path(directory / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    probabilities = predict_probabilities(model, data.x_test)
    plots.save_all(directory, history, data.x_test, data.y_test, probabilities)
    write_text_atomic(directory / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    shutil.rmtree(directory / "backup", ignore_errors=True)
    return Run(directory, config, model, history, metrics)


def predict_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities for uint8 images, in batches."""
    logits = model.predict(make_dataset(images, np.zeros(len(images)), batch_size=EVAL_BATCH, training=False), verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


def evaluate_arrays(model: keras.Model, images: np.ndarray, labels: np.ndarray, one_hot: bool) -> dict[str, float]:
    """Loss and accuracy of a compiled model on uint8 images with class-id labels."""
    dataset = make_dataset(images, labels, batch_size=EVAL_BATCH, training=False, one_hot=one_hot)
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    return {"loss": float(results["loss"]), "accuracy": float(results["accuracy"])}


def load_run(directory: str | Path) -> tuple[RunConfig, keras.Model]:
    """The config and trained model of a finished run directory (loaded with `safe_mode=True`)."""
    directory = Path(directory)
    model_path = directory / "model.keras"
    if not model_path.exists():
        raise ConfigError(f"{directory}: not a finished run directory (no model.keras)")
    config = load_config(directory / "config.toml")
    if not zipfile.is_zipfile(model_path):  # Keras would report it as not found
        raise ConfigError(f"{model_path}: not a .keras model (not a zip archive: truncated or overwritten?)")
    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except (ValueError, OSError) as err:
        raise ConfigError(f"{model_path}: cannot load: {err}") from None
    model.jit_compile = False  # evaluates and predicts with the kernels of the run's own test pass (compile_model)
    return config, model


def evaluate(run_dir: str | Path, *, data: str | Path | None = None) -> dict[str, float]:
    """Test loss and accuracy of a finished run, on its own test data or on `data`."""
    config, model = load_run(run_dir)
    if data is not None:
        config = with_overrides(config, {"data.source": str(data)})
    split = load_run_data(config)
    one_hot = needs_one_hot(config.train.loss, config.data.label_smoothing)
    result = evaluate_arrays(model, split.x_test, split.y_test, one_hot)
    return {"test_accuracy": result["accuracy"], "test_loss": result["loss"], "test_images": len(split.x_test)}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that produced a result."""
    from mnist_zoo import __version__

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "mnist_zoo": __version__,
    }
