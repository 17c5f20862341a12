"""Training and inference speed of the zoo against plain Keras and PyTorch, side by side on this machine.

    python benchmarks/speed.py [--models mlp_sigmoid,mlp_bn,cnn_small] [--quick] [--out DIR]

Training: full-epoch throughput (the median epoch of at least 5 rounds after a warm-up epoch, the
runners taking turns, and more rounds, up to 40, until 30 s of them: an MLP's epoch takes well under
a second; speed-ups are medians of the ratios within a round), batch 128, for
  zoo      the runner's compiled model and tf.data pipeline, as `mnist-zoo train` uses them
           (the recipe's optimizer, schedule and precision, the builder's default architecture, no
           augmentation);
  zoo+aug  the same with the recipe's augmentation;
  zoo, XLA off (or on)
           the zoo without augmentation, XLA the other way from `train.jit_compile = "auto"`'s
           choice for the model: what that default buys;
  keras    the keras-io style baseline: the same architecture, NumPy arrays into `model.fit`,
           default `compile` (in this process, so with the zoo's oneDNN kernels, which TensorFlow
           turns on by itself only on AVX-512 VNNI, bfloat16 or AMX CPUs: elsewhere a plain script
           is slower than this baseline);
  torch    an equivalent PyTorch eager loop (only when `torch` is installed; the zoo never needs it),
           with glibc malloc set to reuse large buffers (reuse_large_buffers), so that PyTorch's
           speed does not hang on page faults.
Achieved training FLOP/s (`count_training_flops`: forward, weight and input gradients, less the
first layer's input gradient, which nobody computes) is reported against a float32
matrix-multiply peak measured in the same run, and the minor page faults of the median epoch per
image: near 0 where a runner reuses its buffers, tens where it maps them afresh at every step.
Each runner's model is then tested on the official test set, after the same number of epochs as
the others, so a speed-up bought with accuracy would show.

Inference: batch-1 latency (median and p99) and batch-10,000 throughput of Keras
`model.predict` and `model(x)`, the SavedModel signature, ONNX Runtime (float32 and
int8 dense layers) and LiteRT; and, for the int8 export, test accuracy and the number
of predictions that differ from the Keras model's after a short training run.

Time to accuracy: `mnist-zoo train cnn_fast` (the speed entry) run as a user would, its
training seconds, test accuracy and whole wall time.

Writes speed.json and speed.md into benchmarks/results/ (or --out); this machine's result replaces its
earlier one there, and other machines' results stay, so the files compare the machines it has run on.
speed.md opens with the speed goals against every machine; a full run into benchmarks/results/ also
writes that table into the README.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import mnist_zoo  # noqa: F401  # before TensorFlow, so its oneDNN setting holds as in `mnist-zoo train`
import keras
import numpy as np
import tensorflow as tf

from mnist_zoo.benchmark import README, seconds_per_call
from mnist_zoo.config import resolve_config, with_overrides
from mnist_zoo.export import export_file, export_saved_model
from mnist_zoo.files import replace_between, write_machine_report
from mnist_zoo.models import build
from mnist_zoo.models.flops import count_training_flops
from mnist_zoo.models.registry import builder_defaults
from mnist_zoo.training.compiling import resolve_precision
from mnist_zoo.training.machine import machine_description
from mnist_zoo.training.runner import (
    Data,
    library_versions,
    load_run_data,
    model_and_training_set,
    predict_probabilities,
    train,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GOALS_START, GOALS_END = "<!-- speed-goals:start -->", "<!-- speed-goals:end -->"
MODELS = ("mlp_sigmoid", "mlp_bn", "cnn_small")
BATCH = 128
QUICK_IMAGES = 4096
ROUNDS = 5  # at least, and more while a model's rounds add up to less than ROUND_SECONDS
ROUND_SECONDS = 30.0
MAX_ROUNDS = 40
SPEED_ENTRY = "cnn_fast"  # the zoo's entry for the 99%-in-8-seconds goal
# the speed issue's goals
KERAS_GOAL, TORCH_GOAL = 3.0, 1.2  # training throughput over the keras-io baseline and over PyTorch
ENTRY_ACCURACY, ENTRY_SECONDS = 0.99, 8.0
SERVED_MODEL, LATENCY_GOAL_US, THROUGHPUT_GOAL = "mlp_bn", 100.0, 200_000
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD_MAX = 32 << 20  # the highest mmap threshold glibc's own adjustment reaches on 64-bit Linux


def matmul_peak_gflops(size: int = 2048) -> float:
    """Best float32 matrix-multiply rate TensorFlow reaches on this machine, in GFLOP/s."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    best = min(seconds_per_call(lambda: tf.linalg.matmul(a, b).numpy(), 10))
    return 2 * size**3 / best / 1e9


