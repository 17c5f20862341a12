"""The machine description and the bfloat16 warning, from cpuinfo files written to disk; the oneDNN default."""

from __future__ import annotations

import os
import platform

from mnist_zoo.training.machine import (
    auto_precision,
    bfloat16_warning,
    cpu_model_and_flags,
    emulates_bfloat16,
    machine_description,
)
from fresh_process import run_script

ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2
bugs\t\t: sysret_ss_attrs

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse2 avx fma avx2 bmi2
"""
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16\n"
GRAVITON3 = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd sve i8mm bf16\nCPU implementer\t: 0x41\n"


def test_cpuinfo_gives_the_model_and_the_flags_of_x86_and_aarch64(tmp_path):
    for text, model, flags in [(ZEN3, "AMD EPYC 7B13", {"avx2", "fma", "sse2"}),
                               (GRAVITON3, platform.processor() or platform.machine(), {"asimd", "sve", "bf16"})]:
        (tmp_path / "cpuinfo").write_text(text)
        found_model, found_flags = cpu_model_and_flags(tmp_path / "cpuinfo")
        assert found_model == model and flags <= found_flags and "avx512f" not in found_flags
    assert cpu_model_and_flags(tmp_path / "missing")[1] == frozenset()


def test_the_description_names_the_cores_and_only_speed_relevant_flags_present_here():
    description = machine_description()
    assert f", {os.cpu_count()} cores, {platform.system()}" in description
    flags = cpu_model_and_flags()[1]
    if flags:  # Linux: the flags that set oneDNN's kernels are listed, the others are not
        assert ("avx2" in description) == ("avx2" in flags) and "sse2" not in description


def test_bfloat16_warns_only_for_mixed_bfloat16_without_bfloat16_instructions(tmp_path):
    for text in (ZEN3, ZEN4, GRAVITON3):
        (tmp_path / "cpuinfo").write_text(text)
        flags = cpu_model_and_flags(tmp_path / "cpuinfo")[1]
        warning = bfloat16_warning("mixed_bfloat16", flags)
        assert (warning is not None) == (text is ZEN3) == emulates_bfloat16(flags), text
        assert bfloat16_warning("float32", flags) is None and bfloat16_warning("mixed_float16", flags) is None
    assert "train.precision=float32" in bfloat16_warning("mixed_bfloat16", frozenset({"avx2"}))
    assert bfloat16_warning("mixed_bfloat16", frozenset()) is None  # unknown CPU: no guess


def test_auto_precision_is_bfloat16_only_for_convolutions_on_cpus_with_bfloat16_instructions(tmp_path):
    for text, bfloat16 in ((ZEN3, False), (ZEN4, True), (GRAVITON3, True)):
        (tmp_path / "cpuinfo").write_text(text)
        flags = cpu_model_and_flags(tmp_path / "cpuinfo")[1]
        assert auto_precision(True, flags) == ("mixed_bfloat16" if bfloat16 else "float32"), text
        assert auto_precision(False, flags) == "float32", text  # bfloat16 slows MLPs down
    assert auto_precision(True, frozenset()) == "float32"  # unknown CPU: no guess


def test_importing_the_zoo_turns_on_onednn_unless_the_user_turned_it_off(tmp_path):
    source = ("import mnist_zoo\nimport tensorflow\nfrom tensorflow.python.util import _pywrap_util_port\n"
              "print(_pywrap_util_port.IsMklEnabled())\n")
    environment = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}
    assert run_script(source, cwd=tmp_path, env=environment).strip() == "True"  # TensorFlow's default: AVX-512 only
    turned_off = {**environment, "TF_ENABLE_ONEDNN_OPTS": "0"}
    assert run_script(source, cwd=tmp_path, env=turned_off).strip() == "False"
