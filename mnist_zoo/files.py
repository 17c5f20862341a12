"""Atomic file writes: a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mnist_zoo.errors import ConfigError

TEMPORARY_PATTERN = ".*.tmp*"  # every temporary name below matches this


def temporary_name(path: Path) -> Path:
    """A fixed hidden temporary name beside `path`, keeping its extension: `.NAME.tmp.EXT`."""
    return path.with_name(f".{path.name}.tmp{path.suffix}")


def remove_temporaries(directory: str | os.PathLike) -> None:
    """Delete temporary files a killed process left in `directory`."""
    for leftover in Path(directory).glob(TEMPORARY_PATTERN):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def make_directory(path: str | os.PathLike) -> Path:
    """Create the directory `path` (and its parents) unless it exists; a one-line ConfigError
    naming it when it cannot be one (a file in the way, no permission, a read-only disk)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: is a file, expected a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{path}: cannot create this directory ({err.strerror or err})") from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds.

    `suffix` keeps the extension for writers that insist on one (``np.savez``,
    ``model.save``). The temporary file is removed when the block raises.
    """
    path = Path(path)
    make_directory(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def replace_between(path: str | os.PathLike, start: str, end: str, body: str) -> None:
    """Replace the text of `path` between the marker lines `start` and `end` with `body`, atomically;
    the file stays untouched where it lacks either marker."""
    text = Path(path).read_text()
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    write_text_atomic(path, f"{head}{start}\n{body}{end}{tail}")


def write_report(out: str | os.PathLike, stem: str, result: dict, markdown: str) -> None:
    """A benchmark's `STEM.json` (its result) and `STEM.md` (its tables) in `out`, written atomically."""
    out = make_directory(out)
    write_text_atomic(out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / f"{stem}.md", markdown)
    print(f"wrote {out / f'{stem}.json'} and {out / f'{stem}.md'}")


def write_machine_report(
    out: str | os.PathLike, stem: str, entry: dict, markdown: Callable[[list[dict]], str]
) -> list[dict]:
    """A benchmark's report kept per machine: `entry` replaces the earlier entry with the same
    `entry["machine"]` in `STEM.json`'s "machines", other machines' entries stay, and `STEM.md` is
    `markdown` of them all. Returns the entries written."""
    path = Path(out) / f"{stem}.json"
    earlier = json.loads(path.read_text())["machines"] if path.exists() else []
    machines = [other for other in earlier if other["machine"] != entry["machine"]] + [entry]
    write_report(out, stem, {"machines": machines}, markdown(machines))
    return machines
