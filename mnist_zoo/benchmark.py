"""The zoo benchmark: train every matching recipe over several seeds, evaluate it and its export,
and publish `zoo.csv`, `zoo.json`, `zoo.md` and `accuracy_vs_time.png`."""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import hashlib
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from mnist_zoo.config import RECIPES_DIR, RunConfig, load_config, to_toml, with_overrides
from mnist_zoo.errors import ConfigError
from mnist_zoo.export import export_saved_model
from mnist_zoo.files import atomic_path, make_directory, replace_between, write_text_atomic
from mnist_zoo.models.registry import accuracy_text
from mnist_zoo.training.runner import load_run, load_run_data, train

RESULTS_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
QUICK = {"data.train_size": 1024, "data.validation_size": 512, "data.test_size": 1000, "train.epochs": 1}
README = Path(__file__).resolve().parent.parent / "README.md"
TABLE_START, TABLE_END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"

# Published results the zoo measures itself against (test accuracy, %), from ../shared/SEEDS.md.
REFERENCE_LINES = {
    "S3, one epoch": 83.96,
    "S1 MSE MLP": 88.0,
    "LeCun 300+100 MLP": 96.95,
    "Hinton 500+300 MLP": 98.47,
    "Simard MLP, affine": 98.9,
    "keras-io convnet": 99.22,
    "Simard CNN, elastic": 99.6,
    "Ciresan MLP, elastic": 99.65,
}

# test errors (%) that get a tick on the accuracy-vs-time plot
ERROR_TICKS = (0.2, 0.3, 0.5, 1, 2, 5, 10, 20, 50, 80)

COLUMNS = [
    "model", "architecture", "params", "flops", "epochs", "precision", "seeds", "test_accuracy_mean", "test_accuracy_std",
    "export_test_accuracy_mean", "train_seconds", "train_samples_per_second", "latency_batch1_ms",
    "throughput_batch1000_per_second", "test_images",
]


def recipes(pattern: str = "*") -> list[str]:
    """Recipe names (paths under `zoo_configs/` without `.toml`) matching a shell-style pattern."""
    names = sorted(path.relative_to(RECIPES_DIR).with_suffix("").as_posix() for path in RECIPES_DIR.rglob("*.toml"))
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def run_digest(config: RunConfig) -> str:
    """Eight hex digits of everything in the config that training reads: all but the description."""
    return hashlib.sha256(to_toml(dataclasses.replace(config, description="")).encode()).hexdigest()[:8]


def run_once(recipe: str, seed: int, quick: bool, runs_dir: Path) -> tuple[dict[str, Any], Path]:
    """Train one seed of a recipe, or reuse the finished run of the same config from an earlier call.

    The run directory is named after the recipe, the seed and `run_digest` of the
    resolved config, so an edited recipe trains afresh beside the old runs.
    """
    config = with_overrides(load_config(RECIPES_DIR / f"{recipe}.toml"), {"train.seed": seed, **(QUICK if quick else {})})
    directory = runs_dir / f"{recipe.replace('/', '-')}-seed{seed}-{run_digest(config)}"
    finished = directory / "metrics.json"
    if finished.exists():
        print(f"reusing finished run {directory}")
        return json.loads(finished.read_text()), directory
    return train(config, out=directory).metrics, directory


def measure_export(run_dir: Path, quick: bool) -> dict[str, float]:
    """Accuracy of the exported SavedModel on the run's test images, and its batch-1 / batch-1000 speed."""
    config, model = load_run(run_dir)
    version = export_saved_model(model, run_dir / "export", force=True)
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    data = load_run_data(config)
    classes = np.concatenate([serve(images=tf.constant(data.x_test[i : i + 1000]))["classes"].numpy()
                              for i in range(0, len(data.x_test), 1000)])
    one = tf.constant(data.x_test[:1])
    thousand = tf.constant(np.resize(data.x_test, (1000, 28, 28)))
    warmup = 1 if quick else 5  # quick runs check that timing works, not the time
    return {
        "export_test_accuracy": float(np.mean(classes == data.y_test)),
        "latency_batch1_ms": 1000 * _median_seconds(lambda: serve(images=one), 20 if quick else 500, warmup),
        "throughput_batch1000_per_second": 1000 / _median_seconds(lambda: serve(images=thousand),
                                                                  2 if quick else 30, warmup),
    }


