"""SIGKILL at several moments loses nothing; concurrent cache builds both succeed; nothing runs from data."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from fresh_process import set_options

from mnist_zoo import DataError, train
from mnist_zoo.config import load_config
from mnist_zoo.data.packaged import CACHE_NAME, read_packaged_pickle
from mnist_zoo.training.callbacks import read_history

EPOCHS = 6
RUN = {"train.epochs": EPOCHS, "train.batch_size": 32, "train.seed": 1,
       "data.train_size": 3000, "data.validation_size": 500, "data.test_size": 2000}
TRAIN = ["train", "cnn_small", *set_options(RUN)]


def cli_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}


def command(out: Path) -> list[str]:
    return [sys.executable, "-m", "mnist_zoo", *TRAIN, "--out", str(out)]


def kill_when(out: Path, ready) -> str:
    """Start the training command, SIGKILL it as soon as `ready(out)` holds; what it printed until then."""
    log = out.parent / "killed.log"
    with open(log, "w") as stdout:
        process = subprocess.Popen(command(out), stdout=stdout, stderr=subprocess.DEVNULL,
                                   env={**cli_env(), "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 300
        while not ready(out):
            assert process.poll() is None, "the run finished before the moment to kill it"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    return log.read_text()


def assert_resumed(stdout: str, finished: int) -> None:
    """The run said it resumed after the last epoch it had saved, and trained from there, none twice."""
    match = re.search(rf"^resuming .* from epoch (\d+) \((\d+) of {EPOCHS} finished\)$", stdout, re.MULTILINE)
    assert match, stdout
    start = int(match.group(1))
    assert finished <= start <= finished + 1  # history may be one epoch ahead of the resume state
    assert f"Epoch {start - 1}/{EPOCHS}" not in stdout and f"Epoch {start}/{EPOCHS}" in stdout


def assert_nothing_truncated(out: Path) -> None:
    """Every file the run has written so far is whole."""
    load_config(out / "config.toml")
    read_history(out / "history.csv")
    for path in out.glob("*.keras"):
        if not path.name.startswith("."):  # hidden names are temporaries, never read as results
            keras.saving.load_model(path, safe_mode=True)
    if (out / "metrics.json").exists():
        json.loads((out / "metrics.json").read_text())


def epochs_written(count: int):
    return lambda out: len(read_history(out / "history.csv")) >= count


def test_sigkill_at_several_moments_then_rerun_finishes_the_same_run(tmp_path, mnist):
    expected = train("cnn_small", out=tmp_path / "reference", **RUN).metrics["test_accuracy"]  # never killed

    out = tmp_path / "run"
    moments = [
        epochs_written(1),  # the instant epoch 1's row lands: checkpoint and resume state are being written
        lambda out: epochs_written(3)(out) and time.sleep(0.4) is None,  # in the middle of a later epoch
        lambda out: (out / "model.keras").exists(),  # after training, while plots and metrics are written
    ]
    for moment in moments:
        finished = len(read_history(out / "history.csv"))
        stdout = kill_when(out, moment)
        assert_nothing_truncated(out)
        assert not (out / "metrics.json").exists()
        if finished >= 2:  # the first kill may land before epoch 1's resume state is written
            assert_resumed(stdout, finished)

    rerun = subprocess.run(command(out), capture_output=True, text=True, env=cli_env())
    assert rerun.returncode == 0, rerun.stderr
    assert f"from epoch {EPOCHS + 1} ({EPOCHS} of {EPOCHS} finished)" in rerun.stdout
    assert [row["epoch"] for row in read_history(out / "history.csv")] == list(range(1, EPOCHS + 1))
    assert_nothing_truncated(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["test_accuracy"] - expected) < 0.03
    assert not (out / "backup").exists()
    assert not list(out.glob(".*"))  # temporaries of the killed runs were cleared


def test_two_processes_building_the_cache_at_once_both_succeed(tmp_path, mnist):
    env = {**cli_env(), "MNIST_ZOO_CACHE": str(tmp_path)}
    script = "from mnist_zoo.data.packaged import load_packaged; print(load_packaged()[1][1][:10].tolist())"
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(2)]
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert stdout.strip() == "[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]"
    assert [path.name for path in tmp_path.iterdir()] == [CACHE_NAME]  # no temporary files left
    with np.load(tmp_path / CACHE_NAME) as cache:
        np.testing.assert_array_equal(cache["x_test"], mnist[1][0])


class RunsShell:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checksum_is_checked_before_unpickling(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(RunsShell())))
    with pytest.raises(DataError, match="checksum mismatch"):
        read_packaged_pickle(path)
    assert not (tmp_path / "pwned").exists()
    # Even a file whose checksum is declared trusted is refused by the unpickler, before any call runs.
    import hashlib

    with pytest.raises(DataError, match="refused global"):
        read_packaged_pickle(path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert not (tmp_path / "pwned").exists()
