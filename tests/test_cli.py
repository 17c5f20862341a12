"""`mnist-zoo` end to end on a real subset, in real subprocesses: train, evaluate, export, predict, errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from formats import write_idx

from mnist_zoo import model_card
from mnist_zoo.cli import make_parser
from mnist_zoo.export import in_float32
from mnist_zoo.training.runner import load_run, predict_probabilities

SUBSET = ["--set", "data.train_size=2000", "--set", "data.validation_size=500", "--set", "data.test_size=1000"]


def cli_env() -> dict[str, str]:
    """The test environment without the test-only TF log level, so the CLI's own defaults apply."""
    return {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}


def zoo(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_zoo", *map(str, args)], capture_output=True, text=True,
                          env={**cli_env(), **env}, timeout=600)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2 and exactly one stderr line, starting with `error:`, naming what was wrong."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    """One real 1-epoch CLI training run of mlp_bn on 2,000 images, with XLA (too short a run for "auto" to
    choose it); XLA's compiled modules go to ../xla."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = zoo("train", "mlp_bn", "--epochs", "1", "--batch-size", "64", "--out", out, *SUBSET,
                 "--set", "train.jit_compile=on", XLA_FLAGS=f"--xla_dump_to={out.parent / 'xla'}")
    assert result.returncode == 0, result.stderr
    assert "test accuracy: 0." in result.stdout and f"outputs: {out}" in result.stdout
    return out


def test_only_the_train_step_is_compiled_with_xla(trained):
    """mlp_bn trains with XLA; its first-batch, validation, test and prediction passes would each
    compile a module of their own and never repay it. (Its elastic distortion's resampling is XLA's too.)"""
    modules = [path.read_text() for path in (trained.parent / "xla").glob("*.before_optimizations.txt")]
    train_steps = [module for module in modules if "gradient_tape" in module]
    resampling = [module for module in modules if module.startswith("HloModule a_inference__resample_")]
    assert train_steps and len(train_steps) + len(resampling) == len(modules), [m.split(",")[0] for m in modules]


def test_list_and_info(mnist):
    listing = zoo("list", "*_bn")
    assert listing.returncode == 0 and "mlp_bn" in listing.stdout and "cnn_small" not in listing.stdout
    # 3 decimals, as zoo.md: a 3-seed mean of 99.697% must not read as a goal of 99.7% met
    assert f" {model_card('cnn_bn').accuracy:.3%} " in listing.stdout, listing.stdout
    info = zoo("info", "cnn_small")
    assert info.returncode == 0 and "params:         121,930\n" in info.stdout, info.stdout
    card = model_card("cnn_small")  # the committed measurement, with its spread, seeds and machine
    assert f"accuracy:       {card.accuracy:.3%} ± {100 * card.accuracy_std:.3f} over {card.seeds} seeds" in info.stdout
    assert f"measured_on:    {card.measured_on} (benchmarks/results/zoo.json)" in info.stdout
    assert '[model]\nname = "cnn_small"' in info.stdout
    # a pattern is the whole name, shell-style: `list cnn` matches nothing and says so, not an empty table
    assert_user_error(zoo("list", "cnn"), "no model matches 'cnn'", "cnn_small")
    assert_user_error(zoo("list", "cnn", "--json"), "no model matches 'cnn'")