class Runner(NamedTuple):
    """One way of training a model: `epoch()` trains it one more epoch, `accuracy(x, y)` tests it;
    `precision` is the dtype policy it computes in."""

    epoch: Callable[[], object]
    accuracy: Callable[[np.ndarray, np.ndarray], float]
    precision: str = "float32"


def keras_accuracy(model: keras.Model) -> Callable[[np.ndarray, np.ndarray], float]:
    """Test accuracy of a Keras model taking uint8 images, as a function of the images and labels."""
    return lambda x, y: float(np.mean(predict_probabilities(model, x).argmax(axis=1) == y))


def zoo_runner(name: str, data: Data, augment: bool, jit_compile: str = "auto") -> tuple[Runner, bool]:
    """The runner's own training path on `data` (in the precision `train` would choose), an epoch at a time,
    and whether XLA compiles it."""
    overrides = {f"model.{key}": value for key, value in builder_defaults(name).items()}
    overrides.update({"data.augment": augment, "train.batch_size": BATCH, "train.jit_compile": jit_compile})
    config = resolve_precision(with_overrides(resolve_config(name), overrides))
    model, dataset = model_and_training_set(config, data, steps_per_epoch=-(-len(data.x_train) // BATCH))
    runner = Runner(lambda: model.fit(dataset, epochs=1, verbose=0), keras_accuracy(model), config.train.precision)
    return runner, bool(model.jit_compile)


def keras_runner(name: str, x: np.ndarray, y: np.ndarray) -> Runner:
    """The keras-io style baseline: NumPy arrays into `fit`, default `compile`, an epoch at a time."""
    model = build(name)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return Runner(lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0), keras_accuracy(model))


def torch_version() -> dict[str, str]:
    """{"torch": version} when PyTorch is installed, else {}."""
    try:
        import torch
    except ImportError:
        return {}
    return {"torch": torch.__version__}


def torch_model(name: str):
    """The PyTorch equivalent of a zoo entry's default architecture (normalisation done outside)."""
    from torch import nn

    if name == "mlp_sigmoid":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 30), nn.Sigmoid(),
                             nn.Linear(30, 10))
    if name == "mlp_bn":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
                             nn.Linear(512, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 10))
    if name == "cnn_small":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 64), nn.ReLU(), nn.Linear(64, 10))
    raise ValueError(f"no PyTorch equivalent of {name!r}")


def reuse_large_buffers() -> bool:
    """Have glibc malloc serve buffers of up to 32 MiB from its heap, as it does by itself once the process
    has freed one such block; True where that could be set (Linux with glibc).

    PyTorch's eager CPU loop allocates its activations and gradients anew at every step. Until glibc raises
    its mmap threshold, each buffer over 128 KiB is a fresh mapping whose pages fault in on first touch:
    ~50 page faults per `cnn_small` image, and epochs 30-45% slower, depending on what the process had
    freed before. TensorFlow pools its buffers and was not affected.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_MAX)
    )


def torch_runner(name: str, x: np.ndarray, y: np.ndarray) -> Runner | None:
    """An eager PyTorch loop (Adam, cross-entropy, reshuffled batches), an epoch at a time; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    reuse_large_buffers()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    images = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(y.astype(np.int64))
    model = torch_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), BATCH):
            index = order[start : start + BATCH]
            optimizer.zero_grad()
            loss_fn(model(images[index]), labels[index]).backward()
            optimizer.step()

    def accuracy(x_test: np.ndarray, y_test: np.ndarray) -> float:
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(x_test.astype(np.float32) / 255.0).unsqueeze(1))
        return float(np.mean(logits.argmax(dim=1).numpy() == y_test))

    return Runner(epoch, accuracy)


