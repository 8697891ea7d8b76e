"""A decoding step that dies like a native decoder crash, for the engine's crash tests.

It runs inside the real worker processes: for a path containing ``CRASH`` the process kills
itself with SIGSEGV, exactly what a segfault in libsndfile or mpg123 does to a worker.
"""

from __future__ import annotations

import os
import signal

from beetsplug.genrescore.analyzer import DecodePlan, Prepared, prepare


def crash_on_marker(path: str, plan: DecodePlan) -> Prepared:
    if "CRASH" in os.path.basename(path):
        os.kill(os.getpid(), signal.SIGSEGV)
    return prepare(path, plan)


def raise_on_marker(path: str, plan: DecodePlan) -> Prepared:
    """Fails like a decoder library nobody wrapped: a plain ``ValueError`` (issue 9's Ogg)."""
    if "RAISE" in os.path.basename(path):
        raise ValueError("negative dimensions are not allowed")
    return prepare(path, plan)
