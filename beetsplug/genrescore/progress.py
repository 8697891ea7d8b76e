"""Progress of a long run: a bar on a terminal, periodic log lines otherwise.

beets has no progress API yet (beetbox/beets#5711), so this is a small one: count, rate and
ETA on stderr, redrawn in place at most a few times a second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

#: Seconds between two redraws of the bar, and between two log lines without a terminal.
REDRAW_SECONDS = 0.25
LOG_SECONDS = 30.0
BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts finished items; shows count, rate (items analysed per second) and ETA."""

    def __init__(
        self,
        total: int | None,
        log: Callable[[str], None],
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self._log = log
        self._stream = stream if stream is not None else sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._clock = clock
        self._started = clock()
        self._last = self._started

    def line(self) -> str:
        elapsed = max(1e-9, self._clock() - self._started)
        rate = self.done / elapsed
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        text = f"{count} tracks, {rate:.2f}/s"
        if self.total and rate > 0:
            text += f", ETA {_clock((self.total - self.done) / rate)}"
        return text

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if self._tty:
            if now - self._last >= REDRAW_SECONDS or self.done == self.total:
                self._last = now
                self._draw()
        elif now - self._last >= LOG_SECONDS:
            self._last = now
            self._log(self.line())

    def _draw(self) -> None:
        bar = ""
        if self.total:
            filled = round(BAR_WIDTH * self.done / self.total)
            bar = "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "] "
        self._stream.write(f"\rgenrescore {bar}{self.line()}\x1b[K")
        self._stream.flush()

    def finish(self) -> None:
        if self._tty:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
