"""The machine a result comes from: its CPU, the instruction sets that set TensorFlow's speed, and
what they mean for bfloat16."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import tensorflow as tf

# /proc/cpuinfo names (x86 `flags`, aarch64 `Features`) of the vector instructions oneDNN picks its kernels by
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "asimd", "sve", "i8mm", "bf16")
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_model_and_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]]:
    """The CPU's model name and instruction-set flags; the flags are empty where `cpuinfo` cannot be read."""
    fallback = platform.processor() or platform.machine()
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return fallback, frozenset()
    fields: dict[str, str] = {}
    for line in lines:  # one block per core; the first one's fields describe the CPU
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields.get("model name", fallback), frozenset((fields.get("flags") or fields.get("Features", "")).split())


def machine_description() -> str:
    """One line: CPU model, core count, system and the speed-relevant instruction sets present."""
    model, flags = cpu_model_and_flags()
    present = " ".join(flag for flag in SPEED_FLAGS if flag in flags)
    return f"{model}, {os.cpu_count()} cores, {platform.system()}" + (f"; {present}" if present else "")


def auto_precision(convolutional: bool, flags: frozenset[str] | None = None) -> str:
    """The dtype policy `train.precision = "auto"` stands for: mixed_bfloat16 for models with convolutions
    trained on a CPU whose `flags` (default: this one's) include bfloat16 instructions, without a GPU
    (about 1.4x float32's speed there; it slows MLPs); float32 otherwise."""
    if not convolutional or tf.config.list_physical_devices("GPU"):
        return "float32"
    flags = cpu_model_and_flags()[1] if flags is None else flags
    return "mixed_bfloat16" if flags & BFLOAT16_FLAGS else "float32"


def emulates_bfloat16(flags: frozenset[str] | None = None) -> bool:
    """Whether mixed_bfloat16 runs emulated here, many times slower than float32: no GPU and a CPU
    whose `flags` (default: this one's) lack bfloat16 instructions. False where the flags are unknown."""
    if tf.config.list_physical_devices("GPU"):
        return False
    flags = cpu_model_and_flags()[1] if flags is None else flags
    return bool(flags) and not flags & BFLOAT16_FLAGS


def bfloat16_warning(policy: str, flags: frozenset[str] | None = None) -> str | None:
    """Why `policy` will be slow here, or None: mixed_bfloat16 where `emulates_bfloat16`."""
    if policy != "mixed_bfloat16" or not emulates_bfloat16(flags):
        return None
    return ("train.precision=mixed_bfloat16 on a CPU without bfloat16 instructions (no avx512_bf16, amx_bf16 "
            "or bf16 in /proc/cpuinfo) is emulated and many times slower than float32; "
            "--set train.precision=float32 trains the same recipe faster here")
