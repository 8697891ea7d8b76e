"""Running a snippet in a new interpreter: what it imports is then its own doing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The checkout the tests run from (pytest puts it first on ``sys.path``).
CHECKOUT = Path(__file__).resolve().parent.parent


def checkout_env(**extra: str) -> dict[str, str]:
    """This environment for a child process that imports the plugin *of this checkout*.

    Without it a child started outside the checkout (``cwd`` elsewhere) imports whichever
    copy is installed in the venv, so a copy of the tree (mutation testing, another
    worktree) would be tested against the installed one.
    """
    paths = [str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


def fresh_python(code: str, *, cwd: Path | None = None) -> str:
    """What ``code`` prints in a new interpreter (a fresh set of imported modules), stripped.

    Raises ``subprocess.CalledProcessError`` when it fails (an assertion in ``code`` too).
    """
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd,
        env=checkout_env(), timeout=120,
    )  # fmt: skip
    return done.stdout.strip()


def imported(module: str) -> bool:
    """Whether this process has imported ``module`` (a task for a worker process: this
    module imports nothing of the plugin's, so asking imports nothing either)."""
    return module in sys.modules
