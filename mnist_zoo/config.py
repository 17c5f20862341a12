"""Run configuration: nested dataclasses loaded from TOML recipes, strictly checked, overridable.

Every config key lives in one dataclass below. A recipe file holds the
sections `[model]` (`name` plus the builder's options), `[data]`,
`[optimizer]`, `[schedule]` and `[train]`, and a top-level `description`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_zoo.checks import coerce_like
from mnist_zoo.errors import ConfigError
from mnist_zoo.models.registry import builder_defaults, check_options, get_builder
from mnist_zoo.training.distribute import PRECISIONS, STRATEGIES
from mnist_zoo.training.losses import LOSSES
from mnist_zoo.training.optimizers import OPTIMIZERS
from mnist_zoo.training.schedules import SCHEDULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

JIT_CHOICES = ("auto", "on", "off")
RECIPES_DIR = Path(__file__).resolve().parent.parent / "zoo_configs"


@dataclass
class ModelConfig:
    """Which registry entry to build, and its builder options (checked against the builder)."""

    name: str = "mlp_bn"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    """Where MNIST comes from and how it is fed. `source` "" means the default resolution order."""

    source: str = ""
    validation_size: int = 5000
    train_size: int = 0  # 0: every training image left after the validation split
    test_size: int = 0  # 0: the whole official test set
    augment: bool = False
    shift: float = 0.1
    rotation: float = 10.0
    zoom: float = 0.1
    elastic_alpha: float = 0.0  # Simard's elastic distortions: 0 is off, about 34 is strong
    elastic_sigma: float = 6.0
    clean_epochs: int = 0  # the last epochs of an augmented run train on undistorted images
    label_smoothing: float = 0.0


@dataclass
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    ema_momentum: float = 0.0  # 0: off; else the model ends as this moving average of its weights (e.g. 0.999)


@dataclass
class ScheduleConfig:
    """See `mnist_zoo.training.schedules.make_schedule` for what each key means."""

    name: str = "constant"
    warmup_epochs: float = 0.0
    decay_rate: float = 0.1
    step_epochs: int = 1
    decay_steps: int = 0
    restart_epochs: float = 1.0
    restart_multiplier: float = 2.0
    min_lr_fraction: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    loss: str = "crossentropy"
    early_stopping_patience: int = 0  # 0: off
    seed: int = 0
    deterministic: bool = False  # TF op determinism: same history on the same machine, slower
    tensorboard: bool = False
    # Data parallelism: batch_size is the global batch, split over replicas; the learning
    # rate is used as configured (not scaled with the number of replicas).
    strategy: str = "auto"
    logical_cpus: int = 0  # >= 2: split the CPU into that many devices for `mirrored` without GPUs
    # Keras dtype policy: mixed_float16 (GPUs) or mixed_bfloat16 (convolutions on CPUs with AVX512_BF16
    # or AMX) compute in 16 bits with float32 variables; the logits layer stays float32. "auto" is
    # mixed_bfloat16 for models with convolutions on CPUs with bfloat16 instructions, float32 otherwise.
    precision: str = "auto"
    # Speed: train steps run per call into TensorFlow (amortises Python and callback overhead;
    # callbacks see one batch end per call; 1 under a several-replica strategy, and unused where
    # an epoch comes as stacks of batches, each one call: compiling.stacks_batches), and XLA:
    # "auto" compiles models without convolutions on one replica (XLA slows Conv2D on CPU) in runs
    # of at least 2,000 steps (shorter ones do not repay the compilation), "on" or "off" force it.
    steps_per_execution: int = 64
    jit_compile: str = "auto"
    # after fit, BatchNorm moving statistics recomputed over the un-augmented training images
    recalibrate_batch_norm: bool = False


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(RunConfig) if f.name != "description"}


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain TOML-shaped data; model options sit beside `model.name`."""
    data = dataclasses.asdict(config)
    options = data["model"].pop("options")
    data["model"].update({key: list(value) if isinstance(value, tuple) else value for key, value in options.items()})
    return data


