"""tf.distribute strategies and mixed precision, on this CPU machine and real data subsets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import pytest

from mnist_zoo import ConfigError, train
from mnist_zoo.training.distribute import make_strategy, set_precision

SUBSET = ["--set", "data.train_size=4000", "--set", "data.validation_size=500", "--set", "data.test_size=2000",
          "--epochs", "3", "--batch-size", "64", "--seed", "3"]


def cli_train(out, *extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "mnist_zoo", "train", "mlp_bn", *SUBSET, "--out", str(out), *extra],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "metrics.json").read_text())


def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path, mnist):
    one = cli_train(tmp_path / "one", "--strategy", "one_device")
    mirrored = cli_train(tmp_path / "mirrored", "--strategy", "mirrored", "--set", "train.logical_cpus=2")
    print(one["test_accuracy"], mirrored["test_accuracy"])
    assert one["test_accuracy"] > 0.8 and mirrored["test_accuracy"] > 0.8
    assert abs(one["test_accuracy"] - mirrored["test_accuracy"]) < 0.04
    config = (tmp_path / "mirrored" / "config.toml").read_text()
    assert 'strategy = "mirrored"' in config and "logical_cpus = 2" in config


def test_auto_without_tf_config_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert make_strategy("auto").num_replicas_in_sync == 1


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG"):
        make_strategy("multi_worker")


def test_mixed_precision_keeps_float32_logits(tmp_path, mnist):
    try:
        run = train("mlp_bn", out=tmp_path / "run", **{"train.mixed_precision": True, "train.epochs": 1,
                                                       "train.batch_size": 32, "data.augment": False,
                                                       "data.train_size": 2000, "data.test_size": 500})
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert run.model.get_layer("dense_1").dtype_policy.name == "mixed_float16"
        assert run.model.get_layer("dense_1").compute_dtype == "float16"
        assert run.model.get_layer("logits").compute_dtype == "float32"
        assert run.model.outputs[0].dtype == "float32"
        assert run.metrics["test_accuracy"] > 0.5
    finally:
        set_precision(False)


def test_multi_worker_reports_the_upstream_blocker(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ConfigError, match="keras-team/keras#20585"):
        make_strategy("auto")
