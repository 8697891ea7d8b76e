"""One analysis run over library items: the engine behind the import stage and the command.

Paths are resolved here, on the calling thread (beets >= 2.10 expands library-relative paths
through a context variable). Each item is stored as soon as it is done, in its own
transaction, so an interrupted run loses at most the item in flight.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from beets import ui

from . import library
from .analyzer import Analyzer, TrackResult, load_models, to_json
from .audio import AUDIO_EXTENSIONS, check_file
from .errors import AudioLoadError, TrackError
from .explain import explain
from .settings import Settings


@dataclass
class Counts:
    """The end-of-run summary."""

    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    written: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        line = (
            f"analysed {self.analysed}, skipped {self.skipped}, "
            f"failed {self.failed}, written {self.written}"
        )
        if self.analysed:
            line += f" ({self.seconds / self.analysed:.2f} s per track)"
        return line


@dataclass(frozen=True)
class RunOptions:
    """How results are handled (from CLI flags or the import session)."""

    write: bool = False
    pretend: bool = False
    explain: bool = False
    report: IO[str] | None = None


class Run:
    """Analyse items, store their fields, write their tags, aggregate albums."""

    def __init__(self, settings: Settings, log: Any, options: RunOptions) -> None:
        self.settings = settings
        self.log = log
        self.options = options
        self.counts = Counts()
        self._analyzer: Analyzer | None = None
        self._reported: set[str] = set()

    @property
    def analyzer(self) -> Analyzer:
        """Built on first use, so a run with nothing to do never loads a model."""
        if self._analyzer is None:
            models = load_models(self.settings, self.log.warning)
            self._analyzer = Analyzer(self.settings, models)
        return self._analyzer

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

    def process(self, items: Iterable[Any], on_done: Callable[[Any], None] | None = None) -> None:
        """Analyse every item that is not up to date, one at a time."""
        for item in items:
            if self.handle(item) and on_done is not None:
                on_done(item)

    def handle(self, item: Any) -> bool:
        """Analyse and store one item; ``True`` when it got a new result."""
        path = os.fsdecode(item.path)
        fingerprint = self.fingerprint(item)
        if not self.settings.force and library.is_current(item, fingerprint):
            self.log.debug("{}: up to date", path)
            self.counts.skipped += 1
            return False
        started = time.perf_counter()
        try:
            result = self.analyzer.analyze(path)
        except TrackError as exc:
            self._fail(exc)
            return False
        self.counts.seconds += time.perf_counter() - started
        self.counts.analysed += 1
        self.apply(item, result, fingerprint)
        return True

    def apply(self, item: Any, result: TrackResult, fingerprint: str) -> None:
        values = library.result_values(result, fingerprint)
        self._report(item, result)
        if self.options.pretend:
            pending = item.copy()
            library.apply_result(pending, values, self.settings.genres_policy)
            ui.show_model_changes(pending, item, fields=[*library.RESULT_FIELDS, "genres"])
            return
        library.apply_result(item, values, self.settings.genres_policy)
        if self.options.write:
            if item.try_write():
                self.counts.written += 1
            else:
                # Keep the values but not the fingerprint: the next run tries the file again.
                del item[library.FINGERPRINT]
        item.store()

    def _report(self, item: Any, result: TrackResult) -> None:
        decision = result.decision
        self.log.info(
            "{}: {} {:.0%} ({})",
            item,
            decision.genre,
            decision.confidence,
            ", ".join(genre for genre in decision.top),
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
            pending = album.copy()
            library.apply_result(pending, values, self.settings.genres_policy)
            ui.show_model_changes(pending, album, fields=[*library.RESULT_FIELDS, "genres"])
            return
        library.apply_result(album, values, self.settings.genres_policy)
        # inherit=False: the album's values must not overwrite each track's own.
        album.store(inherit=False)