def from_dict(data: dict[str, Any], origin: str) -> RunConfig:
    """Build and check a RunConfig; unknown keys, wrong types and impossible values are errors."""
    data = dict(data)
    description = data.pop("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{origin}: description: expected a string")
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section or key {name!r}; expected description, {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: {name} must be a table of keys")
        sections[name] = values
    model = dict(sections.pop("model", {}))
    model_name = model.pop("name", ModelConfig.name)
    if not isinstance(model_name, str):
        raise ConfigError(f"{origin}: model.name: expected a string")
    try:
        options = check_options(model_name, model)
    except ConfigError as err:
        raise ConfigError(f"{origin}: model: {err}") from None
    built = {"model": ModelConfig(model_name, {**builder_defaults(model_name), **options})}
    for name, values in sections.items():
        built[name] = _section(SECTIONS[name], name, values, origin)
    config = RunConfig(description=description, **built)
    validate(config, origin)
    return config


def _section(cls: type, name: str, values: dict[str, Any], origin: str) -> Any:
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{origin}: unknown key {name}.{key}; {name} keys: {', '.join(sorted(known))}")
        checked[key] = coerce_like(f"{origin}: {name}.{key}", value, getattr(defaults, key))
    return cls(**checked)


def validate(config: RunConfig, origin: str) -> None:
    """Reject values no run could use, naming the key."""
    rules = [  # train.epochs first: other rules are ranges in epochs
        ("train.epochs", config.train.epochs >= 1, ">= 1"),
        ("optimizer.name", config.optimizer.name in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
        ("optimizer.learning_rate", 0 < config.optimizer.learning_rate < math.inf, "a positive number"),
        ("optimizer.momentum", 0 <= config.optimizer.momentum < 1, "in [0, 1)"),
        ("optimizer.weight_decay", config.optimizer.weight_decay >= 0, ">= 0"),
        ("optimizer.ema_momentum", 0 <= config.optimizer.ema_momentum < 1, "in [0, 1)"),
        ("schedule.name", config.schedule.name in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
        ("schedule.warmup_epochs", 0 <= config.schedule.warmup_epochs < config.train.epochs, "in [0, train.epochs)"),
        ("schedule.decay_rate", 0 < config.schedule.decay_rate <= 1, "in (0, 1]"),
        ("schedule.step_epochs", config.schedule.step_epochs >= 1, ">= 1"),
        ("schedule.decay_steps", config.schedule.decay_steps >= 0, ">= 0"),
        ("schedule.restart_epochs", config.schedule.restart_epochs > 0, "> 0"),
        ("schedule.restart_multiplier", config.schedule.restart_multiplier >= 1, ">= 1"),
        ("schedule.min_lr_fraction", 0 <= config.schedule.min_lr_fraction <= 1, "in [0, 1]"),
        ("train.batch_size", config.train.batch_size >= 1, ">= 1"),
        ("train.loss", config.train.loss in LOSSES, f"one of {', '.join(LOSSES)}"),
        ("train.early_stopping_patience", config.train.early_stopping_patience >= 0, ">= 0"),
        ("train.seed", config.train.seed >= 0, ">= 0"),
        ("train.strategy", config.train.strategy in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
        ("train.logical_cpus", config.train.logical_cpus >= 0, ">= 0"),
        ("train.steps_per_execution", config.train.steps_per_execution >= 1, ">= 1"),
        ("train.jit_compile", config.train.jit_compile in JIT_CHOICES, f"one of {', '.join(JIT_CHOICES)}"),
        ("train.precision", config.train.precision in ("auto", *PRECISIONS), f"one of auto, {', '.join(PRECISIONS)}"),
        ("data.validation_size", config.data.validation_size >= 0, ">= 0"),
        ("data.train_size", config.data.train_size >= 0, ">= 0"),
        ("data.test_size", config.data.test_size >= 0, ">= 0"),
        ("data.shift", 0 <= config.data.shift < 1, "in [0, 1)"),
        ("data.rotation", 0 <= config.data.rotation <= 180, "in [0, 180]"),
        ("data.zoom", 0 <= config.data.zoom < 1, "in [0, 1)"),
        ("data.elastic_alpha", 0 <= config.data.elastic_alpha <= 100, "in [0, 100]"),
        ("data.elastic_sigma", 0.5 <= config.data.elastic_sigma <= 14, "in [0.5, 14]"),
        ("data.clean_epochs", 0 <= config.data.clean_epochs < config.train.epochs, "in [0, train.epochs)"),
        ("data.clean_epochs", config.data.augment or not config.data.clean_epochs, "0 when data.augment is false"),
        ("data.label_smoothing", 0 <= config.data.label_smoothing < 1, "in [0, 1)"),
    ]
    for key, ok, expected in rules:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(config, section), name)
            raise ConfigError(f"{origin}: {key} must be {expected}, got {value!r}")


def load_config(path: str | Path) -> RunConfig:
    """Read and check a TOML recipe."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
    return from_dict(data, str(path))


def recipe_path(model_name: str) -> Path:
    """The zoo's recipe for a registry entry: `zoo_configs/<name>.toml`."""
    return RECIPES_DIR / f"{model_name}.toml"


def resolve_config(config_or_model: RunConfig | str | Path) -> RunConfig:
    """A RunConfig as given, from a TOML path, or the recipe of a model name (defaults if none)."""
    if isinstance(config_or_model, RunConfig):
        return config_or_model
    text = str(config_or_model)
    if text.endswith(".toml") or Path(text).is_file():
        return load_config(text)
    recipe = recipe_path(text)
    if recipe.exists():
        return load_config(recipe)
    get_builder(text)  # an unknown name is reported as such, with the closest known ones
    return from_dict({"model": {"name": text}}, f"model {text!r}")


def parse_value(text: str) -> Any:
    """A `--set` value: TOML syntax (1e-3, true, [256, 64], "x"), or else a bare string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(assignment: str) -> tuple[str, Any]:
    """Split `section.key=value` into the key and its parsed value."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    return key.strip(), parse_value(value.strip())


def _full_key(key: str, data: dict[str, Any]) -> str:
    """Accept `section.key`, or a bare key that names exactly one config field."""
    if "." in key or key == "description":
        return key
    owners = [section for section, values in data.items() if isinstance(values, dict) and key in values]
    if len(owners) != 1:
        where = f"it is in {', '.join(owners)}" if owners else "no section has it"
        raise ConfigError(f"override {key!r}: write it as section.key ({where})")
    return f"{owners[0]}.{key}"


def with_overrides(config: RunConfig, overrides: dict[str, Any], origin: str = "override") -> RunConfig:
    """A new config with `section.key` (or unambiguous bare key) overrides applied and checked."""
    data = to_dict(config)
    for key, value in overrides.items():
        full = _full_key(key, data)
        if full == "description":
            data["description"] = value
            continue
        section, _, name = full.partition(".")
        if section not in SECTIONS or not name or "." in name:
            raise ConfigError(f"{origin}: unknown key {full!r}")
        if section != "model" and name not in data[section]:
            raise ConfigError(f"{origin}: unknown key {full}; {section} keys: {', '.join(sorted(data[section]))}")
        if section == "model" and name == "name" and value != data["model"]["name"]:
            data["model"] = {"name": value}  # another model: its own builder defaults
            continue
        data[section][name] = value
    return from_dict(data, origin)


def to_toml(config: RunConfig) -> str:
    """The config as a TOML document that `load_config` reads back to an equal config."""
    data = to_dict(config)
    lines = [f"description = {_toml_value(data.pop('description'))}"]
    for section, values in data.items():
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
