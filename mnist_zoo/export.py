"""SavedModel export in the TF Serving layout, written atomically with Keras's ExportArchive."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from mnist_zoo.errors import ConfigError

IMAGES_SPEC = tf.TensorSpec(shape=(None, 28, 28), dtype=tf.uint8, name="images")


def export_saved_model(model: keras.Model, export_dir: str | Path, version: int = 1, *, force: bool = False) -> Path:
    """Write `model` to `export_dir/<version>/` with a `serving_default` signature.

    The signature takes `images` (uint8, (None, 28, 28), raw pixels: the model
    normalises them) and returns `probabilities` (float32, (None, 10)) and
    `classes` (int64, (None,)). The version is written to a temporary
    directory and renamed into place, so a crash never leaves half of one; an
    existing version is replaced only with `force=True`. Returns the version's path.
    """
    if version < 1:
        raise ConfigError(f"export version must be >= 1, got {version}")
    export_dir = Path(export_dir)
    target = export_dir / str(version)
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists; pass --force to replace it")
    export_dir.mkdir(parents=True, exist_ok=True)

    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[IMAGES_SPEC])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32), axis=-1)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    archive.add_endpoint("serving_default", serve)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".tmp", dir=export_dir))
    try:
        archive.write_out(str(staging), verbose=False)
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=".old", dir=export_dir))
            os.replace(target, retired / "version")
            shutil.rmtree(retired)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
