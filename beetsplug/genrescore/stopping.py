"""Stopping a run by a signal without losing or damaging anything: Ctrl-C and SIGTERM.

SIGTERM (a service manager stopping a job, ``timeout``, a logout) had no handler: the
process died mid-write, with no summary, warnings about leaked semaphores from the worker
pool, and sometimes a whole temporary copy of a track left in the music folder (issue 20).
While :func:`terminate_as_interrupt` is active, SIGTERM raises :class:`Terminated`, a
``KeyboardInterrupt``, so it takes Ctrl-C's path (the workers stopped, the summary printed)
and the command exits 143 instead of 130; :func:`hold_signals` holds both back while a file
or row is written. Cheap to import: the plugin's glue wraps its command with it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, ``timeout``, a logout): stopped the way Ctrl-C stops."""


#: Exit status of a run stopped by SIGTERM (128 + 15, as shells report it).
TERMINATED_STATUS = 128 + signal.SIGTERM
#: The signals a run holds back while it stores or writes a file.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM stops it as Ctrl-C does (:class:`Terminated`): the
    file being stored is finished, the workers are stopped, the summary is printed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def hold_signals() -> Iterator[None]:
    """Delay Ctrl-C and SIGTERM until the block is done, so a file or row is never left
    half-written (nor a temporary copy left behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in _STOP_SIGNALS
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            first = signal.Signals(caught[0])
            _deliver(first, previous[first])


def _deliver(signum: int, handler: Any) -> None:
    """Act on a held signal as its handler would have (those installed here raise)."""
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signum, None)  # beets' import hook: exits; the command's SIGTERM: Terminated
        return
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def exit_on_terminate(func: Callable[..., None]) -> Callable[..., None]:
    """``func`` (a command) with SIGTERM stopping it as Ctrl-C does, exiting 143."""

    def run(*args: Any) -> None:
        try:
            with terminate_as_interrupt():
                func(*args)
        except SystemExit as exc:
            # The command turns the interrupt into its exit status (130): SIGTERM's is 143.
            if isinstance(exc.__context__, Terminated):
                raise SystemExit(TERMINATED_STATUS) from None
            raise
        except Terminated:
            raise SystemExit(TERMINATED_STATUS) from None

    return run
