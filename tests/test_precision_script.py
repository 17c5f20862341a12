"""benchmarks/precision.py still runs end to end (quick mode) and keeps other recipes' and machines' rows."""

from __future__ import annotations

import json

from fresh_process import run_benchmark

from mnist_zoo.training.distribute import PRECISIONS
from mnist_zoo.training.machine import machine_description


def test_quick_precision_benchmark_times_every_policy_and_keeps_other_recipes_and_machines(tmp_path, mnist):
    earlier = {"recipe": "cnn_bn", "precision": "float32", "images_per_second": 600.0, "command": "earlier run"}
    other = {"machine": "another CPU, 2 cores, Linux; avx2 avx512f avx512_bf16", "quick": False, "rows": [earlier]}
    full_run_here = {**other, "machine": machine_description()}  # a full run's rows: not mixed with a quick run's
    (tmp_path / "precision.json").write_text(json.dumps({"machines": [other, full_run_here]}))
    for recipe in ("mlp_bn", "mlp_sigmoid", "mlp_bn"):
        run_benchmark("precision.py", "--quick", "--recipe", recipe, "--out", tmp_path)
    machines = json.loads((tmp_path / "precision.json").read_text())["machines"]
    assert [entry["machine"] for entry in machines] == [other["machine"], machine_description()]
    here = machines[1]
    assert here["quick"] and [(row["recipe"], row["precision"]) for row in here["rows"]] == [
        (recipe, precision) for recipe in ("mlp_sigmoid", "mlp_bn") for precision in PRECISIONS]
    assert all(row["images_per_second"] > 0 for row in here["rows"])
    assert here["rows"][0]["command"] == "python benchmarks/precision.py --quick --recipe mlp_sigmoid"
    text = (tmp_path / "precision.md").read_text()
    assert "Machine: another CPU, 2 cores, Linux; avx2 avx512f avx512_bf16. Command: `earlier run`." in text
    assert "--recipe mlp_sigmoid`, `python benchmarks/precision.py --quick --recipe mlp_bn`." in text
    assert "| `mlp_bn` | float32 |" in text and "| `mlp_sigmoid` | float32 |" in text and "| 1.00x |" in text
