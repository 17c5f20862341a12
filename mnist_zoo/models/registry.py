"""The model registry: builders registered by name, built with checked options, described by cards."""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from mnist_zoo.checks import coerce_like
from mnist_zoo.errors import ConfigError
from mnist_zoo.models.flops import count_flops

Builder = Callable[..., keras.Model]

_BUILDERS: dict[str, Builder] = {}
_REFERENCES: dict[str, str] = {}

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "zoo.json"


@dataclass(frozen=True)
class ModelCard:
    """What a registry entry is and how well it does; numbers come from measurement, not prose."""

    name: str
    summary: str
    reference: str
    defaults: dict[str, Any]
    params: int
    flops: int
    recipe: str
    accuracy: float | None  # mean test accuracy over `seeds` runs of the recipe
    accuracy_std: float | None
    seeds: int | None
    train_seconds: float | None  # mean per seed
    precision: str | None  # the dtype policy the recipe trained in there
    measured_on: str | None  # the machine the benchmark ran on


def accuracy_text(mean: float, std: float) -> str:
    """Mean ± std test accuracy in %, with 3 decimals: the step of a 3-seed mean on 10,000 images is 0.0033 points."""
    return f"{100 * mean:.3f}% ± {100 * std:.3f}"


def register_model(name: str | None = None, *, reference: str) -> Callable[[Builder], Builder]:
    """Register a builder under `name` (default: the function's name); refuse duplicates.

    `reference` says which reference system or published model the entry reproduces.
    """

    def decorator(builder: Builder) -> Builder:
        key = name or builder.__name__
        if key in _BUILDERS:
            raise ValueError(f"a model named {key!r} is already registered")
        _BUILDERS[key] = builder
        _REFERENCES[key] = reference
        return builder

    return decorator


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str = "*", exclude: str | None = None) -> list[str]:
    """Registered names matching the shell-style `pattern` (and not `exclude`), naturally sorted."""
    names = [name for name in _BUILDERS if fnmatch.fnmatchcase(name, pattern)]
    if exclude:
        names = [name for name in names if not fnmatch.fnmatchcase(name, exclude)]
    return sorted(names, key=_natural_key)


def get_builder(name: str) -> Builder:
    """The builder registered as `name`; ConfigError naming the closest matches otherwise."""
    try:
        return _BUILDERS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BUILDERS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(list_models())}"
        raise ConfigError(f"unknown model {name!r}{hint}") from None


def builder_defaults(name: str) -> dict[str, Any]:
    """The keyword-only options of a builder and their defaults."""
    signature = inspect.signature(get_builder(name))
    return {
        key: param.default
        for key, param in signature.parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }


def check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check option names and types against the builder's defaults; return them normalised."""
    defaults = builder_defaults(name)
    checked = {}
    for key, value in options.items():
        if key not in defaults:
            raise ConfigError(f"unknown option {key!r} for model {name!r}; options: {', '.join(defaults)}")
        checked[key] = coerce_like(f"option {name}.{key}", value, defaults[key])
    return checked


def build(name: str, **options: Any) -> keras.Model:
    """Build the uncompiled model registered as `name`, with builder `options` overriding defaults."""
    builder = get_builder(name)
    try:
        return builder(**check_options(name, options))
    except ValueError as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"model {name!r}: {err}") from None


@functools.lru_cache(maxsize=None)
def _measure(name: str) -> tuple[int, int]:
    model = build(name)
    return model.count_params(), count_flops(model)


def _measured_results() -> dict[str, dict[str, Any]]:
    """Benchmark records from the committed `benchmarks/results/zoo.json`, by model name."""
    if not RESULTS_FILE.exists():
        return {}
    return {record["model"]: record for record in json.loads(RESULTS_FILE.read_text())}


def model_card(name: str) -> ModelCard:
    """The card of a registry entry: options, size, cost, recipe and measured accuracy."""
    builder = get_builder(name)
    params, flops = _measure(name)
    measured = _measured_results().get(name, {})
    return ModelCard(
        name=name,
        summary=" ".join(inspect.getdoc(builder).split("\n\n")[0].split()),
        reference=_REFERENCES[name],
        defaults=builder_defaults(name),
        params=params,
        flops=flops,
        recipe=f"zoo_configs/{name}.toml",
        accuracy=measured.get("test_accuracy_mean"),
        accuracy_std=measured.get("test_accuracy_std"),
        seeds=measured.get("seeds"),
        train_seconds=measured.get("train_seconds"),
        precision=measured.get("precision"),
        measured_on=measured.get("machine"),
    )
