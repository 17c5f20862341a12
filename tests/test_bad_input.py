"""Every bad input through the real command line: exit 2, one `error:` line naming it, nothing left behind."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from formats import write_csv, write_idx, write_idx_dir

from mnist_zoo.cli import main


def idx_dir(root: Path, splits) -> Path:
    directory = root / "idx"
    directory.mkdir()
    write_idx_dir(directory, splits)
    return directory


def csv_dir(root: Path, splits, rows=None) -> Path:
    directory = root / "csv"
    directory.mkdir()
    (x_train, y_train), (x_test, y_test) = splits
    write_csv(directory / "mnist_train.csv", x_train, y_train)
    write_csv(directory / "mnist_test.csv", x_test, y_test)
    if rows:
        path = directory / "mnist_train.csv"
        lines = path.read_text().splitlines()
        for number, edit in rows.items():
            lines[number - 1] = edit(lines[number - 1])
        path.write_text("\n".join(lines) + "\n")
    return directory


def npz_file(root: Path, splits, **replace) -> Path:
    (x_train, y_train), (x_test, y_test) = splits
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, **replace}
    path = root / "mnist.npz"
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def edit(path: Path, change) -> None:
    path.write_bytes(change(path.read_bytes()))


def idx_case(change_file: str, change):
    def make(root, splits):
        directory = idx_dir(root, splits)
        target = directory / change_file
        change(target)
        return ["train", "logistic", "--data", str(directory)], target.name
    return make


# Each case makes its bad input under `root` from real MNIST and returns (argv, text the error must name).
DATA_CASES = {
    "idx wrong magic": idx_case("train-labels-idx1-ubyte", lambda p: edit(p, lambda b: struct.pack(">i", 2051) + b[4:])),
    "idx truncated payload": idx_case("train-images-idx3-ubyte", lambda p: edit(p, lambda b: b[:-1000])),
    "idx header larger than file": idx_case(
        "t10k-images-idx3-ubyte", lambda p: edit(p, lambda b: b[:4] + struct.pack(">i", 99999) + b[8:])),
    "idx counts disagree": idx_case("t10k-labels-idx1-ubyte", lambda p: write_idx(p, np.zeros(7, np.uint8))),
    "idx images not 28x28": idx_case("train-images-idx3-ubyte", lambda p: write_idx(p, np.zeros((300, 14, 56), np.uint8))),
    "idx empty file": idx_case("t10k-images-idx3-ubyte", lambda p: p.write_bytes(b"")),
    "idx trailing bytes": idx_case("train-labels-idx1-ubyte", lambda p: edit(p, lambda b: b + b"xyz")),
    "idx header cut short": idx_case("train-images-idx3-ubyte", lambda p: edit(p, lambda b: b[:10])),
    "directory where a file is expected": idx_case("t10k-labels-idx1-ubyte", lambda p: (p.unlink(), p.mkdir())),
    "gzip that is not gzip": idx_case(
        "train-labels-idx1-ubyte", lambda p: (p.rename(p.with_name(p.name + ".gz")))),
    "truncated gzip": idx_case(
        "train-images-idx3-ubyte",
        lambda p: (p.with_name(p.name + ".gz").write_bytes(gzip.compress(p.read_bytes())[:300]), p.unlink())),
    "csv row of wrong length": lambda root, s: (
        ["train", "logistic", "--data", str(csv_dir(root, s, {5: lambda line: line + ",0"}))], "line 5"),
    "csv pixel above 255": lambda root, s: (
        ["train", "logistic", "--data", str(csv_dir(root, s, {9: lambda line: line[: line.rindex(",")] + ",300"}))],
        "line 9: pixel value 300"),
    "csv negative pixel": lambda root, s: (
        ["train", "logistic", "--data", str(csv_dir(root, s, {3: lambda line: line[: line.rindex(",")] + ",-1"}))],
        "line 3: pixel value -1"),
    "csv text in a row": lambda root, s: (
        ["train", "logistic", "--data", str(csv_dir(root, s, {4: lambda line: line.replace(",", ",abc,", 1)[:-4]}))],
        "line 4"),
    "npz missing arrays": lambda root, s: (["train", "logistic", "--data", str(npz_file(root, s, y_test=None))], "y_test"),
    "npz pixel values out of range": lambda root, s: (
        ["train", "logistic", "--data", str(npz_file(root, s, x_test=s[1][0].astype(np.int32) * 2))], "0..255"),
    "npz that is not a zip": lambda root, s: (
        ["train", "logistic", "--data", str((root / "x.npz").write_bytes(b"PK\x03\x04broken") and root / "x.npz")], "x.npz"),
    "npz labels of wrong length": lambda root, s: (
        ["train", "logistic", "--data", str(npz_file(root, s, y_train=s[0][1][:-1]))], "labels of shape"),
    "data path that does not exist": lambda root, s: (["train", "logistic", "--data", str(root / "nope")], "nope"),
    "directory without MNIST": lambda root, s: (["train", "logistic", "--data", str(root)], "no MNIST files"),
}

CONFIG_CASES = {
    "unknown config key": (["train", "mlp_bn", "--set", "train.epoch=2"], "train.epoch"),
    "wrong type": (["train", "mlp_bn", "--set", "train.batch_size=big"], "train.batch_size"),
    "negative learning rate": (["train", "mlp_bn", "--set", "optimizer.learning_rate=-0.1"], "optimizer.learning_rate"),
    "zero batch size": (["train", "mlp_bn", "--batch-size", "0"], "train.batch_size"),
    "zero epochs": (["train", "mlp_bn", "--epochs", "0"], "train.epochs"),
    "unknown model": (["train", "lenet9"], "error: unknown model 'lenet9'; known models: cnn_bn"),
    "unknown schedule": (["train", "mlp_bn", "--set", "schedule.name=triangle"], "schedule.name"),
    "unknown builder option": (["train", "mlp_bn", "--set", "model.depth=3"], "unknown option 'depth'"),
    "unknown normalization": (["train", "mlp_bn", "--set", "model.normalization=zscore"], "zscore"),
    "no convolutions": (["train", "cnn_fast", "--set", "model.filters=[]"], "cnn_fast.filters: expected a non-empty tuple"),
    "set without =": (["train", "mlp_bn", "--set", "train.epochs"], "section.key=value"),
    "missing config file": (["train", "--config", "/nonexistent/recipe.toml"], "/nonexistent/recipe.toml"),
    "unknown verb": (["fit", "mlp_bn"], "invalid choice"),
    "more training images than there are": (["train", "mlp_bn", "--set", "data.train_size=60000"],
                                            "data.train_size is 60,000, but only 55,000 training images"),
    "more test images than there are": (["train", "mlp_bn", "--set", "data.test_size=10001"],
                                        "data.test_size is 10,001, but the test set has 10,000 images"),
    "non-integer flag": (["train", "mlp_bn", "--epochs", "two"], "--epochs"),
}


def write_config(root: Path, text: str) -> list[str]:
    path = root / "recipe.toml"
    path.write_text(text)
    return ["train", "--config", str(path)]


CONFIG_FILE_CASES = {
    "malformed TOML": ("[train\nepochs = 1\n", "malformed TOML"),
    "unknown section": ("[trainer]\nepochs = 1\n", "trainer"),
    "unknown key in file": ("[data]\nsauce = 'x'\n", "data.sauce"),
    "impossible value in file": ("[data]\nvalidation_size = -5\n", "data.validation_size"),
}


def png(root: Path, name: str, image: np.ndarray, dtype=tf.uint8) -> Path:
    path = root / name
    path.write_bytes(tf.io.encode_png(tf.constant(image, dtype=dtype)).numpy())
    return path


PREDICT_CASES = {
    "missing file": lambda root, s: (root / "absent.png", "no such file"),
    "npy with NaN": lambda root, s: (np.save(root / "nan.npy", np.full((28, 28), np.nan)) or root / "nan.npy", "dtype float64"),
    "npy of the wrong dtype": lambda root, s: (np.save(root / "b.npy", np.ones((28, 28), bool)) or root / "b.npy", "dtype bool"),
    "npy of the wrong shape": lambda root, s: (np.save(root / "s.npy", np.ones((28, 27), np.uint8)) or root / "s.npy", "shape (28, 27)"),
    "npy out of range": lambda root, s: (np.save(root / "r.npy", np.full((28, 28), 999)) or root / "r.npy", "0..255"),
    "npy that is a pickle": lambda root, s: (np.save(root / "p.npy", np.array([{}], dtype=object), allow_pickle=True)
                                               or root / "p.npy", "p.npy"),
    "npy without a NumPy header": lambda root, s: ((root / "t.npy").write_text("28 28\n") and root / "t.npy",
                                                     "not a .npy file (no NumPy header)"),
    "png that is not a png": lambda root, s: ((root / "fake.png").write_bytes(b"GIF89a....") and root / "fake.png", "not a PNG"),
    "truncated png": lambda root, s: (
        (root / "cut.png").write_bytes(png(root, "whole.png", s[1][0][0][..., None]).read_bytes()[:60]) and root / "cut.png",
        "cut.png"),
    "idx labels instead of images": lambda root, s: (
        write_idx(root / "labels-idx1-ubyte", s[1][1][:5]) or root / "labels-idx1-ubyte", "not an IDX images file"),
}


@pytest.fixture
def subset(small_mnist):
    (x_train, y_train), (x_test, y_test) = small_mnist
    return (x_train[:300], y_train[:300]), (x_test[:100], y_test[:100])


def run_cli(argv, capsys) -> str:
    try:
        status = main([str(arg) for arg in argv])
    except SystemExit as exit_:  # argparse's own errors exit from inside main
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_at_least_thirty_bad_inputs_are_covered():
    total = len(DATA_CASES) + len(CONFIG_CASES) + len(CONFIG_FILE_CASES) + len(PREDICT_CASES)
    assert total >= 30


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data(case, tmp_path, subset, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, named = DATA_CASES[case](tmp_path, subset)
    line = run_cli([*argv, "--out", tmp_path / "run"], capsys)
    assert named in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_values(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv, named = CONFIG_CASES[case]
    assert named in run_cli(argv, capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", sorted(CONFIG_FILE_CASES))
def test_bad_config_files(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, named = CONFIG_FILE_CASES[case]
    line = run_cli(write_config(tmp_path, text), capsys)
    assert named in line and "recipe.toml" in line
    assert [p.name for p in tmp_path.iterdir()] == ["recipe.toml"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, mnist):
    from mnist_zoo import train

    out = tmp_path_factory.mktemp("bad_input") / "run"
    train("logistic", out=out, **{"train.epochs": 1, "data.train_size": 1000, "data.test_size": 500})
    return out


def test_an_output_path_that_cannot_be_a_directory_is_one_line(tmp_path, run_dir, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("kept")
    for argv in (["train", "logistic", "--epochs", "1", "--set", "data.train_size=256", "--out", blocker],
                 ["export", run_dir, "--out", blocker],
                 ["export", run_dir, "--out", blocker, "--format", "onnx"],
                 ["export", run_dir, "--out", blocker / "inside"],
                 ["benchmark", "logistic", "--quick", "--out", blocker]):
        line = run_cli(argv, capsys)
        assert str(blocker) in line and ("is a file" in line or "cannot create" in line), line
    assert blocker.read_text() == "kept"


def test_a_truncated_model_file_is_one_line_and_left_alone(tmp_path, run_dir, capsys):
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    whole = (run_dir / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(whole[: len(whole) // 2])
    np.save(tmp_path / "digit.npy", np.zeros((28, 28), np.uint8))
    for argv in (["evaluate", broken], ["export", broken, "--out", tmp_path / "export"],
                 ["predict", broken, tmp_path / "digit.npy"]):
        line = run_cli(argv, capsys)
        assert "model.keras: not a .keras model (not a zip archive" in line, line
    assert (broken / "model.keras").read_bytes() == whole[: len(whole) // 2]


@pytest.mark.parametrize("case", sorted(PREDICT_CASES))
def test_bad_predict_inputs(case, tmp_path, subset, run_dir, capsys):
    path, named = PREDICT_CASES[case](tmp_path, subset)
    line = run_cli(["predict", run_dir, path], capsys)
    assert named in line and path.name in line


def test_sixteen_bit_png_is_converted_with_a_note(tmp_path, subset, run_dir, capsys):
    image = subset[1][0][0].astype(np.uint16)[..., None] * 257
    path = png(tmp_path, "deep.png", image, dtype=tf.uint16)
    assert main(["predict", str(run_dir), str(path)]) == 0
    captured = capsys.readouterr()
    assert "converted 16-bit pixels to 8-bit" in captured.err
    assert captured.out.startswith(f"{path}: ")


def test_dark_on_light_png_is_inverted_with_a_note(tmp_path, subset, run_dir, capsys):
    path = png(tmp_path, "paper.png", 255 - subset[1][0][0][..., None])
    assert main(["predict", str(run_dir), str(path)]) == 0
    assert "inverted a dark digit on a light background" in capsys.readouterr().err


def test_bad_export_and_evaluate(tmp_path, run_dir, capsys):
    assert "not a finished run directory" in run_cli(["export", tmp_path, "--out", tmp_path / "e"], capsys)
    assert not (tmp_path / "e").exists()
    assert "nope" in run_cli(["evaluate", run_dir, "--data", tmp_path / "nope"], capsys)