def timed_epoch(epoch: Callable[[], object]) -> tuple[float, int]:
    """Wall-clock seconds of one call of `epoch`, and the minor page faults of this process during it."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def interleaved_epochs(
    epochs: dict[str, Callable[[], object]], min_seconds: float = ROUND_SECONDS
) -> dict[str, list[tuple[float, int]]]:
    """(seconds, page faults) of each runner's epoch in each round, after a warm-up epoch each: ROUNDS
    rounds, and more (up to MAX_ROUNDS) until the rounds add up to `min_seconds`.

    Runners take turns within each round, so a slow spell of this shared 2-core
    machine (epochs vary by up to half here) falls on neighbours alike.
    """
    for epoch in epochs.values():
        epoch()
    rounds: dict[str, list[tuple[float, int]]] = {runner: [] for runner in epochs}
    for done in range(MAX_ROUNDS):
        if done >= ROUNDS and sum(seconds for runs in rounds.values() for seconds, _ in runs) >= min_seconds:
            break
        for runner, epoch in epochs.items():
            rounds[runner].append(timed_epoch(epoch))
    return rounds


def training_rows(name: str, quick: bool, peak: float) -> list[dict]:
    """Images per second of each way of training `name`, with FLOP/s against the peak."""
    config = with_overrides(resolve_config(name), {"data.train_size": QUICK_IMAGES} if quick else {})
    data = load_run_data(config)
    training_flops = count_training_flops(build(name))
    zoo, xla = zoo_runner(name, data, augment=False)
    runners = {
        "zoo": zoo,
        "zoo+aug": zoo_runner(name, data, augment=True)[0],
        # the other side of `train.jit_compile = "auto"`'s choice for this model: what the default buys
        f"zoo, XLA {'off' if xla else 'on'}": zoo_runner(name, data, False, jit_compile="off" if xla else "on")[0],
        "keras": keras_runner(name, data.x_train, data.y_train),
        "torch": torch_runner(name, data.x_train, data.y_train),
    }
    measured = interleaved_epochs({runner: way.epoch for runner, way in runners.items() if way is not None},
                                  min_seconds=0.0 if quick else ROUND_SECONDS)
    rows = []
    for runner, runs in measured.items():
        rounds, faults = [seconds for seconds, _ in runs], [count for _, count in runs]
        elapsed = statistics.median(rounds)
        rate = len(data.x_train) / elapsed
        gflops = training_flops * rate / 1e9
        rows.append({"model": name, "runner": runner, "precision": runners[runner].precision,
                     "batch_size": BATCH, "images": len(data.x_train), "train_flops_per_image": training_flops,
                     "epoch_seconds": elapsed, "round_seconds": rounds, "images_per_second": rate, "train_gflops_per_second": gflops,
                     "fraction_of_matmul_peak": gflops / peak,
                     "page_faults_per_image": statistics.median(faults) / len(data.x_train),
                     # as many epochs as every other runner: shows whether a speed was bought with accuracy
                     "epochs_trained": 1 + len(rounds),
                     "test_accuracy": runners[runner].accuracy(data.x_test, data.y_test)})
        print(f"train {name:<12} {runner:<13} {rate:>10,.0f} images/s  {gflops:6.1f} GFLOP/s", flush=True)
    return rows


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX Runtime session on `path` as a function of uint8 images."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    input_name = session.get_inputs()[0].name
    return lambda x: session.run(None, {input_name: x})[0]


def int8_agreement(name: str, data: Data, quick: bool, workdir: Path) -> dict | None:
    """Test accuracy of `name` briefly trained by its recipe, in Keras and as int8 ONNX, and how often they
    disagree; None without ONNX Runtime."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    epochs = 1 if quick else 3
    run = train(name, out=workdir / name, **{"train.epochs": epochs, "data.train_size": QUICK_IMAGES if quick else 0})
    keras_classes = predict_probabilities(run.model, data.x_test).argmax(axis=1)
    int8_classes = onnx_runner(export_file(run.model, workdir / name, "onnx_int8"))(data.x_test).argmax(axis=1)
    row = {"model": name, "epochs": epochs, "test_images": len(data.y_test),
           "keras_accuracy": float(np.mean(keras_classes == data.y_test)),
           "int8_accuracy": float(np.mean(int8_classes == data.y_test)),
           "disagreements": int(np.sum(keras_classes != int8_classes))}
    print(f"int8 {name:<12} keras {row['keras_accuracy']:.2%}  int8 {row['int8_accuracy']:.2%}  "
          f"{row['disagreements']} of {row['test_images']} predictions differ", flush=True)
    return row


