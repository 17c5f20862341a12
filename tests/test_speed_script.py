"""benchmarks/speed.py still runs end to end (quick mode, one model), writes its two files and keeps other
machines' results."""

from __future__ import annotations

import json
from pathlib import Path

from fresh_process import BENCHMARKS, run_benchmark, run_script

from mnist_zoo.training.machine import machine_description


def test_quick_speed_benchmark_writes_every_runner_and_runtime(tmp_path, mnist):
    committed = json.loads((Path(__file__).parents[1] / "benchmarks" / "results" / "speed.json").read_text())
    other = {**committed["machines"][0], "machine": "another CPU, 2 cores, Linux; avx2 avx512f"}
    stale = {**other, "machine": machine_description()}
    (tmp_path / "speed.json").write_text(json.dumps({"machines": [other, stale]}))
    run_benchmark("speed.py", "--quick", "--models", "mlp_sigmoid", "--out", tmp_path)
    machines = json.loads((tmp_path / "speed.json").read_text())["machines"]
    assert [entry["machine"] for entry in machines] == [other["machine"], machine_description()]
    speed = machines[1]
    assert speed["quick"] and speed["matmul_peak_gflops"] > 0 and speed["wall_seconds"] > 0
    assert {row["runner"] for row in speed["training"]} >= {"zoo", "zoo+aug", "keras"}
    assert len([row for row in speed["training"] if row["runner"] in ("zoo, XLA on", "zoo, XLA off")]) == 1
    assert all(row["images_per_second"] > 0 and row["images"] == 4096 for row in speed["training"])
    assert all(row["page_faults_per_image"] >= 0 for row in speed["training"])
    # 6 epochs of 4,096 images: every runner has learnt far beyond chance on the official test set
    assert all(row["epochs_trained"] == 6 and 0.5 < row["test_accuracy"] <= 1 for row in speed["training"]), [
        (row["runner"], row["test_accuracy"]) for row in speed["training"]]
    assert all(len(row["round_seconds"]) == 5 for row in speed["training"])  # quick: the minimum, no time target
    runtimes = {row["runtime"] for row in speed["inference"]}
    assert runtimes >= {"keras predict", "keras model(x)", "saved_model", "onnxruntime", "onnxruntime int8", "litert"}
    (int8,) = speed["int8"]
    assert int8["model"] == "mlp_sigmoid" and int8["test_images"] == 10000 and 0 <= int8["disagreements"] < 10000
    assert 0.1 < int8["keras_accuracy"] <= 1 and 0.1 < int8["int8_accuracy"] <= 1
    assert speed["speedups"][0]["model"] == "mlp_sigmoid" and speed["speedups"][0]["zoo_over_keras"] > 0
    assert speed["time_to_accuracy"]["command"] == "mnist-zoo train cnn_fast"
    assert speed["time_to_accuracy"]["wall_seconds"] > speed["time_to_accuracy"]["train_seconds"] > 0
    text = (tmp_path / "speed.md").read_text()
    assert text.count("### Time to accuracy") == 2 and "## another CPU" in text and "(quick check, not a result)" in text
    assert "| `mlp_sigmoid` | zoo | float32 | 5 |" in text and "### int8 ONNX" in text and "minutes in all." in text
    goals = text.split("## Goals", 1)[1].split("\n## ", 1)[0]
    assert "| `mlp_sigmoid` training, zoo / keras-io >= 3x |" in goals and "(quick check) |" in goals
    assert f"| {speed['speedups'][0]['zoo_over_keras']:.2f}x, " in goals


def test_the_readme_speed_goals_are_the_committed_results(tmp_path):
    """A hand edit of the README's generated goals table, or results committed without it, fails here."""
    source = f"""
import json, sys
sys.path.insert(0, {str(BENCHMARKS)!r})
from speed import GOALS_END, GOALS_START, README, RESULTS_DIR, readme_goals
block = README.read_text().split(GOALS_START, 1)[1].split(GOALS_END, 1)[0]
print(block == "\\n" + readme_goals(json.loads((RESULTS_DIR / "speed.json").read_text())["machines"]))
"""
    assert run_script(source, cwd=tmp_path).strip() == "True"


def test_rounds_go_on_until_the_time_target_and_stop_at_the_cap(tmp_path):
    source = f"""
import sys, time
sys.path.insert(0, {str(BENCHMARKS)!r})
from speed import MAX_ROUNDS, ROUNDS, interleaved_epochs
nap = lambda: time.sleep(0.02)
counts = [len(interleaved_epochs({{"a": call}}, min_seconds)["a"])
          for call, min_seconds in ((nap, 0.0), (nap, 0.5), (lambda: None, 3600.0))]
print(*counts, ROUNDS, MAX_ROUNDS)
"""
    minimum_only, to_target, capped, rounds, max_rounds = map(int, run_script(source, cwd=tmp_path).split())
    assert minimum_only == rounds == 5
    assert rounds < to_target <= 25  # 0.5 s of 0.02-s naps: at most 25 rounds, more than the minimum
    assert capped == max_rounds == 40


def test_reused_large_buffers_spare_the_page_faults_of_fresh_mappings(tmp_path):
    """What keeps PyTorch's eager loop from faulting in every activation buffer anew (speed.py's torch runner)."""
    source = """
import ctypes, resource, sys
sys.path.insert(0, {benchmarks!r})
from speed import reuse_large_buffers
if {reuse}:
    assert reuse_large_buffers()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for size in range(12 << 20, 30 << 20, 1 << 20):  # growing buffers, each written and freed 3 times
    for _ in range(3):
        buffer = libc.malloc(size)
        ctypes.memset(buffer, 1, size)
        libc.free(buffer)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
    faults = {reuse: int(run_script(source.format(benchmarks=str(BENCHMARKS), reuse=reuse), cwd=tmp_path))
              for reuse in (False, True)}
    assert faults[True] * 5 < faults[False]


def test_an_epoch_counts_the_page_faults_of_the_memory_it_touches_first(tmp_path):
    """The page-fault column of speed.md: an epoch writing 4,096 fresh pages faults at least once per page."""
    source = f"""
import mmap, sys
sys.path.insert(0, {str(BENCHMARKS)!r})
from speed import timed_epoch
def touch(pages):
    memory = mmap.mmap(-1, pages * mmap.PAGESIZE)
    for page in range(pages):
        memory[page * mmap.PAGESIZE] = 1
    memory.close()
print(timed_epoch(lambda: touch(4096))[1], timed_epoch(lambda: None)[1])
"""
    touching, idle = map(int, run_script(source, cwd=tmp_path).split())
    assert touching >= 4096 > 100 > idle
