"""Run a script in a fresh Python interpreter, as a user's program would, with nothing of the test's imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_script(source: str, *args: str | Path, cwd: Path) -> str:
    """Write `source` into `cwd`, run it with this interpreter, check it exits 0 and return its stdout."""
    script = cwd / "script.py"
    script.write_text(source)
    result = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                            cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout
