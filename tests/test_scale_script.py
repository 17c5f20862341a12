"""benchmarks/scale.py still runs end to end (quick mode): one process, then 1 and 2 multi_worker processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "scale.py"


def test_quick_scale_benchmark_measures_one_and_two_workers(tmp_path, mnist):
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--epochs", "2", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    scale = json.loads((tmp_path / "scale.json").read_text())
    assert [row["workers"] for row in scale["rows"]] == [1, 1, 2]
    assert all(row["images_per_second"] > 0 and row["test_accuracy"] > 0.8 for row in scale["rows"])
    assert "| multi_worker, 2 workers | 2 |" in (tmp_path / "scale.md").read_text()