def test_readme_synopsis_names_every_verb_option_and_format():
    """The README's command-line synopsis keeps up with the parser: every verb, long option and choice."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    synopsis = readme.split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    verbs = next(action for action in make_parser()._actions if isinstance(action, argparse._SubParsersAction))
    for verb, parser in verbs.choices.items():
        usage = re.search(rf"^mnist-zoo {verb} .*(?:\n {{8,}}.*)*", synopsis, re.MULTILINE)
        assert usage, f"README synopsis lacks `mnist-zoo {verb}`"
        for action in parser._actions:
            for option in action.option_strings:
                assert option == "--help" or not option.startswith("--") or option in usage[0], (verb, option)
            for choice in action.choices or ():
                assert choice in usage[0], (verb, choice)


def test_train_evaluate_export_predict(trained, tmp_path, mnist):
    """The verbs chained as a user would; export keeps an existing version unless --force; predict reads
    every image format at once, from the export and from the run."""
    evaluation = zoo("evaluate", trained)
    assert evaluation.returncode == 0
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"test accuracy: {metrics['test_accuracy']:.4f}\n" in evaluation.stdout  # the run's own number
    assert f"test loss: {metrics['test_loss']:.4f} (1000 images)" in evaluation.stdout

    export = zoo("export", trained, "--out", tmp_path / "export")
    assert export.returncode == 0, export.stderr
    stamp = (tmp_path / "export" / "1" / "saved_model.pb").stat().st_mtime_ns
    assert_user_error(zoo("export", trained, "--out", tmp_path / "export"), "already exists", "--force")
    assert (tmp_path / "export" / "1" / "saved_model.pb").stat().st_mtime_ns == stamp  # not overwritten
    assert zoo("export", trained, "--out", tmp_path / "export", "--force").returncode == 0

    _, (x_test, y_test) = mnist
    png, npy, idx, rgb = (tmp_path / name for name in ("digit.png", "digits.npy", "t10k-images-idx3-ubyte.gz",
                                                       "big_rgb.png"))
    png.write_bytes(tf.io.encode_png(x_test[0][..., None]).numpy())
    np.save(npy, x_test[:3])
    write_idx(idx, x_test[:5])
    big = tf.image.resize(x_test[1][..., None].astype("float32"), (56, 56)).numpy()
    rgb.write_bytes(tf.io.encode_png(np.repeat(np.clip(big, 0, 255).astype(np.uint8), 3, axis=-1)).numpy())
    for model_dir in (tmp_path / "export", trained):
        prediction = zoo("predict", model_dir, png, npy, idx, rgb)
        assert prediction.returncode == 0, prediction.stderr
        lines = prediction.stdout.strip().splitlines()
        assert len(lines) == 1 + 3 + 5 + 1 and lines[0].startswith(f"{png}: 7 (probability 0.")
        assert [line.split(": ")[0] for line in lines[1:9]] == [f"{npy}[{i}]" for i in range(3)] + [
            f"{idx}[{i}]" for i in range(5)]
        assert lines[4].startswith(f"{idx}[0]: 7 (probability ") and lines[9].startswith(f"{rgb}: ")
        assert "converted RGB to grayscale" in prediction.stderr and "resized 56x56 to 28x28" in prediction.stderr


@pytest.mark.parametrize("fmt, name", [("onnx", "model.onnx"), ("onnx_int8", "model.int8.onnx"), ("tflite", "model.tflite")])
def test_export_file_formats(trained, tmp_path, fmt, name):
    pytest.importorskip("ai_edge_litert" if fmt == "tflite" else "onnxruntime", reason=f"{fmt} extra not installed")
    result = zoo("export", trained, "--out", tmp_path, "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exported: {tmp_path / name}"


def test_export_float32_serves_a_bfloat16_run_in_float32(tmp_path, mnist):
    """A SavedModel keeps the run's mixed_bfloat16 unless --float32 asks for a float32 copy of the same weights."""
    run = tmp_path / "run"
    trained = zoo("train", "cnn_fast", "--epochs", "1", "--out", run, "--set", "train.precision=mixed_bfloat16",
                  "--set", "data.train_size=512", "--set", "data.validation_size=256", "--set", "data.test_size=200")
    assert trained.returncode == 0, trained.stderr
    _, (x_test, _) = mnist
    served = {}
    for name, flags in (("as_run", []), ("float32", ["--float32"])):
        result = zoo("export", run, "--out", tmp_path / name, *flags)
        assert result.returncode == 0, result.stderr
        serve = tf.saved_model.load(str(tmp_path / name / "1")).signatures["serving_default"]
        served[name] = serve(images=tf.constant(x_test[:500]))["probabilities"].numpy()
    _, model = load_run(run)
    bfloat16, float32 = (predict_probabilities(m, x_test[:500]) for m in (model, in_float32(model)))
    assert np.abs(served["as_run"] - bfloat16).max() < 1e-5
    assert np.abs(served["float32"] - float32).max() < 1e-5
    assert np.abs(float32 - bfloat16).max() > 1e-4  # ten times the tolerance above: the two are told apart


def test_config_toml_of_a_run_reproduces_it(trained, tmp_path):
    again = zoo("train", "--config", trained / "config.toml", "--out", tmp_path / "again")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "config.toml").read_text() == (trained / "config.toml").read_text()


def test_error_paths_exit_2_with_one_line(trained, tmp_path, mnist):
    """One bad input per verb and per kind of failure, each in its own process: nothing else reaches stderr
    (TensorFlow's start-up logging included). test_bad_input.py covers the other inputs in-process."""
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.full((28, 28), np.nan))
    cases = [
        (("train", "mlp_bn", "--set", "train.epochz=1"), ["train.epochz"]),
        (("train", "mlp_bn", "--data", tmp_path / "nowhere"), ["nowhere", "no such file"]),
        (("train", "mlp_bn", "--out", trained), ["holds a finished run"]),
        (("evaluate", tmp_path), ["not a finished run directory"]),
        (("predict", trained, wrong), ["wrong.npy", "dtype float64"]),
        (("info", "cnn_smal"), ["did you mean cnn_small"]),
        (("frobnicate",), ["invalid choice"]),
    ]
    for args, fragments in cases:
        assert_user_error(zoo(*args), *fragments)
