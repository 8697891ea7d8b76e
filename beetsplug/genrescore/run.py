"""One analysis run over library items: the engine behind the import stage and the command.

Paths are resolved here, on the calling thread (beets >= 2.10 expands library-relative paths
through a context variable); decoding happens in worker processes (:mod:`.engine`); each
item is stored as soon as its result is in, in its own transaction, with Ctrl-C held back
while it is written, so an interrupted run loses at most what was in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from beets import ui

from . import library
from .analyzer import Analyzer, TrackResult, load_models, to_json
from .audio import AUDIO_EXTENSIONS, check_file
from .engine import Engine
from .errors import AudioLoadError, TrackError
from .explain import explain
from .forkserver import start_early
from .progress import Progress
from .settings import Settings


@dataclass
class Counts:
    """The end-of-run summary."""

    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    written: int = 0
    started: float = 0.0

    def summary(self) -> str:
        line = (
            f"analysed {self.analysed}, skipped {self.skipped}, "
            f"failed {self.failed}, written {self.written}"
        )
        if self.analysed and self.started:
            per_track = (time.perf_counter() - self.started) / self.analysed
            line += f" ({per_track:.2f} s per track)"
        return line


@dataclass(frozen=True)
class RunOptions:
    """How results are handled (from CLI flags or the import session)."""

    write: bool = False
    pretend: bool = False
    explain: bool = False
    report: IO[str] | None = None
    #: Show a progress bar (terminal) or periodic progress lines (log).
    progress: bool = False


@contextlib.contextmanager
def _hold_interrupts() -> Iterator[None]:
    """Delay Ctrl-C until the block is done, so a file or row is never left half-written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


class Run:
    """Analyse items, store their fields, write their tags, aggregate albums."""

    def __init__(self, settings: Settings, log: Any, options: RunOptions) -> None:
        self.settings = settings
        self.log = log
        self.options = options
        self.counts = Counts()
        self._analyzer: Analyzer | None = None
        self._engine: Engine[tuple[Any, str]] | None = None
        self._reported: set[str] = set()

    @property
    def analyzer(self) -> Analyzer:
        """Built on first use, so a run with nothing to do never loads a model."""
        if self._analyzer is None:
            start_early(self.settings)
            models = load_models(self.settings, self.log.warning)
            self._analyzer = Analyzer(self.settings, models)
        return self._analyzer

    @property
    def engine(self) -> Engine[tuple[Any, str]]:
        if self._engine is None:
            self._engine = Engine(self.analyzer, self.settings.jobs)
        return self._engine

    def close(self) -> None:
        """Stop the decoder processes (a later run starts new ones)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def check_sources(self, paths: Iterable[bytes | str]) -> None:
        """Report audio files under ``paths`` that no decoder should be trusted with.

        Cheap (a stat and a few bytes per file): it names the empty, random and mislabelled
        files that beets' importer would otherwise skip silently.
        """
        for top in paths:
            top = os.fsdecode(top)
            walk = [(top, [], [""])] if os.path.isfile(top) else os.walk(top)
            for folder, _, names in walk:
                for name in names:
                    path = os.path.join(folder, name) if name else folder
                    if os.path.splitext(path)[1].lower() not in AUDIO_EXTENSIONS:
                        continue
                    try:
                        check_file(path)
                    except AudioLoadError as exc:
                        self._fail(exc)

    def _fail(self, exc: TrackError) -> None:
        if exc.path in self._reported:
            return
        self._reported.add(exc.path)
        self.log.warning("{}: {}", exc.path, exc.reason)
        if exc.outcome == "skipped":
            self.counts.skipped += 1
        else:
            self.counts.failed += 1

    def fingerprint(self, item: Any) -> str:
        return library.item_fingerprint(self.analyzer.fingerprint, item)

    def process(
        self,
        items: Iterable[Any],
        *,
        total: int | None = None,
        on_item: Callable[[Any], None] | None = None,
    ) -> None:
        """Analyse every item that is not up to date; ``on_item`` sees each finished item."""
        if not self.counts.started:
            self.counts.started = time.perf_counter()
        progress = Progress(total, self.log.info) if self.options.progress else None

        def finished(item: Any) -> None:
            if progress is not None:
                progress.advance()
            if on_item is not None:
                on_item(item)

        def work() -> Iterator[tuple[tuple[Any, str], str]]:
            for item in items:
                path = os.fsdecode(item.path)  # here, on the thread that holds the context
                fingerprint = self.fingerprint(item)
                if not self.settings.force and library.is_current(item, fingerprint):
                    self.counts.skipped += 1
                    finished(item)
                    continue
                yield (item, fingerprint), path

        try:
            for done in self.engine.run(work()):
                item, fingerprint = done.key
                if done.error is not None:
                    self._fail(done.error)
                elif done.result is not None:
                    self.counts.analysed += 1
                    self.apply(item, done.result, fingerprint)
                finished(item)
        except KeyboardInterrupt:
            self.log.warning(
                "interrupted: {} tracks stored; run the command again to go on",
                self.counts.analysed,
            )
            raise
        finally:
            if progress is not None:
                progress.finish()

    def apply(self, item: Any, result: TrackResult, fingerprint: str) -> None:
        values = library.result_values(result, fingerprint)
        self._report(item, result)
        if self.options.pretend:
            self._show_changes(item, values)
            return
        with _hold_interrupts():
            library.apply_result(item, values, self.settings.genres_policy)
            if self.options.write:
                if library.write_item(item, self.log):
                    self.counts.written += 1
                else:
                    # Keep the values but not the fingerprint: the next run tries the file again.
                    del item[library.FINGERPRINT]
            item.store()

    def _show_changes(self, obj: Any, values: dict[str, Any]) -> None:
        """``--pretend``: print what would change on an Item or Album, change nothing."""
        pending = obj.copy()
        library.apply_result(pending, values, self.settings.genres_policy)
        ui.show_model_changes(pending, obj, fields=[*library.RESULT_FIELDS, "genres"])

    def _report(self, item: Any, result: TrackResult) -> None:
        decision = result.decision
        self.log.debug(
            "{}: {} {:.0%} ({})",
            item,
            decision.genre,
            decision.confidence,
            ", ".join(decision.top),
        )
        if self.options.explain:
            ui.print_(f"{item}:")
            for line in explain(result):
                ui.print_(line)
        if self.options.report is not None:
            self.options.report.write(json.dumps(to_json(result)) + "\n")
            self.options.report.flush()

    def update_album(self, album: Any) -> None:
        """Aggregate an album's values from its tracks, without touching the tracks."""
        values = library.album_values(album.items(), self.settings.count)
        if values is None:
            return
        if self.options.pretend:
            self._show_changes(album, values)
            return
        with _hold_interrupts():
            library.apply_result(album, values, self.settings.genres_policy)
            # inherit=False: the album's values must not overwrite each track's own.
            album.store(inherit=False)
