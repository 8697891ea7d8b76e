"""One analysis run over library items: the engine behind the import stage and the command.

Paths are resolved here, on the calling thread (beets >= 2.10 expands library-relative paths
through a context variable); decoding happens in worker processes (:mod:`.engine`); each
item is stored as soon as its result is in, in its own transaction, with Ctrl-C held back
while it is written, so an interrupted run loses at most what was in flight.
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

from . import library, workers, writing
from .audio import AUDIO_EXTENSIONS, check_file
from .backends.placement import check_device
from .errors import AudioLoadError, ReadOnlyFile, TagWriteError, TrackError, display_path
from .progress import Progress
from .settings import Settings
from .stopping import hold_signals

if TYPE_CHECKING:
    from .analyzer import Analyzer, TrackResult
    from .engine import Engine

# The analysis stack (analyzer, engine, explain, the models) is imported when the first
# item is analysed, so that the import hook can count the files and start the workers' fork
# server before this process pays for it.


@dataclass
class Counts:
    """The end-of-run summary."""

    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    written: int = 0
    #: Analysed, but below ``min_confidence``: ``genres`` left alone.
    uncertain: int = 0
    #: Blended again from stored evidence (weights or rules changed), no audio read.
    reblended: int = 0
    #: ``--reblend``: analysed before evidence was kept (analyse them again to re-blend).
    unblendable: int = 0
    #: Tags not written: the file or folder is read-only (results kept, no re-analysis).
    read_only: int = 0
    #: Tags not written for another reason (a damaged container, a write that would change
    #: the audio, an I/O error), each named.
    not_written: int = 0
    started: float = 0.0
    #: Items whose results (analysed or re-blended) were stored: what a full disk keeps.
    stored: int = 0
    #: ``--reblend``: files whose audio changed since they were analysed (not re-blended).
    changed: int = 0

    def summary(self) -> str:
        line = (
            f"analysed {self.analysed}, skipped {self.skipped}, "
            f"failed {self.failed}, written {self.written}"
        )
        if self.reblended:
            line += f", re-blended {self.reblended}"
        if self.unblendable:
            line += f"; {self.unblendable} without stored evidence (run without --reblend)"
        if self.changed:
            files = "file" if self.changed == 1 else "files"
            line += f"; {self.changed} {files} changed since analysed (run without --reblend)"
        if self.uncertain:
            line += f", uncertain {self.uncertain} (genres left alone)"
        if self.analysed and self.started:
            per_track = (time.perf_counter() - self.started) / self.analysed
            line += f" ({per_track:.2f} s per track)"
        if self.read_only:
            files = "file" if self.read_only == 1 else "files"
            line += f"; {self.read_only} {files} could not be written (read-only)"
        if self.not_written:
            files = "file" if self.not_written == 1 else "files"
            line += f"; {self.not_written} {files} not written (each named above, or with -v)"
        if self.failed:
            files = "file" if self.failed == 1 else "files"
            line += f"; {self.failed} {files} failed, each named above (details with -v)"
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
    """Analyse items, store their fields, write their tags, aggregate albums."""

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
        self._analyzer: Analyzer | None = None
        self._engine: Engine[Any] | None = None
        self._remote: Any = None  # cluster.RayInference, when the models run on a cluster
        self._reported: set[str] = set()
        self._capped = False
        #: Set from a signal handler: finish the file being stored, then stop.
        self.stopping = False
        #: Folders already cleared of temporary copies a killed run left there.
        self._swept: set[bytes] = set()

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

            self._remote = cluster.build(self.analyzer, self.settings.cluster)
            self.log.info(
                "models on the Ray cluster at {}: {} actors", self.settings.cluster,
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
        if self.settings.force:
            return False
        if library.is_current(item, self.fingerprint(item)):
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
                if self._current(item):
                    if self.options.write and item.get(library.UNWRITTEN):
                        self._write_again(item)  # analysed, but its file was not written
                    if not library.needs_reblend(item, self.blend_fingerprint):
                        self.counts.skipped += 1
                        finished(item)
                        continue
                    if self.reblend(item):
                        finished(item)
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
                    self.apply(item, done.result, self.fingerprint(item))
                finished(item)
                if self.stopping:
                    break  # closing the engine's iterator stops its workers
        except KeyboardInterrupt:
            self.log.warning("{}", self.interrupted("the command"))
            raise
        finally:
            if progress is not None:
                progress.finish()

    @functools.cached_property
    def blend_fingerprint(self) -> str:
        """The blend settings' fingerprint (computed once: it is checked for every item)."""
        return self.settings.blend_fingerprint()

    def _reblend_values(self, item: Any) -> dict[str, Any] | None:
        """The values of an item's stored evidence blended with the configured weights and
        rules, marked with them (``None``: no readable evidence); counted as re-blended."""
        values = library.reblend_values(item, self.settings.ensemble)
        if values is None:
            return None
        values[library.BLEND] = self.blend_fingerprint
        self.counts.reblended += 1
        return values

    def reblend(self, item: Any) -> bool:
        """Blend an item's stored evidence with the configured weights and rules, and store
        the result; no audio, no model. ``False`` when it has no readable evidence."""
        values = self._reblend_values(item)
        if values is None:
            return False
        self._store(item, values)
        return True

    def reblend_only(self, lib: Any, items: Iterable[Any]) -> None:
        """``--reblend``: blend every item with stored evidence again (all of them with
        ``--force``, else those blended with other settings); analyse nothing.

        Without ``--pretend`` or ``--write`` the items' changes are stored together, in one
        transaction (:func:`library.store_changes`); a Ctrl-C waits for it.
        """
        if not self.counts.started:
            self.counts.started = time.perf_counter()
        bulk = not (self.options.pretend or self.options.write)
        changes = []
        for item in items:
            if self.stopping:
                break
            if not self.settings.force and not library.needs_reblend(item, self.blend_fingerprint):
                self.counts.skipped += 1
                continue
            if library.audio_changed(item):
                # Its evidence is another song's: blending it again would store (and with
                # -w write) the old song's genre on the new one.
                self.counts.skipped += 1
                self.counts.changed += 1
                self.log.warning(
                    "{}: the file changed since it was analysed; not re-blended "
                    "(run beet genrescore without --reblend to analyse it)",
                    display_path(item.path),
                )
                continue
            values = self._reblend_values(item)
            if values is None:
                self.counts.skipped += 1
                self.counts.unblendable += 1
            elif not bulk:
                self._store(item, values)
            else:
                if library.is_uncertain(values, self.settings.min_confidence):
                    self.counts.uncertain += 1
                planned = library.planned_changes(
                    item,
                    values,
                    self.settings.genres_policy,
                    min_confidence=self.settings.min_confidence,
                )
                changes.append((item, planned))
        with hold_signals():
            library.store_changes(lib, changes)
        self.counts.stored += len(changes)

    def apply(self, item: Any, result: TrackResult, fingerprint: str) -> None:
        values = library.result_values(result, fingerprint)
        values.update(library.file_values(item))
        self._report(item, result)
        self._store(item, values)

    def _store(self, item: Any, values: dict[str, Any]) -> None:
        if self.options.pretend:
            self._show_changes(item, values)
            return
        if library.is_uncertain(values, self.settings.min_confidence):
            self.counts.uncertain += 1
        self._sweep(item)  # a run that does not write clears what a killed one left, too
        with hold_signals():
            self._apply(item, values)
            if self.options.write:
                self._write(item)
            with library.storing(item._db):
                item.store()
            self.counts.stored += 1

    def _write(self, item: Any, *, again: bool = False) -> None:
        """Write an item's tags (:func:`writing.write_item`) and count the outcome.

        A file that is not written keeps its values and fingerprint in the library, marked
        (``genrescore_unwritten``), so the next run writes it again without analysing it;
        ``again``: such a retry, named only at ``-v`` (the summary counts it).
        """
        self._sweep(item)
        # The write changes the file's bytes, so its identity is taken again after it (also
        # by the plugin's `after_write` listener); a write that fails keeps the old one.
        identity = {key: item.get(key) for key in (library.FINGERPRINT, library.AUDIO_FILE)}
        try:
            writing.write_item(item)
        except TagWriteError as exc:
            for key, value in identity.items():
                if value is not None:
                    item[key] = value
                elif key in item:
                    del item[key]
            read_only = isinstance(exc, ReadOnlyFile)
            if read_only:
                self.counts.read_only += 1
            else:
                self.counts.not_written += 1
            log = self.log.debug if again else self.log.warning
            log("{}: {}", display_path(exc.path), exc.reason)
            item[library.UNWRITTEN] = "read-only" if read_only else "not written"
            return
        self.counts.written += 1
        library.refresh_identity(item)
        if library.UNWRITTEN in item:
            del item[library.UNWRITTEN]

    def write_imported(self, item: Any) -> None:
        """Write the tags of an item imported as-is (beets writes the applied matches)."""
        with hold_signals():
            self._write(item)
            item.store()

    def _sweep(self, item: Any) -> None:
        """Remove the temporary copies a killed run left in the item's folder (once a run)."""
        folder = os.path.dirname(item.path)
        if folder not in self._swept:
            self._swept.add(folder)
            for leftover in writing.sweep(folder):
                self.log.info("{}: removed, left by an interrupted run", display_path(leftover))

    def _write_again(self, item: Any) -> None:
        with hold_signals():
            self._write(item, again=True)
            item.store()

    def _show_changes(self, obj: Any, values: dict[str, Any]) -> None:
        """``--pretend``: print what would change on an Item or Album, change nothing."""
        pending = obj.copy()
        self._apply(pending, values)
        # Fields this result leaves unset are not shown: beets cannot diff a list with None.
        shown = [key for key in library.RESULT_FIELDS if values.get(key) is not None]
        fields = [*shown, "genres", library.BEETS_BPM]
        ui.show_model_changes(pending, obj, fields=fields)

    def _apply(self, obj: Any, values: dict[str, Any]) -> None:
        library.apply_result(
            obj,
            values,
            self.settings.genres_policy,
            bpm_policy=self.settings.bpm_policy,
            min_confidence=self.settings.min_confidence,
        )

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
        values = library.album_values(album.items(), self.settings.ensemble)
        if values is None:
            return
        if self.options.pretend:
            self._show_changes(album, values)
            return
        with hold_signals():
            self._apply(album, values)
            # inherit=False: the album's values must not overwrite each track's own.
            with library.storing(album._db):
                album.store(inherit=False)
