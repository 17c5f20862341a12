"""Training speed of a recipe under each Keras dtype policy on this machine, kept per machine.

    python benchmarks/precision.py [--recipe cnn_bn] [--steps 10] [--quick] [--out DIR]

Times an epoch of `--steps` batches of the recipe's own compiled model and tf.data pipeline
(its batch size and augmentation, as `mnist-zoo train` runs them): the median of 3 epochs
after a warm-up one, under float32, mixed_float16 and mixed_bfloat16. bfloat16 is fast only on
CPUs with bfloat16 instructions (avx512_bf16, amx_bf16, Arm's bf16); elsewhere TensorFlow
emulates it. This machine's rows for the recipe replace its earlier ones in precision.json; its
rows for other recipes and other machines' rows stay, so the file compares recipes and machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from mnist_zoo.benchmark import seconds_per_call
from mnist_zoo.config import resolve_config, with_overrides
from mnist_zoo.files import write_machine_report
from mnist_zoo.training.distribute import PRECISIONS
from mnist_zoo.training.machine import machine_description
from mnist_zoo.training.runner import library_versions, load_run_data, model_and_training_set

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def images_per_second(recipe: str, precision: str, steps: int, repeats: int) -> float:
    """Training images/s of `recipe` under `precision`: median epoch of `steps` batches after a warm-up."""
    config = with_overrides(resolve_config(recipe), {"train.precision": precision})
    config = with_overrides(config, {"data.train_size": steps * config.train.batch_size})
    data = load_run_data(config)
    model, dataset = model_and_training_set(config, data, steps_per_epoch=steps)
    seconds = statistics.median(seconds_per_call(lambda: model.fit(dataset, epochs=1, verbose=0), repeats, 1))
    return len(data.x_train) / seconds


def other_recipes_rows(out: Path, recipe: str, quick: bool) -> list[dict]:
    """This machine's rows for recipes other than `recipe` in `out`/precision.json, from a run as quick as this."""
    path = out / "precision.json"
    entries = json.loads(path.read_text())["machines"] if path.exists() else []
    here = [entry for entry in entries if entry["machine"] == machine_description() and entry["quick"] == quick]
    return [row for entry in here for row in entry["rows"] if row["recipe"] != recipe]


def markdown(machines: list[dict]) -> str:
    """The tables of precision.md: one per machine."""
    lines = ["# Training speed by precision", ""]
    for entry in machines:
        commands = dict.fromkeys(row["command"] for row in entry["rows"])
        lines += [f"Machine: {entry['machine']}. "
                  f"Command{'s' if len(commands) > 1 else ''}: {', '.join(f'`{c}`' for c in commands)}.", "",
                  "| recipe | precision | train images/s | vs float32 |", "| --- | --- | ---: | ---: |"]
        float32 = {row["recipe"]: row["images_per_second"] for row in entry["rows"] if row["precision"] == "float32"}
        lines += [f"| `{row['recipe']}` | {row['precision']} | {row['images_per_second']:,.0f} | "
                  f"{row['images_per_second'] / float32[row['recipe']]:.2f}x |" for row in entry["rows"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cnn_bn", help="a recipe in zoo_configs/ (default cnn_bn)")
    parser.add_argument("--steps", type=int, default=10, help="batches per timed epoch (default 10)")
    parser.add_argument("--quick", action="store_true", help="2 batches, one timed epoch: checks the script runs")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    steps, repeats = (2, 1) if args.quick else (args.steps, 3)
    command = ("python benchmarks/precision.py" + (" --quick" if args.quick else f" --steps {steps}")
               + f" --recipe {args.recipe}")
    rows = other_recipes_rows(args.out, args.recipe, args.quick)
    for precision in PRECISIONS:
        rate = images_per_second(args.recipe, precision, steps, repeats)
        print(f"{args.recipe} {precision}: {rate:,.0f} images/s", flush=True)
        rows.append({"recipe": args.recipe, "precision": precision, "images_per_second": rate, "command": command})
    entry = {"machine": machine_description(), "versions": library_versions(), "quick": args.quick, "rows": rows}
    write_machine_report(args.out, "precision", entry, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
