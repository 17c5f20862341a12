"""Run a script in a fresh Python interpreter, as a user's program would, with nothing of the test's imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def set_options(overrides: dict[str, object]) -> list[str]:
    """`mnist-zoo train` options for config overrides: ["--set", "section.key=value", ...]."""
    return [argument for key, value in overrides.items() for argument in ("--set", f"{key}={value}")]


def run_file(script: Path, *args: str | Path, cwd: Path | None = None, timeout: float = 300,
             env: dict[str, str] | None = None) -> str:
    """Run `script` with this interpreter (in `env`, else this environment), check it exits 0 (else show the
    end of its stderr), return its stdout."""
    result = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                            cwd=cwd, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def run_script(source: str, *args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Write `source` into `cwd`, run it with this interpreter, check it exits 0 and return its stdout."""
    script = cwd / "script.py"
    script.write_text(source)
    return run_file(script, *args, cwd=cwd, env=env)


def run_benchmark(name: str, *args: str | Path) -> str:
    """Run `benchmarks/<name>` (quick modes take a few minutes), check it exits 0 and return its stdout."""
    return run_file(BENCHMARKS / name, *args, timeout=600)
