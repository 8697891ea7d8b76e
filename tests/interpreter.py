"""Running a snippet in a new interpreter: what it imports is then its own doing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def fresh_python(code: str, *, cwd: Path | None = None) -> str:
    """What ``code`` prints in a new interpreter (a fresh set of imported modules), stripped.

    Raises ``subprocess.CalledProcessError`` when it fails (an assertion in ``code`` too).
    """
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd,
        timeout=120,
    )  # fmt: skip
    return done.stdout.strip()