def inference_runtimes(model: keras.Model, workdir: Path) -> dict[str, Callable[[np.ndarray], object]]:
    """Callables mapping uint8 images to probabilities (or logits), one per runtime that is installed."""
    runtimes: dict[str, Callable[[np.ndarray], object]] = {
        "keras predict": lambda x: model.predict(x, verbose=0, batch_size=len(x)),
        "keras model(x)": lambda x: model(x, training=False).numpy(),
    }
    serve = tf.saved_model.load(str(export_saved_model(model, workdir / "saved_model"))).signatures["serving_default"]
    runtimes["saved_model"] = lambda x: serve(images=tf.constant(x))["probabilities"].numpy()
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime not installed: skipping ONNX (pip install 'mnist_zoo[onnx]')", file=sys.stderr)
    else:
        for runtime, fmt in (("onnxruntime", "onnx"), ("onnxruntime int8", "onnx_int8")):
            runtimes[runtime] = onnx_runner(export_file(model, workdir, fmt))
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: skipping TFLite (pip install 'mnist_zoo[litert]')", file=sys.stderr)
    else:
        path = str(export_file(model, workdir, "tflite"))
        interpreters: dict[int, Interpreter] = {}

        def litert(x: np.ndarray) -> np.ndarray:
            interpreter = interpreters.get(len(x))
            if interpreter is None:  # one interpreter per batch size, allocated once
                interpreter = interpreters[len(x)] = Interpreter(model_path=path)
                interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(x.shape))
                interpreter.allocate_tensors()
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        runtimes["litert"] = litert
    return runtimes


def inference_rows(name: str, x_test: np.ndarray, quick: bool) -> list[dict]:
    """Batch-1 latency and batch-10,000 throughput of every runtime for `name` (untrained weights)."""
    model = build(name)
    one, many = x_test[:1], np.resize(x_test, (10000, 28, 28))
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for runtime, run in inference_runtimes(model, Path(workdir)).items():
            calls = 100 if runtime == "keras predict" or quick else 1000
            latency = np.array(seconds_per_call(lambda: run(one), calls, warmup=10))
            batched = statistics.median(seconds_per_call(lambda: run(many), 3 if quick else 10))
            row = {"model": name, "runtime": runtime, "batch1_calls": calls,
                   "batch1_median_us": 1e6 * float(np.median(latency)),
                   "batch1_p99_us": 1e6 * float(np.percentile(latency, 99)),
                   "batch10000_images_per_second": 10000 / batched}
            rows.append(row)
            print(f"infer {name:<12} {runtime:<15} batch-1 median {row['batch1_median_us']:8.1f} us "
                  f"p99 {row['batch1_p99_us']:8.1f} us  batch-10000 {row['batch10000_images_per_second']:>11,.0f}"
                  " images/s", flush=True)
    return rows


def time_to_accuracy(recipe: str, quick: bool, workdir: Path) -> dict:
    """Run `mnist-zoo train RECIPE` as a user would; its wall time (start-up included) and its metrics."""
    out = workdir / recipe
    command = [sys.executable, "-m", "mnist_zoo", "train", recipe, "--out", str(out)]
    if quick:
        command += ["--epochs", "1", "--set", f"data.train_size={QUICK_IMAGES}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    row = {"recipe": recipe, "command": f"mnist-zoo train {recipe}", "wall_seconds": wall,
           "train_seconds": metrics["train_seconds"], "test_accuracy": metrics["test_accuracy"]}
    print(f"time to accuracy: {row['command']}: {row['test_accuracy']:.2%} after {row['train_seconds']:.1f} s "
          f"of training, {wall:.1f} s wall", flush=True)
    return row


def speedups(training: list[dict]) -> list[dict]:
    """Per model: the zoo's throughput over the keras-io baseline's and over PyTorch's, each the median
    over rounds of the ratio within a round (runners in one round ran minutes apart at most)."""
    out = []
    for name in dict.fromkeys(row["model"] for row in training):
        rounds = {row["runner"]: row["round_seconds"] for row in training if row["model"] == name}

        def ratio(other: str) -> float | None:
            if other not in rounds:
                return None
            return statistics.median(theirs / ours for ours, theirs in zip(rounds["zoo"], rounds[other]))

        out.append({"model": name, "zoo_over_keras": ratio("keras"), "zoo_over_torch": ratio("torch")})
    return out


def table(header: str, rows: list[str], text_columns: int = 2) -> list[str]:
    """A markdown table: `header` like "| a | b |", its first `text_columns` left-aligned, the rest
    (numbers) right-aligned, then `rows`."""
    columns = header.count("|") - 1
    return [header, "|" + " --- |" * text_columns + " ---: |" * (columns - text_columns), *rows]


def machine_section(result: dict) -> list[str]:
    """speed.md's section for one machine: where it was measured, then its tables."""
    lines = [f"## {result['machine']}{' (quick check, not a result)' if result['quick'] else ''}", "",
             f"float32 matmul peak: {result['matmul_peak_gflops']:.0f} GFLOP/s. "
             f"Libraries: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}.", "",
             f"Command: `{result['command']}`"
             + (f", {result['wall_seconds'] / 60:.0f} minutes in all." if "wall_seconds" in result else ""), "",
             "### Training (batch 128, the median of full epochs after a warm-up epoch, runners taking turns)",
             "", "GFLOP/s: images/s times the arithmetic of a training step per image (`count_training_flops`: "
             "forward, weight and input gradients, less the first layer's input gradient).", ""]
    lines += table("| model | runner | precision | epochs timed | images/s | slowest-fastest epoch images/s | GFLOP/s "
                   "| of matmul peak | page faults per image | test accuracy after all its epochs |", [
        # runs before the precision column were all float32 (the zoo runner ignored the recipe's precision)
        f"| `{row['model']}` | {row['runner']} | {row.get('precision', 'float32')} | {len(row['round_seconds'])} "
        f"| {row['images_per_second']:,.0f} "
        f"| {row['images'] / max(row['round_seconds']):,.0f}-{row['images'] / min(row['round_seconds']):,.0f} "
        f"| {row['train_gflops_per_second']:.1f} | {row['fraction_of_matmul_peak']:.0%} "
        f"| {format(row['page_faults_per_image'], '.2f') if 'page_faults_per_image' in row else '-'} "
        f"| {format(row['test_accuracy'], '.2%') if 'test_accuracy' in row else '-'} |"
        for row in result["training"]], text_columns=3)
    lines += ["", "Speed-ups are medians over rounds of the ratio within a round.", "",
              "| model | zoo / keras-io | zoo / PyTorch |", "| --- | ---: | ---: |"]
    for row in result["speedups"]:
        torch_ratio = f"{row['zoo_over_torch']:.2f}x" if row["zoo_over_torch"] is not None else "-"
        lines.append(f"| `{row['model']}` | {row['zoo_over_keras']:.2f}x | {torch_ratio} |")
    lines += ["", "### Inference (untrained weights; speed does not depend on them)", ""]
    lines += table("| model | runtime | batch-1 median µs | batch-1 p99 µs | batch-10,000 images/s |", [
        f"| `{row['model']}` | {row['runtime']} | {row['batch1_median_us']:.1f} "
        f"| {row['batch1_p99_us']:.1f} | {row['batch10000_images_per_second']:,.0f} |" for row in result["inference"]])
    if result["int8"]:
        lines += ["", "### int8 ONNX against the Keras model (official test set, each model briefly trained)", ""]
        lines += table("| model | epochs | Keras accuracy | int8 accuracy | predictions that differ |", [
            f"| `{row['model']}` | {row['epochs']} | {row['keras_accuracy']:.2%} "
            f"| {row['int8_accuracy']:.2%} | {row['disagreements']} of {row['test_images']:,} |"
            for row in result["int8"]], text_columns=1)
    row = result["time_to_accuracy"]
    lines += ["", "### Time to accuracy", "",
              f"`{row['command']}`: {row['test_accuracy']:.2%} test accuracy after {row['train_seconds']:.1f} s "
              f"of training; the whole command, start-up and evaluation included, took {row['wall_seconds']:.1f} s.",
              ""]
    return lines


def verdict(text: str, met: bool) -> str:
    """A goals-table cell: the measured value, and whether it meets its goal."""
    return f"{text}, {'met' if met else 'not met'}"


