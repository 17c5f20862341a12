"""benchmarks/precision.py still runs end to end (quick mode) and keeps other machines' rows."""

from __future__ import annotations

import json

from fresh_process import run_benchmark

from mnist_zoo.training.distribute import PRECISIONS
from mnist_zoo.training.machine import machine_description


def test_quick_precision_benchmark_times_every_policy_and_keeps_other_machines(tmp_path, mnist):
    other = {"machine": "another CPU, 2 cores, Linux; avx2 avx512f avx512_bf16", "command": "earlier run",
             "rows": [{"recipe": "cnn_bn", "precision": "float32", "images_per_second": 600.0}]}
    stale = {**other, "machine": machine_description()}
    (tmp_path / "precision.json").write_text(json.dumps({"machines": [other, stale]}))
    run_benchmark("precision.py", "--quick", "--recipe", "mlp_bn", "--out", tmp_path)
    machines = json.loads((tmp_path / "precision.json").read_text())["machines"]
    assert [entry["machine"] for entry in machines] == [other["machine"], machine_description()]
    here = machines[1]
    assert here["quick"] and [row["precision"] for row in here["rows"]] == list(PRECISIONS)
    assert all(row["recipe"] == "mlp_bn" and row["images_per_second"] > 0 for row in here["rows"])
    text = (tmp_path / "precision.md").read_text()
    assert "Machine: another CPU" in text and "| `mlp_bn` | float32 |" in text and "| 1.00x |" in text
