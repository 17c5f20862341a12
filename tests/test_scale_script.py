"""benchmarks/scale.py still runs end to end (quick mode): one process, then 1 and 2 multi_worker processes."""

from __future__ import annotations

import json

from fresh_process import run_benchmark


def test_quick_scale_benchmark_measures_one_and_two_workers(tmp_path, mnist):
    run_benchmark("scale.py", "--quick", "--epochs", "2", "--out", tmp_path)
    scale = json.loads((tmp_path / "scale.json").read_text())
    assert [row["workers"] for row in scale["rows"]] == [1, 1, 2]
    assert all(row["images_per_second"] > 0 and row["test_accuracy"] > 0.8 for row in scale["rows"])
    assert "| multi_worker, 2 workers | 2 |" in (tmp_path / "scale.md").read_text()
