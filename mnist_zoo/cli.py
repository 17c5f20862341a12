"""The `mnist-zoo` command line: list, info, train, evaluate, export, predict, benchmark."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Any, NoReturn

from mnist_zoo.errors import ZooError


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the zoo's error style: one `error:` line on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def cmd_list(args: argparse.Namespace) -> None:
    from mnist_zoo.models import list_models, model_card

    names = list_models(args.pattern)
    if not names:  # else `list cnn` prints an empty table: patterns are whole-name, shell-style
        raise ZooError(f"no model matches {args.pattern!r} (shell-style, e.g. 'cnn*'); known models: "
                       f"{', '.join(list_models())}")
    if args.json:
        print(json.dumps([dataclasses.asdict(model_card(name)) for name in names], indent=2))
        return
    print(f"{'model':<14} {'params':>9} {'MFLOPs':>8} {'accuracy':>9}  reproduces")
    for name in names:
        card = model_card(name)
        accuracy = f"{card.accuracy:.3%}" if card.accuracy is not None else "-"  # a mean of 99.697% is not 99.70%
        print(f"{name:<14} {card.params:>9,} {card.flops / 1e6:>8.2f} {accuracy:>9}  {card.reference}")


def cmd_info(args: argparse.Namespace) -> None:
    from mnist_zoo.config import recipe_path
    from mnist_zoo.models import model_card
    from mnist_zoo.models.registry import accuracy_text

    card = model_card(args.model)
    shown = dataclasses.asdict(card)
    del shown["accuracy_std"], shown["seeds"]  # shown with the accuracy
    shown["params"], shown["flops"] = f"{card.params:,}", f"{card.flops / 1e6:.2f} M per image (forward)"
    if card.accuracy is not None:
        shown["accuracy"] = f"{accuracy_text(card.accuracy, card.accuracy_std)} over {card.seeds} seeds (test set)"
        shown["train_seconds"] = f"{card.train_seconds:,.1f} s per seed (mean)"
        shown["measured_on"] += " (benchmarks/results/zoo.json)"
    for key, value in shown.items():
        print(f"{key + ':':<15} {value if value is not None else 'not measured yet'}")
    recipe = recipe_path(args.model)
    if recipe.exists():
        print(f"\n# {card.recipe}\n{recipe.read_text()}")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from mnist_zoo.config import parse_assignment

    overrides = dict(parse_assignment(item) for item in args.set)
    for flag, key in (("epochs", "train.epochs"), ("batch_size", "train.batch_size"), ("seed", "train.seed"),
                      ("strategy", "train.strategy"), ("data", "data.source")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = str(value) if flag == "data" else value
    return overrides


def cmd_train(args: argparse.Namespace) -> None:
    from mnist_zoo.training.runner import train

    if args.model is None and args.config is None:
        raise ZooError("train needs a MODEL or --config FILE")
    train(args.config or args.model, out=args.out, **_overrides(args))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mnist_zoo.training.runner import evaluate

    result = evaluate(args.run_dir, data=args.data)
    print(f"test accuracy: {result['test_accuracy']:.4f}")
    print(f"test loss: {result['test_loss']:.4f} ({result['test_images']} images)")


def cmd_export(args: argparse.Namespace) -> None:
    from mnist_zoo.export import export_file, export_saved_model, in_float32
    from mnist_zoo.training.runner import load_run

    _, model = load_run(args.run_dir)
    if args.float32:
        model = in_float32(model)
    if args.format == "saved_model":
        path = export_saved_model(model, args.out, version=args.version, force=args.force)
    else:
        path = export_file(model, args.out, args.format, force=args.force)
    print(f"exported: {path}")


def cmd_predict(args: argparse.Namespace) -> None:
    import numpy as np

    from mnist_zoo.predict import classify, read_images

    notes: list[str] = []
    batches = [(path, read_images(path, notes)) for path in args.files]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    probabilities = classify(args.model_dir, np.concatenate([images for _, images in batches]))
    row = 0
    for path, images in batches:
        for index in range(len(images)):
            best = int(probabilities[row].argmax())
            where = path if len(images) == 1 else f"{path}[{index}]"
            print(f"{where}: {best} (probability {probabilities[row, best]:.4f})")
            row += 1


def cmd_benchmark(args: argparse.Namespace) -> None:
    from mnist_zoo.benchmark import benchmark
    from mnist_zoo.models.registry import accuracy_text

    records = benchmark(args.pattern, seeds=args.seeds, quick=args.quick, out=args.out)
    for record in records:
        accuracy = accuracy_text(record["test_accuracy_mean"], record["test_accuracy_std"])
        print(f"{record['model']}: test accuracy {accuracy} over {record['seeds']} seeds")


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="mnist-zoo", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=ArgumentParser)

    listing = verbs.add_parser("list", help="registered models matching a shell-style pattern")
    listing.add_argument("pattern", nargs="?", default="*")
    listing.add_argument("--json", action="store_true", help="model cards as JSON")
    listing.set_defaults(run=cmd_list)

    info = verbs.add_parser("info", help="a model's card and recipe")
    info.add_argument("model")
    info.set_defaults(run=cmd_info)

    training = verbs.add_parser("train", help="train a model by its recipe; rerun to resume")
    training.add_argument("model", nargs="?", help="registry name (uses zoo_configs/MODEL.toml)")
    training.add_argument("--config", help="a TOML recipe, such as a run's config.toml")
    training.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                          help="override a config value (repeatable)")
    training.add_argument("--epochs", type=int)
    training.add_argument("--batch-size", type=int)
    training.add_argument("--seed", type=int)
    training.add_argument("--strategy", help="auto, one_device, mirrored or multi_worker (TF_CONFIG)")
    training.add_argument("--data", help="MNIST source: IDX or CSV directory, .npz, 'packaged'")
    training.add_argument("--out", help="run directory (default runs/MODEL-TIMESTAMP)")
    training.set_defaults(run=cmd_train)

    evaluation = verbs.add_parser("evaluate", help="test accuracy of a finished run")
    evaluation.add_argument("run_dir")
    evaluation.add_argument("--data", help="evaluate on another MNIST source")
    evaluation.set_defaults(run=cmd_evaluate)

    export = verbs.add_parser("export", help="write a run's model as a SavedModel, ONNX or TFLite file")
    export.add_argument("run_dir")
    export.add_argument("--out", required=True,
                        help="export directory: OUT/VERSION (saved_model), OUT/model.onnx, OUT/model.int8.onnx "
                             "or OUT/model.tflite")
    export.add_argument("--format", choices=("saved_model", "onnx", "onnx_int8", "tflite"), default="saved_model")
    export.add_argument("--version", type=int, default=1, help="SavedModel version directory")
    export.add_argument("--force", action="store_true", help="replace an existing version")
    export.add_argument("--float32", action="store_true",
                        help="a SavedModel computing in float32 even if the run trained in mixed precision (to serve "
                             "on CPUs without bfloat16 instructions, which emulate it); ONNX and TFLite always do")
    export.set_defaults(run=cmd_export)

    predict = verbs.add_parser("predict", help="classify PNG, .npy or IDX images")
    predict.add_argument("model_dir", help="an export directory or a run directory")
    predict.add_argument("files", nargs="+")
    predict.set_defaults(run=cmd_predict)

    bench = verbs.add_parser("benchmark", help="train, evaluate and export recipes; write the zoo results")
    bench.add_argument("pattern", nargs="?", default="*", help="recipes under zoo_configs/, e.g. 'mlp*' or 'reference/*'")
    bench.add_argument("--seeds", type=int, default=3)
    bench.add_argument("--quick", action="store_true", help="one epoch on a small real subset: checks every recipe runs")
    bench.add_argument("--out", help="results directory (default benchmarks/results, or runs/benchmark-quick with --quick)")
    bench.set_defaults(run=cmd_benchmark)
    return parser


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its native start-up chatter (CUDA probes on CPU machines) kept off stderr.

    Set TF_CPP_MIN_LOG_LEVEL=0 to see TensorFlow's native log again.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors print one `error:` line and return 2."""
    args = make_parser().parse_args(argv)
    import_tensorflow_quietly()
    try:
        args.run(args)
    except ZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
