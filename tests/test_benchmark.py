"""The benchmark's quick mode runs every recipe end to end (train, evaluate, export) and writes its files."""

from __future__ import annotations

import csv
import json

import pytest

from mnist_zoo import model_card
from mnist_zoo.benchmark import (
    README,
    TABLE_END,
    TABLE_START,
    benchmark,
    readme_table,
    recipes,
    run_digest,
    run_once,
    write_results,
)
from mnist_zoo.config import RECIPES_DIR, load_config, with_overrides
from mnist_zoo.models.registry import RESULTS_FILE, list_models
from mnist_zoo.training.machine import auto_precision


def test_every_registry_entry_and_reference_system_has_a_recipe():
    names = recipes()
    assert set(list_models()) <= set(names)
    assert {name.split("_")[0] for name in recipes("reference/*")} == {f"reference/s{i}" for i in range(5)}


# The quick benchmark in two halves, so that two test processes can share it (make test runs pytest -n auto)
ENTRIES, REFERENCES = "[!r]*", "reference/*"


def quick_records(pattern: str, tmp_path) -> list[dict]:
    """Quick-benchmark the recipes matching `pattern` in `tmp_path`; check every record and the files written."""
    records = benchmark(pattern, seeds=1, quick=True, out=tmp_path / "results")
    assert [r["model"] for r in records] == recipes(pattern)
    for record in records:
        assert 0.0 < record["test_accuracy_mean"] <= 1.0 and record["test_images"] == 1000
        assert abs(record["export_test_accuracy_mean"] - record["test_accuracy_mean"]) < 1e-3, record["model"]
        assert record["latency_batch1_ms"] > 0 and record["throughput_batch1000_per_second"] > 0
        assert len(record["train_seconds_per_seed"]) == 1 and record["train_seconds_per_seed"][0] > 0
    assert json.loads((tmp_path / "results" / "zoo.json").read_text()) == records
    with open(tmp_path / "results" / "zoo.csv") as handle:
        assert [row["model"] for row in csv.DictReader(handle)] == recipes(pattern)
    assert "quick check, not a result" in (tmp_path / "results" / "zoo.md").read_text()
    assert (tmp_path / "results" / "accuracy_vs_time.png").stat().st_size > 10_000
    return records


def test_the_two_quick_halves_cover_every_recipe_once():
    assert sorted(recipes(ENTRIES) + recipes(REFERENCES)) == recipes() and set(list_models()) <= set(recipes(ENTRIES))


def test_quick_benchmark_runs_every_registry_entry(tmp_path, mnist, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records = quick_records(ENTRIES, tmp_path)
    champion = next(r for r in records if r["model"] == "cnn_bn")  # recipes are chosen on these numbers
    assert 0.0 < champion["val_accuracy_mean"] <= 1.0 and len(champion["val_accuracies"]) == 1
    (champion_run,) = (tmp_path / "runs" / "benchmark-quick").glob("cnn_bn-seed0-*")
    assert f'precision = "{auto_precision(True)}"' in (champion_run / "config.toml").read_text()  # "auto", resolved
    table = (tmp_path / "results" / "zoo.md").read_text()
    assert f"| {100 * champion['test_accuracy_mean']:.3f}% ± " in table  # not rounded to 2 decimals


def test_quick_benchmark_runs_every_reference_reproduction(tmp_path, mnist, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(quick_records(REFERENCES, tmp_path)) == 6  # S0-S4, S2 twice


@pytest.mark.skipif(not RESULTS_FILE.exists(), reason="no committed benchmark results yet")
def test_model_cards_report_the_committed_results():
    records = {r["model"]: r for r in json.loads(RESULTS_FILE.read_text())}
    for name in list_models():
        if name in records:
            card = model_card(name)
            record = records[name]
            assert (card.accuracy, card.accuracy_std, card.seeds) == (
                record["test_accuracy_mean"], record["test_accuracy_std"], record["seeds"])
            assert (card.train_seconds, card.measured_on) == (record["train_seconds"], record["machine"])
            # the card describes the model its recipe trained: the builder's defaults are the recipe's
            assert (card.params, card.flops) == (record["params"], record["flops"]), name


@pytest.mark.skipif(not RESULTS_FILE.exists(), reason="no committed benchmark results yet")
def test_the_readme_model_table_is_the_committed_results():
    """A hand edit of the README's generated table, or results committed without it, fails here."""
    block = README.read_text().split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    assert block == "\n" + readme_table(json.loads(RESULTS_FILE.read_text()))


@pytest.mark.skipif(not RESULTS_FILE.exists(), reason="no committed benchmark results yet")
def test_rows_measured_on_another_machine_are_attributed_to_it(tmp_path):
    # the committed rows, as if all measured on one machine with one library set (whatever they hold today)
    committed = json.loads(RESULTS_FILE.read_text())
    records = [{**r, "machine": "one CPU, 2 cores", "versions": committed[0]["versions"]} for r in committed]
    write_results(records, tmp_path, quick=True)
    libraries = ", ".join(f"{key} {value}" for key, value in committed[0]["versions"].items())
    assert f"- one CPU, 2 cores. Libraries: {libraries}\n" in (tmp_path / "zoo.md").read_text()  # no recipe list
    rerun = {**records[1], "machine": "another CPU, 2 cores"}  # a recipe rerun elsewhere, merged in
    write_results([rerun], tmp_path, quick=True)
    text = (tmp_path / "zoo.md").read_text()
    others = ", ".join(f"`{r['model']}`" for r in records if r["model"] != rerun["model"])
    assert "- one CPU, 2 cores. Libraries: " in text and f" ({others})\n" in text
    assert "- another CPU, 2 cores. Libraries: " in text and f" (`{rerun['model']}`)\n" in text


def test_the_run_digest_changes_with_what_training_reads_and_not_with_the_description():
    config = load_config(RECIPES_DIR / "cnn_bn.toml")
    assert run_digest(config) == run_digest(with_overrides(config, {"description": "reworded"}))
    for change in ({"train.epochs": config.train.epochs + 1}, {"model.filters": [16, 32]}, {"train.seed": 7}):
        assert run_digest(with_overrides(config, change)) != run_digest(config), change


def test_a_run_is_reused_only_for_the_same_resolved_config(tmp_path, mnist, capsys):
    first, directory = run_once("logistic", 0, True, tmp_path)
    again, same = run_once("logistic", 0, True, tmp_path)
    assert same == directory and again == first and "reusing finished run" in capsys.readouterr().out
    _, other_seed = run_once("logistic", 1, True, tmp_path)
    assert other_seed != directory and other_seed.name.startswith("logistic-seed1-")