def seconds_per_call(call: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    """Wall-clock seconds of each of `repeats` calls of `call`, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _median_seconds(call: Callable[[], object], repeats: int, warmup: int) -> float:
    return statistics.median(seconds_per_call(call, repeats, warmup))


def benchmark(pattern: str = "*", *, seeds: int = 3, quick: bool = False, out: str | Path | None = None) -> list[dict]:
    """Benchmark every recipe matching `pattern`; write the result files into `out`; return the records.

    Full runs write to `benchmarks/results/` and refresh the README's model table;
    `quick` runs (one epoch on a small real subset) write to `out` or `runs/benchmark-quick/`.
    """
    names = recipes(pattern)
    if not names:
        raise ConfigError(f"no recipe in zoo_configs/ matches {pattern!r}")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    # made before the first run trains, so that an impossible --out fails at once, not hours later
    out = make_directory(out if out is not None else (Path("runs") / "benchmark-quick" if quick else RESULTS_DIR))
    runs_dir = Path("runs") / ("benchmark-quick" if quick else "benchmark")
    records = []
    for recipe in names:
        seeds_metrics, exports = [], []
        for seed in range(seeds):
            metrics, directory = run_once(recipe, seed, quick, runs_dir)
            seeds_metrics.append(metrics)
            exports.append(measure_export(directory, quick))
        records.append(summarize(recipe, seeds_metrics, exports))
        write_results(records, out, quick)
    return records


def summarize(recipe: str, metrics: list[dict], exports: list[dict]) -> dict[str, Any]:
    """One record per recipe: means and spreads over seeds."""
    accuracies = [m["test_accuracy"] for m in metrics]
    validation = [m["val_accuracy"] for m in metrics]  # None for a recipe that holds out no validation split
    seconds = [m["train_seconds"] for m in metrics]
    config = load_config(RECIPES_DIR / f"{recipe}.toml")
    return {
        "model": recipe,
        "architecture": metrics[0]["model"],
        "description": config.description,
        "params": metrics[0]["params"],
        "flops": metrics[0]["flops"],
        "epochs": statistics.mean(m["epochs"] for m in metrics),
        "precision": metrics[0]["precision"],
        "seeds": len(metrics),
        "test_accuracy_mean": statistics.mean(accuracies),
        "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "test_accuracies": accuracies,
        "val_accuracy_mean": None if None in validation else statistics.mean(validation),
        "val_accuracies": validation,
        "export_test_accuracy_mean": statistics.mean(e["export_test_accuracy"] for e in exports),
        "train_seconds": statistics.mean(seconds),
        "train_seconds_per_seed": seconds,  # a time budget holds for each seed
        "train_samples_per_second": statistics.mean(m["train_samples_per_second"] for m in metrics),
        "latency_batch1_ms": statistics.median(e["latency_batch1_ms"] for e in exports),
        "throughput_batch1000_per_second": statistics.median(e["throughput_batch1000_per_second"] for e in exports),
        "test_images": metrics[0]["test_images"],
        "machine": metrics[0]["machine"],
        "versions": metrics[0]["versions"],
        "command": f"mnist-zoo benchmark '{recipe}' --seeds {len(metrics)}",
    }


def merge_records(records: list[dict], out: Path) -> list[dict]:
    """`records` merged into the ones already in `out/zoo.json` (same recipe replaced), in recipe order."""
    existing = json.loads((out / "zoo.json").read_text()) if (out / "zoo.json").exists() else []
    merged = {record["model"]: record for record in existing}
    merged.update({record["model"]: record for record in records})
    order = {name: index for index, name in enumerate(recipes())}
    return sorted(merged.values(), key=lambda record: order.get(record["model"], len(order)))


def write_results(records: list[dict], out: Path, quick: bool) -> None:
    """zoo.json, zoo.csv, zoo.md and accuracy_vs_time.png in `out`; the README table for full runs.

    Records of recipes benchmarked earlier into the same `out` are kept.
    """
    make_directory(out)
    records = merge_records(records, out)
    write_text_atomic(out / "zoo.json", json.dumps(records, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    write_text_atomic(out / "zoo.csv", buffer.getvalue())
    table = markdown_table(records)
    setups = "\n".join(f"- {setup}" for setup in measured_on(records, with_versions=True))
    write_text_atomic(out / "zoo.md", f"# Zoo benchmark{' (quick check, not a result)' if quick else ''}\n\n"
                      f"{table}\nMeasured on:\n\n{setups}\n\n"
                      "Reproduce a row with the command in zoo.json, e.g. "
                      f"`{records[0]['command']}`.\n")
    plot_accuracy_vs_time(records, out / "accuracy_vs_time.png")
    if not quick and out.resolve() == RESULTS_DIR.resolve():
        replace_between(README, TABLE_START, TABLE_END, readme_table(records))


def readme_table(records: list[dict]) -> str:
    """The README's block between TABLE_START and TABLE_END: the model table and where it was measured."""
    return f"{markdown_table(records)}\nMeasured on {' and on '.join(measured_on(records))} by `mnist-zoo benchmark`.\n"


def measured_on(records: list[dict], with_versions: bool = False) -> list[str]:
    """Each machine (and, `with_versions`, library set) the records were measured on; the recipes
    it measured are named once records come from more than one (merged runs of several machines)."""
    groups: dict[str, list[str]] = {}
    for record in records:
        setup = record["machine"]
        if with_versions:
            setup += ". Libraries: " + ", ".join(f"{key} {value}" for key, value in record["versions"].items())
        groups.setdefault(setup, []).append(f"`{record['model']}`")
    if len(groups) == 1:
        return list(groups)
    return [f"{setup} ({', '.join(models)})" for setup, models in groups.items()]


def markdown_table(records: list[dict]) -> str:
    lines = [
        "| recipe | params | MFLOPs/image | epochs | precision | test accuracy (mean ± std, seeds) | export accuracy "
        "| train s | train images/s | batch-1 latency ms | batch-1000 images/s |",
        "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in records:
        lines.append(
            f"| `{r['model']}` | {r['params']:,} | {r['flops'] / 1e6:.2f} | {r['epochs']:g} | {r['precision']} "
            f"| {accuracy_text(r['test_accuracy_mean'], r['test_accuracy_std'])} ({r['seeds']}) "
            f"| {100 * r['export_test_accuracy_mean']:.3f}% | {r['train_seconds']:.1f} "
            f"| {r['train_samples_per_second']:,.0f} | {r['latency_batch1_ms']:.2f} "
            f"| {r['throughput_batch1000_per_second']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot_accuracy_vs_time(records: list[dict], path: Path) -> None:
    """Test accuracy against training seconds, one point per recipe, with the published reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 7))
    # accuracy on a log scale of the error, so that 99.5% and 99.7% sit as far apart as 95% and 97%
    errors = [100 * (1 - r["test_accuracy_mean"]) for r in records]
    for r, error in zip(records, errors):
        axis.errorbar(r["train_seconds"], error, yerr=100 * r["test_accuracy_std"], fmt="o", capsize=3)
        axis.annotate(r["model"], (r["train_seconds"], error), textcoords="offset points", xytext=(5, 4), fontsize=8)
    axis.set(xscale="log", yscale="log")
    for label, value in REFERENCE_LINES.items():
        axis.axhline(100 - value, color="gray", linestyle=":", linewidth=1)
        axis.text(axis.get_xlim()[1], 100 - value, f" {label} {value}%", va="center", fontsize=7, color="gray")
    ticks = [error for error in ERROR_TICKS if min(errors) / 2 <= error <= max(errors) * 2]
    axis.set_yticks(ticks, [f"{100 - error:g}" for error in ticks])
    axis.minorticks_off()
    axis.invert_yaxis()
    axis.set(xlabel="training seconds (log scale)", ylabel="test accuracy (%), on a log scale of the error",
             title="mnist_zoo: test accuracy vs training time")
    axis.grid(alpha=0.3)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)
