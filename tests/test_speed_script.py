"""benchmarks/speed.py still runs end to end (quick mode, one model) and writes its two files."""

from __future__ import annotations

import json

from fresh_process import run_benchmark


def test_quick_speed_benchmark_writes_every_runner_and_runtime(tmp_path, mnist):
    run_benchmark("speed.py", "--quick", "--models", "mlp_sigmoid", "--out", tmp_path)
    speed = json.loads((tmp_path / "speed.json").read_text())
    assert speed["quick"] and speed["matmul_peak_gflops"] > 0
    assert {row["runner"] for row in speed["training"]} >= {"zoo", "zoo+aug", "keras"}
    assert all(row["images_per_second"] > 0 and row["images"] == 4096 for row in speed["training"])
    runtimes = {row["runtime"] for row in speed["inference"]}
    assert runtimes >= {"keras predict", "keras model(x)", "saved_model", "onnxruntime", "onnxruntime int8", "litert"}
    (int8,) = speed["int8"]
    assert int8["model"] == "mlp_sigmoid" and int8["test_images"] == 10000 and 0 <= int8["disagreements"] < 10000
    assert 0.1 < int8["keras_accuracy"] <= 1 and 0.1 < int8["int8_accuracy"] <= 1
    assert speed["speedups"][0]["model"] == "mlp_sigmoid" and speed["speedups"][0]["zoo_over_keras"] > 0
    assert speed["time_to_accuracy"]["command"] == "mnist-zoo train cnn_fast"
    assert speed["time_to_accuracy"]["wall_seconds"] > speed["time_to_accuracy"]["train_seconds"] > 0
    text = (tmp_path / "speed.md").read_text()
    assert "| `mlp_sigmoid` | zoo |" in text and "## Time to accuracy" in text and "## int8 ONNX" in text
