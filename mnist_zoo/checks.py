"""Type checks shared by builder options and config values: accept a value shaped like its default."""

from __future__ import annotations

from typing import Any

from mnist_zoo.errors import ConfigError


def coerce_like(where: str, value: Any, default: Any) -> Any:
    """Return `value` if it has the type of `default` (ints pass for floats, non-empty lists of positive
    ints for tuples).

    Raises ConfigError naming `where` (a key such as `optimizer.learning_rate`) otherwise.
    """
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        # layer widths: an empty tuple would build a "CNN" without convolutions or an MLP without hidden layers
        ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
            isinstance(item, int) and not isinstance(item, bool) and item > 0 for item in value
        )
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = "a non-empty tuple of positive ints" if isinstance(default, tuple) else type(default).__name__
        raise ConfigError(f"{where}: expected {kind} like {default!r}, got {value!r}")
    return value
