"""Building blocks shared by the builders: input, pixel normalisation, initialisers, dense stacks."""

from __future__ import annotations

import re

import keras

from mnist_zoo.errors import ConfigError
from mnist_zoo.models.fused_batch_norm import FusedBatchNormalization

# mode -> (scale, offset) applied to uint8 pixels: x * scale + offset.
NORMALIZATIONS: dict[str, tuple[float, float]] = {
    "unit": (1 / 255, 0.0),  # [0, 1], S4
    "centered": (1 / 255, -0.5),  # [-0.5, 0.5], S0 and S2's (x - 127.5) / 255
    "standardize": (1 / (255 * 0.3081), -0.1307 / 0.3081),  # mean 0.1307, std 0.3081, S1
    "s3": (0.99 / 255, 0.01),  # [0.01, 1.0], S3
}

# PyTorch's BatchNorm default, as S2: Keras's 0.99 leaves the moving statistics far from the
# data after a short run, so evaluation lags training
BATCH_NORM_MOMENTUM = 0.9

_NORMAL = re.compile(r"normal\(\s*([-+0-9.e]+)\s*,\s*([-+0-9.e]+)\s*\)")


def images_input() -> keras.KerasTensor:
    """Every model takes raw uint8 pixels of shape (N, 28, 28) named `images`."""
    return keras.Input(shape=(28, 28), dtype="uint8", name="images")


def pixel_normalization(mode: str) -> keras.layers.Rescaling:
    """A Rescaling layer that maps uint8 pixels to floats as the named mode says."""
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"unknown normalization {mode!r}; choose from {', '.join(NORMALIZATIONS)}")
    scale, offset = NORMALIZATIONS[mode]
    return keras.layers.Rescaling(scale, offset, name=f"normalize_{mode}")


def make_initializer(spec: str) -> keras.initializers.Initializer:
    """A Keras initializer by name (`glorot_uniform`, `he_normal`, ...), `normal(mean, std)` as S2,
    or `torch_default`: PyTorch's Linear/Conv default, uniform in +-1/sqrt(fan_in) (S1, S4)."""
    match = _NORMAL.fullmatch(spec.strip())
    if match:
        mean, stddev = (float(group) for group in match.groups())
        return keras.initializers.RandomNormal(mean=mean, stddev=stddev)
    if spec == "torch_default":  # kaiming_uniform(a=sqrt(5)): bound sqrt(6 / (6 fan_in)) = 1/sqrt(fan_in)
        return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")
    try:
        return keras.initializers.get(spec)
    except ValueError:
        raise ConfigError(f"unknown initializer {spec!r}; use a Keras name or normal(mean, std)") from None


def regularizer(l2: float) -> keras.regularizers.Regularizer | None:
    """An L2 penalty of coefficient `l2`, or none when it is 0."""
    if l2 < 0:
        raise ConfigError(f"l2 must be >= 0, got {l2}")
    return keras.regularizers.L2(l2) if l2 else None


def batch_norm_layer(name: str) -> keras.layers.BatchNormalization:
    """The zoo's BatchNorm layer: Keras's, with momentum 0.9, trained through TensorFlow's fused kernel."""
    return FusedBatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=name)


def check_dropout(dropout: float) -> None:
    """A ConfigError unless `dropout` is a rate in [0, 1)."""
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")


def dense_stack(
    hidden: tuple[int, ...],
    *,
    activation: str,
    batch_norm: bool = False,
    dropout: float = 0.0,
    kernel_initializer: str = "glorot_uniform",
    l2: float = 0.0,
) -> list[keras.layers.Layer]:
    """Hidden Dense layers, each optionally followed by BatchNormalization and dropout."""
    check_dropout(dropout)
    layers: list[keras.layers.Layer] = []
    for index, units in enumerate(hidden, start=1):
        layers.append(
            keras.layers.Dense(
                units,
                use_bias=not batch_norm,
                kernel_initializer=make_initializer(kernel_initializer),
                kernel_regularizer=regularizer(l2),
                name=f"dense_{index}",
            )
        )
        if batch_norm:
            layers.append(batch_norm_layer(f"batch_norm_{index}"))
        layers.append(keras.layers.Activation(activation, name=f"{activation}_{index}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{index}"))
    return layers


def logits(*, kernel_initializer: str = "glorot_uniform", l2: float = 0.0) -> keras.layers.Dense:
    """The 10-unit output layer; models return logits, losses and exports add the softmax.

    It computes in float32 even under a mixed-precision policy, for a stable loss.
    """
    return keras.layers.Dense(
        10, kernel_initializer=make_initializer(kernel_initializer), kernel_regularizer=regularizer(l2),
        dtype="float32", name="logits",
    )
