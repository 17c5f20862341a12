"""Data-parallel training throughput on loopback: one process, then 1 and 2 `multi_worker` processes.

    python benchmarks/scale.py [--model mlp_bn] [--epochs 3] [--quick] [--out DIR]

Runs `mnist-zoo train MODEL` as a plain single process, then as N worker processes on
127.0.0.1 with `--strategy multi_worker` and a TF_CONFIG each (N = 1, 2), exactly as the
README's "Scaling out" shows, and reports training images/s (median epoch after the first,
from the chief's history.csv) and test accuracy. On one 2-core machine the two workers
share the same cores and talk over gRPC each step, so the 2-worker figure is lower: the
point is that the path works and its cost is measured.

Writes scale.json and scale.md into benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mnist_zoo.config import load_config
from mnist_zoo.files import write_report
from mnist_zoo.training.callbacks import read_history
from mnist_zoo.training.distribute import loopback_tf_configs
from mnist_zoo.training.machine import machine_description
from mnist_zoo.training.runner import library_versions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK = ["--set", "data.train_size=4096", "--set", "data.test_size=1000"]


def train(model: str, epochs: int, quick: bool, out: Path, workers: int) -> dict:
    """Run the training command with `workers` multi-worker processes (0: one plain process)."""
    command = [sys.executable, "-m", "mnist_zoo", "train", model, "--epochs", str(epochs), "--out", str(out),
               *(QUICK if quick else [])]
    base = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    if workers:
        command += ["--strategy", "multi_worker"]
        environments = [{**base, "TF_CONFIG": tf_config} for tf_config in loopback_tf_configs(workers)]
    else:
        environments = [base]
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
                 for env in environments]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    seconds = [row["seconds"] for row in read_history(out / "history.csv")]
    return {
        "setup": f"multi_worker, {workers} worker{'s' if workers > 1 else ''}" if workers else "one process",
        "workers": workers or 1,
        "images_per_second": metrics["train_images"] / statistics.median(seconds[1:] or seconds),
        "test_accuracy": metrics["test_accuracy"],
        "epochs": len(seconds),
        "batch_size": load_config(out / "config.toml").train.batch_size,
        "command": ("TF_CONFIG=... " if workers else "") + " ".join(["mnist-zoo", *command[3:]]),
    }


def markdown(result: dict) -> str:
    lines = [
        "# Data-parallel training on loopback",
        "",
        f"`{result['model']}`, global batch {result['rows'][0]['batch_size']}, {result['epochs']} epochs; "
        "images/s is the median epoch after the first.",
        f"Machine: {result['machine']}. Command: `{result['command']}`.",
        "",
        "| setup | workers | train images/s | test accuracy |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {row['setup']} | {row['workers']} | {row['images_per_second']:,.0f} | {100 * row['test_accuracy']:.2f}% |"
              for row in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp_bn", help="registry name")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is warm-up)")
    parser.add_argument("--quick", action="store_true", help="a small real subset: checks the script runs")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="results directory")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [train(args.model, args.epochs, args.quick, Path(workdir) / f"run{workers}", workers)
                for workers in (0, 1, 2)]
    for row in rows:
        print(f"{row['setup']}: {row['images_per_second']:,.0f} images/s, test accuracy {row['test_accuracy']:.4f}")
    result = {
        "quick": args.quick,
        "command": "python benchmarks/scale.py" + (" --quick" if args.quick else "")
        + f" --model {args.model} --epochs {args.epochs}",
        "model": args.model,
        "epochs": args.epochs,
        "machine": machine_description(),
        "versions": library_versions(),
        "rows": rows,
    }
    write_report(args.out, "scale", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
