"""Exports: SavedModel in the TF Serving layout (Keras's ExportArchive), ONNX and TFLite (`model.export`).

Every export is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from mnist_zoo.errors import ConfigError
from mnist_zoo.files import atomic_path, make_directory
from mnist_zoo.models.layers import images_input

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
    make_directory(export_dir)

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


# format: (Keras export format, file name, the pip extra it needs)
FILE_FORMATS = {
    "onnx": ("onnx", "model.onnx", "onnx"),
    "onnx_int8": ("onnx", "model.int8.onnx", "onnx"),
    "tflite": ("litert", "model.tflite", "litert"),
}
FORMATS = ("saved_model", *FILE_FORMATS)


def in_float32(model: keras.Model) -> keras.Model:
    """`model` if it computes in float32, else a copy that does, with the same (float32) weights:
    ONNX Runtime and LiteRT have no bfloat16 kernels for a mixed-precision model's layers."""
    if all(layer.compute_dtype == "float32" for layer in model.layers):
        return model

    def float32_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


def serving_model(model: keras.Model) -> keras.Model:
    """`model` with a softmax on top: uint8 `images` (N, 28, 28) in, float32 `probabilities` (N, 10) out."""
    images = images_input()
    probabilities = keras.layers.Softmax(name="probabilities", dtype="float32")(model(images))
    return keras.Model(images, probabilities, name=f"{model.name}_serving")


def export_file(model: keras.Model, export_dir: str | Path, format: str, *, force: bool = False) -> Path:
    """Write `model` as `export_dir/model.onnx` (ONNX), `model.int8.onnx` or `model.tflite` (LiteRT).

    The file maps uint8 images (N, 28, 28) to probabilities (N, 10). ONNX goes
    through `model.export(format="onnx")` (tf2onnx under the hood; needs the
    `onnx` extra), TFLite through `model.export(format="litert")`, both computing in
    float32 whatever the model's precision (`in_float32`). `onnx_int8`
    is the ONNX file with its dense layers' weights quantized to int8 and
    their inputs quantized per batch at run time (ONNX Runtime's
    `quantize_dynamic`): faster on CPUs with int8 dot products, and no longer
    bit-for-bit the Keras model (convolutions stay float32).
    """
    if format not in FILE_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose from {', '.join(FORMATS)}")
    keras_format, name, extra = FILE_FORMATS[format]
    target = Path(export_dir) / name
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists; pass --force to replace it")
    spec = [keras.InputSpec(shape=(None, 28, 28), dtype="uint8")]
    with atomic_path(target, suffix=target.suffix) as tmp:
        try:
            serving_model(in_float32(model)).export(str(tmp), format=keras_format, input_signature=spec, verbose=False)
            if format == "onnx_int8":
                quantize_dense_layers(tmp)
        except ImportError as err:
            raise ConfigError(
                f"{format} export needs the {extra} extra: pip install 'mnist_zoo[{extra}]' ({err})") from None
    return target


def quantize_dense_layers(path: Path) -> None:
    """Replace the float32 ONNX file at `path` by its dynamic int8 quantization (MatMul and Gemm only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(path, suffix=".onnx") as quantized:
        quantize_dynamic(path, quantized, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
