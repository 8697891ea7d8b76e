"""One analysis run over library items: the engine behind the import stage and the command.

The run orchestrates: which items need analysing (the fingerprint), the engine and its
batches, progress, stopping, and the run's output (``--explain``, ``--report``, the summary).
Paths are resolved here, on the calling thread (beets >= 2.10 expands library-relative paths
through a context variable); decoding happens in worker processes (:mod:`.engine`). What
each item gets is :mod:`.changes`' to decide and do: it is stored as soon as its result is
in, in its own transaction, with Ctrl-C held back while it is written, so an interrupted run
loses at most what was in flight.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from beets import config as beets_config
from beets import ui
from beets.util import sorted_walk
from mediafile import FileTypeError, MediaFile, UnreadableFileError

from . import library, workers
from .audio import AUDIO_EXTENSIONS, check_file
from .backends.placement import check_device
from .changes import Counts, Updates
from .errors import AudioLoadError, TrackError, display_path
from .progress import Progress
from .settings import Settings
from .stopping import hold_signals

if TYPE_CHECKING:
    from .analyzer import Analyzer, TrackResult
    from .engine import Engine

# The analysis stack (analyzer, engine, explain, the models) is imported when the first
# item is analysed, so that the import hook can count the files and start the workers' fork
# server before this process pays for it.


@dataclass(frozen=True)
class RunOptions:
    """How results are handled (from CLI flags or the import session)."""

    write: bool = False
    pretend: bool = False
    explain: bool = False
    report: IO[str] | None = None
    #: Show a progress bar (terminal) or periodic progress lines (log).
    progress: bool = False


def source_files(paths: Iterable[bytes | str]) -> Iterator[str]:
    """The audio files beets' importer will look at under ``paths``.

    Walked the way beets walks an import (its ``ignore`` patterns and ``ignore_hidden``), so
    that hidden files and leftovers it never opens are not reported.
    """
    ignore = [os.fsencode(pattern) for pattern in beets_config["ignore"].as_str_seq()]
    ignore_hidden = beets_config["ignore_hidden"].get(bool)
    for top in paths:
        top = os.fsencode(top)
        if not os.path.isdir(top):
            walk: Iterable[tuple[bytes, Any, Iterable[bytes]]] = [(top, [], [b""])]
        else:
            walk = sorted_walk(top, ignore=ignore, ignore_hidden=ignore_hidden)
        for folder, _, names in walk:
            for name in names:
                path = os.fsdecode(os.path.join(folder, name) if name else folder)
                if os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS:
                    yield path


def check_importable(path: str) -> None:
    """Open a file the way beets' importer does (mediafile); fail with the reason it would.

    Raises
    ------
    AudioLoadError
        beets will not import the file (it skips it silently).
    """
    try:
        MediaFile(os.fsencode(path))
    except FileTypeError as exc:
        raise AudioLoadError(
            path, "beets will not import it: not a recognised audio format (damaged header?)"
        ) from exc
    except UnreadableFileError as exc:
        detail = str(exc.args[0] if exc.args else exc)
        for quoted in (repr(os.fsencode(path)), repr(path), path):  # mutagen names the file
            detail = detail.replace(quoted, "")
        detail = detail.strip(" :") or "unreadable (damaged or cut short)"
        raise AudioLoadError(path, f"beets will not import it: {detail}") from exc
    except Exception as exc:  # mutagen on damaged data: anything
        raise AudioLoadError(
            path, f"beets will not import it: {type(exc).__name__}: {exc}"
        ) from exc


class Run:
    """Analyse the items that need it and hand every item (and album) to :attr:`updates`,
    which stores its fields, writes its tags and aggregates albums."""

    def __init__(
        self, settings: Settings, log: Any, options: RunOptions, *, tracks: int | None = None
    ) -> None:
        """A run over about ``tracks`` tracks (``None``: not counted).

        Raises :class:`ConfigError` when the device the settings name is not there.
        """
        #: Where this run's work happens (the models: here, in the workers or on a cluster),
        #: planned once; the engine adapts it to each batch's tracks
        #: (:meth:`.workers.WorkerPlan.for_tracks`).
        self.plan = workers.plan(settings, tracks)
        if not self.on_cluster:
            check_device(settings.backend.device)  # with a cluster, the device is the actors'
        self.settings = settings
        self.log = log
        self.options = options
        self.counts = Counts()
        #: Puts each item's changes on it (sets, writes, stores or shows them) and counts.
        self.updates = Updates(
            settings, log, self.counts, write=options.write, pretend=options.pretend
        )
        self._analyzer: Analyzer | None = None
        self._engine: Engine[Any] | None = None
        self._remote: Any = None  # cluster.RayInference, when the models run on a cluster
        self._reported: set[str] = set()
        self._capped = False
        #: Set from a signal handler: finish the file being stored, then stop.
        self.stopping = False

    @property
    def on_cluster(self) -> bool:
        """The models run on a Ray cluster (the plan says so; the workers only decode)."""
        return self.plan.models is workers.Where.CLUSTER

    @property
    def analyzer(self) -> Analyzer:
        """Built on first use, so a run with nothing to do never loads a model."""
        if self._analyzer is None:
            self.start()  # the fork server's imports overlap the models' loading
            from .analyzer import Analyzer, load_models

            settings = self.settings
            if self.on_cluster:
                # Here the models only name their labels for the blend; the actors run them
                # on the configured device.
                settings = settings.replace(
                    backend=dataclasses.replace(settings.backend, device="cpu")
                )
            models = load_models(settings, self.log.warning)
            self._analyzer = Analyzer(self.settings, models)
        return self._analyzer

    def start(self) -> None:
        """Start the workers' fork server, as the plan says.

        Called as soon as the run exists (the import hook, before beets' first lookups), and
        at the latest when the models load; what the server preloads is decided by the plan
        it is first started with.
        """
        workers.start(self.plan)

    @property
    def engine(self) -> Engine[Any]:
        if self._engine is None:
            self._engine = self._new_engine()
        return self._engine

    def _new_engine(self) -> Engine[Any]:
        analyzer = self.analyzer  # first: it starts the fork server before the heavy imports
        from .engine import Engine

        if self.settings.jobs > self.plan.cores and not self._capped:
            # A worker beyond the cores only competes for them (workers.plan caps them).
            self._capped = True
            self.log.warning(
                "jobs: {} is more than the {} cores this process may use; using {}",
                self.settings.jobs,
                self.plan.cores,
                self.plan.cores,
            )
        if self.on_cluster and self._remote is None:
            from . import cluster  # Ray loads only when a cluster is configured

            self._remote = cluster.build(self.analyzer, self.plan)
            self.log.info(
                "models on the Ray cluster at {}: {} actors", self._remote.address,
                len(self._remote.actors),
            )  # fmt: skip
        if self._remote is None:
            return Engine(analyzer, plan=self.plan)
        return Engine(
            analyzer, batch_tracks=self._remote.batch_tracks, remote=self._remote, plan=self.plan
        )

    def close(self) -> None:
        """Stop the decoder processes (a later run starts new ones)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    def check_files(self, files: Iterable[str]) -> None:
        """Report the audio files (:func:`source_files`) that beets will skip or we cannot
        decode.

        beets' importer drops a file it cannot read without a word; this names each one
        with the reason. Cheap: a stat and a few bytes per file, then the tag read beets
        itself does (mediafile).
        """
        for path in files:
            try:
                check_file(path)
                check_importable(path)
            except AudioLoadError as exc:
                self._fail(exc)

    def interrupted(self, what: str) -> str:
        """The line that says an interrupted run kept its work and how to go on."""
        return f"interrupted: {self.counts.analysed} tracks stored; run {what} again to go on"

    def _fail(self, exc: TrackError) -> None:
        if exc.path in self._reported:
            return
        self._reported.add(exc.path)
        # Decoders quote the path in their messages: once is enough, and raw it could hold
        # a newline.
        reason = display_path(exc.reason.replace(exc.path, "the file"))
        self.log.warning("{}: {}", display_path(exc.path), reason)
        if exc.detail:
            self.log.debug("{}", exc.detail.rstrip())
        if exc.outcome == "skipped":
            self.counts.skipped += 1
        else:
            self.counts.failed += 1

    @functools.cached_property
    def planned_fingerprint(self) -> str | None:
        """The loaded models' fingerprint, known without loading them
        (:func:`.analyzer.planned_fingerprint`); ``None`` with a cluster (its models are
        described where they run)."""
        if self.on_cluster:
            return None
        from .analyzer import planned_fingerprint

        return planned_fingerprint(self.settings)

    def fingerprint(self, item: Any) -> str:
        """The fingerprint the item's stored result must carry to be current: the loaded
        models', or, until they are loaded, the planned one."""
        if self._analyzer is not None or self.planned_fingerprint is None:
            return library.item_fingerprint(self.analyzer.fingerprint, item)
        return library.item_fingerprint(self.planned_fingerprint, item)

    def _current(self, item: Any) -> bool:
        """Whether the item's stored analysis is current (``--force``: never).

        Until an item looks stale the models are not loaded (a run with nothing to analyse
        loads none); then they are, and their own fingerprint decides, for that item too: a
        configured checkpoint that fails to load is replaced by its fallback, whose results
        are the current ones.
        """
        if self.settings.force or not library.has_result(item):
            # Stale whatever the models: no fingerprint to work out (it imports the analysis
            # stack), so a run over new items starts its fork server at once.
            return False
        fingerprint = self.fingerprint(item)
        if library.is_current(item, fingerprint):
            return True
        if self._analyzer is not None:
            return False
        self.analyzer  # noqa: B018 - loads the models: from now on their fingerprint decides
        return library.is_current(item, self.fingerprint(item))

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

        def work() -> Iterator[tuple[Any, str]]:
            for item in items:
                path = os.fsdecode(item.path)  # here, on the thread that holds the context
                if self._current(item) and self.updates.current(item):
                    finished(item)  # nothing to analyse: skipped, written again, re-blended
                    continue
                yield item, path

        try:
            pending = work()
            # The first item to analyse starts the engine (and loads the models): a run with
            # nothing to analyse starts no process and loads no model.
            first = next(pending, None)
            if first is None:
                return
            for done in self.engine.run(itertools.chain([first], pending)):
                item = done.key
                if done.error is not None:
                    self._fail(done.error)
                elif done.result is not None:
                    self.counts.analysed += 1
                    # The loaded models' fingerprint (they are loaded by now).
                    fingerprint = self.fingerprint(item)
                    self.apply(item, done.result, fingerprint)
                finished(item)
                if self.stopping:
                    break  # closing the engine's iterator stops its workers
        except KeyboardInterrupt:
            self.log.warning("{}", self.interrupted("the command"))
            raise
        finally:
            if progress is not None:
                progress.finish()

    @property
    def blend_fingerprint(self) -> str:
        """The blend settings' fingerprint (:attr:`.changes.Updates.blend`)."""
        return self.updates.blend

    def reblend_only(self, lib: Any, items: Iterable[Any]) -> None:
        """``--reblend``: blend every item with stored evidence again (all of them with
        ``--force``, else those blended with other settings); analyse nothing.

        Without ``--pretend`` or ``--write`` the items' changes are stored together, in one
        transaction (:func:`library.store_changes`); a Ctrl-C waits for it.
        """
        if not self.counts.started:
            self.counts.started = time.perf_counter()
        bulk = not (self.options.pretend or self.options.write)
        batch = []
        for item in items:
            if self.stopping:
                break
            planned = self.updates.reblend_only(item, force=self.settings.force, bulk=bulk)
            if planned is not None:
                batch.append((item, planned))
        with hold_signals():
            library.store_changes(lib, batch)
        self.counts.stored += len(batch)

    def apply(self, item: Any, result: TrackResult, fingerprint: str) -> None:
        """Report an analysed item's result and store its changes."""
        self._report(item, result)
        self.updates.analysed(item, result, fingerprint)

    def write_imported(self, item: Any) -> None:
        """Write the tags of an item imported as-is (beets writes the applied matches)."""
        self.updates.write_imported(item)

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
            from .explain import explain

            ui.print_(f"{item}:")
            for line in explain(result):
                ui.print_(line)
        if self.options.report is not None:
            self.options.report.write(json.dumps(library.report(result)) + "\n")
            self.options.report.flush()

    def update_album(self, album: Any) -> None:
        """Aggregate an album's values from its tracks, without touching the tracks."""
        self.updates.album(album)