def goal_cells(result: dict, models: list[str]) -> list[str]:
    """One machine's column of the goals table ("-" where it did not measure a goal), rows as in goals_table."""
    speedups = {row["model"]: row for row in result["speedups"]}
    cells = []
    for other, goal in (("zoo_over_keras", KERAS_GOAL), ("zoo_over_torch", TORCH_GOAL)):
        for model in models:
            ratio = speedups[model][other] if model in speedups else None
            cells.append("-" if ratio is None else verdict(f"{ratio:.2f}x", ratio >= goal))
    row = result["time_to_accuracy"]
    cells.append(verdict(f"{row['test_accuracy']:.2%} after {row['train_seconds']:.1f} s",
                         row["test_accuracy"] >= ENTRY_ACCURACY and row["train_seconds"] <= ENTRY_SECONDS))
    served = [row for row in result["inference"] if row["model"] == SERVED_MODEL]
    if not served:
        return cells + ["-", "-"]
    quickest = min(served, key=lambda row: row["batch1_median_us"])
    busiest = max(served, key=lambda row: row["batch10000_images_per_second"])
    return cells + [
        verdict(f"{quickest['batch1_median_us']:.1f} µs ({quickest['runtime']})",
                quickest["batch1_median_us"] <= LATENCY_GOAL_US),
        verdict(f"{busiest['batch10000_images_per_second']:,.0f}/s ({busiest['runtime']})",
                busiest["batch10000_images_per_second"] >= THROUGHPUT_GOAL),
    ]


def goals_table(machines: list[dict]) -> str:
    """The speed issue's goals against each machine's measurements: the value and whether it meets the goal."""
    models = list(dict.fromkeys(row["model"] for result in machines for row in result["speedups"]))
    goals = [f"`{model}` training, zoo / keras-io >= {KERAS_GOAL:g}x" for model in models]
    goals += [f"`{model}` training, zoo / PyTorch >= {TORCH_GOAL:g}x" for model in models]
    goals += [f"`{SPEED_ENTRY}`: >= {ENTRY_ACCURACY:.1%} test accuracy after <= {ENTRY_SECONDS:g} s of training",
              f"`{SERVED_MODEL}` batch-1 median <= {LATENCY_GOAL_US:g} µs, fastest runtime",
              f"`{SERVED_MODEL}` batch-10,000 >= {THROUGHPUT_GOAL:,} images/s, fastest runtime"]
    columns = [goal_cells(result, models) for result in machines]
    header = "| goal |" + "".join(
        f" {result['machine']}{' (quick check)' if result['quick'] else ''} |" for result in machines)
    rows = [f"| {goal} |" + "".join(f" {cells[index]} |" for cells in columns) for index, goal in enumerate(goals)]
    return "\n".join(table(header, rows, text_columns=1)) + "\n"


def readme_goals(machines: list[dict]) -> str:
    """The README's block between GOALS_START and GOALS_END: the goals table and where it comes from."""
    return f"{goals_table(machines)}\nMeasured by `python benchmarks/speed.py` (`benchmarks/results/speed.md`).\n"


def markdown(machines: list[dict]) -> str:
    """speed.md: the goals against every machine, then one section per machine the benchmark has run on."""
    return "\n".join(["# Speed benchmark", "", "## Goals", "", goals_table(machines),
                      *(line for result in machines for line in machine_section(result))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated registry names")
    parser.add_argument("--quick", action="store_true", help="small subsets and few calls: checks the script runs")
    parser.add_argument("--out", default=str(RESULTS_DIR), help="results directory")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    peak = matmul_peak_gflops(1024 if args.quick else 2048)
    print(f"float32 matmul peak: {peak:.0f} GFLOP/s", flush=True)
    training = [row for name in names for row in training_rows(name, args.quick, peak)]
    data = load_run_data(resolve_config(names[0]))
    inference = [row for name in names for row in inference_rows(name, data.x_test, args.quick)]
    with tempfile.TemporaryDirectory() as workdir:
        quantized = [row for name in names if (row := int8_agreement(name, data, args.quick, Path(workdir)))]
        to_accuracy = time_to_accuracy(SPEED_ENTRY, args.quick, Path(workdir))
    result = {
        "quick": args.quick,
        "command": "python benchmarks/speed.py" + (" --quick" if args.quick else "") + f" --models {','.join(names)}",
        "machine": machine_description(),
        "versions": {**library_versions(), **torch_version()},
        "matmul_peak_gflops": peak,
        "training": training,
        "speedups": speedups(training),
        "inference": inference,
        "int8": quantized,
        "time_to_accuracy": to_accuracy,
        "wall_seconds": time.perf_counter() - started,
    }
    machines = write_machine_report(args.out, "speed", result, markdown)
    if not args.quick and Path(args.out).resolve() == RESULTS_DIR.resolve():
        replace_between(README, GOALS_START, GOALS_END, readme_goals(machines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
