"""Where training runs: a tf.distribute strategy chosen by name, and mixed precision."""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from mnist_zoo.errors import ConfigError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


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


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy called `name`.

    - `one_device`: the first GPU, else the CPU.
    - `mirrored`: synchronous data parallelism over every local GPU, or over the
      logical CPU devices when there is no GPU (see `train.logical_cpus`).
    - `multi_worker`: `MultiWorkerMirroredStrategy` configured by `TF_CONFIG`; refused with a
      clear error while Keras 3's `fit` cannot run under it (keras-team/keras#20585).
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
        # Keras 3's model.fit fails under MultiWorkerMirroredStrategy (it reduces the first input
        # batch across workers to build the model, then fails in the train step): upstream
        # keras-team/keras#20585, tensorflow/tensorflow#72388. Say so instead of a long traceback.
        raise ConfigError(
            "train.strategy=multi_worker: Keras 3's model.fit does not run under "
            "tf.distribute.MultiWorkerMirroredStrategy yet (keras-team/keras#20585); use mirrored on one machine"
        )
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [device.name for device in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ConfigError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")


def set_precision(mixed: bool) -> None:
    """Use `mixed_float16` (float16 compute, float32 variables) or plain float32 for models built next."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
