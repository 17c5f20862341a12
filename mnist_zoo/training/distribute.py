"""Where training runs: a tf.distribute strategy chosen by name, and mixed precision."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from mnist_zoo.errors import ConfigError
from mnist_zoo.training.batch_norm import batch_norm_layers

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def split_cpu(count: int) -> None:
    """Present the CPU as `count` logical devices (for `mirrored` on a machine without GPUs).

    Must run before TensorFlow first uses a device; a ConfigError says so otherwise.
    """
    if count < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * count
    try:
        if tf.config.get_logical_device_configuration(cpu) != wanted:
            tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        raise ConfigError(
            f"train.logical_cpus={count}: TensorFlow's devices are already initialised in this process; "
            "set it in a fresh process (the command line does)"
        ) from None


def cluster_size() -> int:
    """How many workers `TF_CONFIG` describes (1 without it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker")) or 1


def loopback_tf_configs(count: int) -> list[str]:
    """`TF_CONFIG` values for `count` workers on free ports of 127.0.0.1, one per worker process:
    a cluster on one machine, for trying the multi-worker path and for its tests."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]}
    for sock in sockets:
        sock.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}) for index in range(count)]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called `name`.

    - `one_device`: the first GPU, else the CPU.
    - `mirrored`: synchronous data parallelism over every local GPU, or over the
      logical CPU devices when there is no GPU (see `train.logical_cpus`).
    - `multi_worker`: `MultiWorkerMirroredStrategy`, one process per worker, configured by `TF_CONFIG`.
    - `auto`: `multi_worker` when `TF_CONFIG` names several workers, `mirrored`
      with several GPUs, else TensorFlow's default single-device strategy.
    """
    # Only physical devices are listed before a multi-worker strategy exists: listing logical
    # devices starts TensorFlow's runtime, after which collective ops can no longer be configured.
    if name == "auto":
        if cluster_size() > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return tf.distribute.get_strategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("train.strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ConfigError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")


def synchronize_batch_norm(model: keras.Model) -> None:
    """Make every BatchNormalization layer use the statistics of the global batch, all-reduced
    over the replicas: the same normalisation as on one device, and the same moving averages
    on every worker."""
    for layer in batch_norm_layers(model):
        layer.synchronized = True


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans worker processes (`MultiWorkerMirroredStrategy`)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory: every process but a non-chief worker."""
    return strategy.extended.should_checkpoint


def worker_label(strategy: tf.distribute.Strategy) -> str:
    """`worker I of N` for a multi-worker process (the task named by `TF_CONFIG`)."""
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type} {resolver.task_id} of {cluster_size()}"


@contextlib.contextmanager
def fit_under(strategy: tf.distribute.Strategy, model: keras.Model) -> Iterator[None]:
    """Let `model.fit` run under `strategy`, working around Keras 3's multi-worker bugs.

    Under `MultiWorkerMirroredStrategy` Keras 3's `fit` fails twice (keras-team/keras#20585):
    before the first step it all-reduces the first input batch, a structure the collective
    cannot take, to build the model symbolically; and every step it mean-reduces the scalar
    metrics along axis 0, which a scalar does not have. For the length of the block, the model
    skips the symbolic build (its layers are built by its Input and the optimizer is built
    here) and scalars are reduced whole. After the block the model evaluates and predicts
    locally on each worker, each over the whole of its input. Other strategies run unchanged.
    """
    if not is_multi_worker(strategy):
        yield
        return
    from keras.src.backend.tensorflow import trainer  # the module whose reduction fails

    original = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: tf.distribute.Strategy, reduction: str) -> Any:
        if reduction in ("auto", "mean"):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None  # the strategy comes from the scope below instead
    trainer.reduce_per_replica = reduce_per_replica
    try:
        with strategy.scope():
            yield
    finally:
        trainer.reduce_per_replica = original


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Keras dtype policy `policy`, one of PRECISIONS, for what is built inside the block (model, optimizer,
    pipeline); the global policy as it was before afterwards."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)
