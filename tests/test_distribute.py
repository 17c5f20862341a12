"""tf.distribute strategies and mixed precision, on this CPU machine and real data subsets."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from fresh_process import set_options

from mnist_zoo import ConfigError, export_saved_model, train
from mnist_zoo.config import resolve_config, with_overrides
from mnist_zoo.training.callbacks import read_history
from mnist_zoo.training.distribute import loopback_tf_configs, make_strategy
from mnist_zoo.training.machine import auto_precision, emulates_bfloat16
from mnist_zoo.training.runner import backed_up_epochs, evaluate_arrays, load_run, load_run_data, training_set

RUN = {"data.train_size": 4000, "data.validation_size": 500, "data.test_size": 2000,
       "train.epochs": 3, "train.batch_size": 128, "train.seed": 3}
SUBSET = set_options(RUN)


def cli_train(out, *extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "mnist_zoo", "train", "mlp_bn", *SUBSET, "--out", str(out), *extra],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "metrics.json").read_text())


def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path, mnist):
    one = train("mlp_bn", out=tmp_path / "one", **RUN, **{"train.strategy": "one_device"}).metrics  # in this process
    mirrored = cli_train(tmp_path / "mirrored", "--strategy", "mirrored", "--set", "train.logical_cpus=2")
    print(one["test_accuracy"], mirrored["test_accuracy"])
    assert one["test_accuracy"] > 0.8 and mirrored["test_accuracy"] > 0.8
    assert abs(one["test_accuracy"] - mirrored["test_accuracy"]) < 0.04
    config = (tmp_path / "mirrored" / "config.toml").read_text()
    assert 'strategy = "mirrored"' in config and "logical_cpus = 2" in config
    assert "global batch" in config and "not scaled with the number of replicas" in config  # the rule it ran under


def test_auto_without_tf_config_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert make_strategy("auto").num_replicas_in_sync == 1


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG"):
        make_strategy("multi_worker")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_logits(tmp_path, mnist, policy, capsys):
    run = train("mlp_bn", out=tmp_path / "run", **{"train.precision": policy, "train.epochs": 1,
                                                   "train.batch_size": 32, "data.augment": False,
                                                   "data.train_size": 2000, "data.test_size": 500})
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy was the run's only
    assert run.model.get_layer("dense_1").dtype_policy.name == policy
    assert run.model.get_layer("dense_1").compute_dtype == policy.removeprefix("mixed_")
    assert run.model.get_layer("logits").compute_dtype == "float32"
    assert run.model.outputs[0].dtype == "float32"
    assert run.metrics["test_accuracy"] > 0.5
    warned = "without bfloat16 instructions" in capsys.readouterr().err
    assert warned == (policy == "mixed_bfloat16" and emulates_bfloat16())


def test_auto_precision_is_resolved_before_the_run_and_recorded_in_it(tmp_path, mnist):
    subset = {"train.epochs": 1, "train.batch_size": 32, "data.train_size": 1024, "data.validation_size": 500,
              "data.test_size": 500}
    for model, convolutional in (("cnn_fast", True), ("logistic", False)):
        run = train(model, out=tmp_path / model, **subset)
        expected = auto_precision(convolutional)  # mixed_bfloat16 for cnn_fast on CPUs with bfloat16
        assert run.config.train.precision == run.metrics["precision"] == expected
        assert f'precision = "{expected}"' in (run.directory / "config.toml").read_text()
        assert next(layer for layer in run.model.layers if layer.weights).dtype_policy.name == expected
        assert run.metrics["test_accuracy"] > 0.3


def start_workers(out: Path) -> list[subprocess.Popen]:
    """Two `mnist-zoo train` processes on loopback, each with its own TF_CONFIG, as the README shows."""
    command = [sys.executable, "-m", "mnist_zoo", "train", "mlp_bn", *SUBSET,
               "--strategy", "multi_worker", "--out", str(out)]
    return [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "TF_CONFIG": tf_config})
            for tf_config in loopback_tf_configs(2)]


def finish(workers: list[subprocess.Popen]) -> list[str]:
    """Wait for every worker; assert each exited 0; their standard outputs."""
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr
    return [stdout for stdout, _ in outputs]


def weights_digests(outputs: list[str]) -> list[str]:
    return [re.search(r"weights sha256 ([0-9a-f]{64})", stdout).group(1) for stdout in outputs]


def test_a_killed_worker_stops_the_job_in_one_line_and_rerunning_every_worker_resumes(tmp_path, mnist):
    """Two loopback workers; one is killed mid-run. The rerun resumes, trains identical weights on both,
    and only the chief writes the run, whose export serves."""
    out = tmp_path / "run"
    chief, worker = start_workers(out)  # the kill lands in epoch 2; the rerun still trains two
    deadline = time.monotonic() + 300
    while backed_up_epochs(out) < 1 and time.monotonic() < deadline:  # epoch 1's resume state is written
        assert chief.poll() is None and worker.poll() is None
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)  # during epoch 2
    worker.wait()
    _, stderr = chief.communicate(timeout=300)
    assert chief.returncode == 2 and "Traceback" not in stderr
    error = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "rerun every worker's command to resume from epoch 2" in error[0], stderr

    chief, worker = finish(start_workers(out))
    assert "resuming" in chief and "from epoch 2" in chief
    assert weights_digests([chief, worker])[0] == weights_digests([chief, worker])[1]
    assert f"outputs: {out}" in chief and "outputs:" not in worker  # only the chief writes the run
    assert [row["epoch"] for row in read_history(out / "history.csv")] == [1, 2, 3]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_images"] == 2000 and metrics["test_accuracy"] > 0.85
    # validation ran inside fit, sharded over the two workers: its figure is the whole validation set's, once
    config, model = load_run(out)
    data = load_run_data(config)
    assert read_history(out / "history.csv")[-1]["val_accuracy"] == pytest.approx(
        evaluate_arrays(model, data.x_val, data.y_val, one_hot=False)["accuracy"], abs=1e-6)
    serve = tf.saved_model.load(str(export_saved_model(model, tmp_path / "export"))).signatures["serving_default"]
    classes = serve(images=tf.constant(data.x_test[:500]))["classes"].numpy()
    assert np.mean(classes == data.y_test[:500]) > 0.8


def test_every_worker_builds_the_same_training_order(mnist):
    """Each worker keeps its share of every batch (DATA sharding), which partitions the epoch
    only because every worker's pipeline yields the same batches in the same order."""
    config = with_overrides(resolve_config("mlp_bn"), {"data.train_size": 2000, "train.seed": 5})
    data = load_run_data(config)
    first, second = (training_set(config, data) for _ in range(2))
    for (images_a, labels_a), (images_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(labels_a, labels_b)
        np.testing.assert_array_equal(images_a, images_b)
    assert first.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
