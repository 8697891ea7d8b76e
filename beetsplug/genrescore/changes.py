"""One item's changes: the new values a result or its stored evidence gives an item (or an
album), and putting them on it.

Every decision about what one item gets is made here: what a current item still needs (its
tags written again, a re-blend), its new values (:class:`Changes`: a result's fields and its
file's identity, a re-blend's, an album's aggregate), whether it is too unsure to touch
``genres``, what ``--pretend`` shows, the policies' ``genres`` and ``bpm`` set on it, its
file's tags (what a write that fails leaves in the library), and storing it whole
(:class:`Updates`, one per run, counts what happened). The run (``run.py``) decides which
items to analyse (batches, the engine, progress, stopping); how each field is computed and
the policies' rules are ``library.py``'s (``FIELDS``, ``apply_result``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import ui

from . import library, writing
from .errors import ReadOnlyFile, TagWriteError, display_path
from .settings import Settings
from .stopping import hold_signals

if TYPE_CHECKING:
    from .analyzer import TrackResult


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
class Changes:
    """What an item (or album) gets, decided and not yet set on it."""

    #: The fields to set; ``None`` removes one (what was not measured). The policies'
    #: ``genres`` and ``bpm`` follow from them when they are set (:func:`apply`).
    values: Mapping[str, Any]
    #: Below ``min_confidence``: the fields are set, ``genres`` is left alone.
    uncertain: bool

    @property
    def shown(self) -> list[str]:
        """The fields ``--pretend`` shows: the result's fields these values set (one left
        unset is not shown: beets cannot diff a list with None), ``genres`` and ``bpm``."""
        shown = [key for key in library.RESULT_FIELDS if self.values.get(key) is not None]
        return [*shown, "genres", library.BEETS_BPM]


def _changes(values: Mapping[str, Any], settings: Settings) -> Changes:
    return Changes(values, library.is_uncertain(values, settings.min_confidence))


def of_result(item: Any, result: TrackResult, fingerprint: str, settings: Settings) -> Changes:
    """An analysed item's changes: its result's fields (:func:`.library.result_values`), the
    analysis ``fingerprint`` and the size and mtime of the file it was taken from."""
    values = library.result_values(result, fingerprint)
    values.update(library.file_values(item))
    return _changes(values, settings)


def of_evidence(item: Any, settings: Settings, blend: str) -> Changes | None:
    """An item's changes from its stored evidence blended with the configured weights and
    rules, marked with their fingerprint (``blend``); no audio, no model. ``None``: no
    readable evidence, or none that gives a genre under these weights."""
    values = library.reblend_values(item, settings.ensemble)
    if values is None:
        return None
    values[library.BLEND] = blend
    return _changes(values, settings)


def of_album(album: Any, settings: Settings) -> Changes | None:
    """An album's changes, aggregated from its analysed tracks (``None``: none analysed)."""
    values = library.album_values(album.items(), settings.ensemble)
    return None if values is None else _changes(values, settings)


def apply(obj: Any, changes: Changes, settings: Settings) -> None:
    """Set the changes on an Item or Album, with the policies' ``genres`` and ``bpm``
    (:func:`.library.apply_result`); nothing is stored or written."""
    library.apply_result(
        obj,
        changes.values,
        settings.genres_policy,
        bpm_policy=settings.bpm_policy,
        min_confidence=settings.min_confidence,
    )


def planned(item: Any, changes: Changes, settings: Settings) -> dict[str, Any]:
    """The fields :func:`apply` would change on ``item``, and their new values, without
    touching it (what a re-blend stores in bulk: :func:`.library.store_changes`)."""
    return library.planned_changes(
        item, changes.values, settings.genres_policy, min_confidence=settings.min_confidence
    )


def show(obj: Any, changes: Changes, settings: Settings) -> None:
    """``--pretend``: print what the changes would change on an Item or Album, change
    nothing."""
    pending = obj.copy()
    apply(pending, changes, settings)
    ui.show_model_changes(pending, obj, fields=changes.shown)


def unwritten(item: Any) -> bool:
    """Whether the item's file lacks the tags of its stored result (a write failed): the
    next run that writes writes it again, without analysing it."""
    return bool(item.get(library.UNWRITTEN))


def write(item: Any) -> TagWriteError | None:
    """Write an item's tags (:func:`.writing.write_item`); the error when its file was not
    written, ``None`` when it was.

    The write changes the file's bytes, so its identity is taken again after it (also by the
    plugin's ``after_write`` listener); a write that fails keeps the old one, and the item
    keeps its values and fingerprint, marked (``genrescore_unwritten``: read-only or not
    written), so that the next run writes it again without analysing it.
    """
    identity = {key: item.get(key) for key in (library.FINGERPRINT, library.AUDIO_FILE)}
    try:
        writing.write_item(item)
    except TagWriteError as exc:
        for key, value in identity.items():
            if value is not None:
                item[key] = value
            elif key in item:
                del item[key]
        item[library.UNWRITTEN] = "read-only" if isinstance(exc, ReadOnlyFile) else "not written"
        return exc
    library.refresh_identity(item)
    if library.UNWRITTEN in item:
        del item[library.UNWRITTEN]
    return None


class Updates:
    """Puts items' changes on them, for one run: sets them, writes the tags (``write``),
    stores each item in one go that Ctrl-C waits for (``pretend``: shows them instead), and
    counts and names what happened (:attr:`counts`)."""

    def __init__(
        self, settings: Settings, log: Any, counts: Counts, *, write: bool, pretend: bool
    ) -> None:
        self.settings = settings
        self.log = log
        self.counts = counts
        self.write = write
        self.pretend = pretend
        #: Folders already cleared of temporary copies a killed run left there.
        self._swept: set[bytes] = set()

    @functools.cached_property
    def blend(self) -> str:
        """The blend settings' fingerprint (computed once: it is checked for every item)."""
        return self.settings.blend_fingerprint()

    def current(self, item: Any) -> bool:
        """Finish an item whose analysis is current: write its tags again where an earlier
        write failed (``write``), re-blend its stored evidence where the blend settings
        changed. ``False``: it must be analysed again (no readable evidence to re-blend)."""
        if self.write and unwritten(item):
            self._write(item, again=True)  # analysed, but its file was not written
        if not library.needs_reblend(item, self.blend):
            self.counts.skipped += 1
            return True
        reblended = self._reblended(item)
        if reblended is None:
            return False
        self.store(item, reblended)
        return True

    def analysed(self, item: Any, result: TrackResult, fingerprint: str) -> None:
        """Store an analysed item's changes (:func:`of_result`)."""
        self.store(item, of_result(item, result, fingerprint, self.settings))

    def _reblended(self, item: Any) -> Changes | None:
        """:func:`of_evidence`, counted as re-blended."""
        reblended = of_evidence(item, self.settings, self.blend)
        if reblended is not None:
            self.counts.reblended += 1
        return reblended

    def reblend_only(self, item: Any, *, force: bool, bulk: bool) -> dict[str, Any] | None:
        """``--reblend``'s item: its stored evidence blended again where the blend settings
        changed (``force``: always), unless its file changed since it was analysed; stored
        now, or with ``bulk`` its planned changes (:func:`planned`) returned, to be stored
        with others (``None``: nothing to store)."""
        if not force and not library.needs_reblend(item, self.blend):
            self.counts.skipped += 1
            return None
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
            return None
        reblended = self._reblended(item)
        if reblended is None:
            self.counts.skipped += 1
            self.counts.unblendable += 1
            return None
        if not bulk:
            self.store(item, reblended)
            return None
        if reblended.uncertain:
            self.counts.uncertain += 1
        return planned(item, reblended, self.settings)

    def store(self, item: Any, changes: Changes) -> None:
        """Set an item's changes, write its tags (``write``) and store it, in one go that
        Ctrl-C waits for; ``pretend``: show them."""
        if self.pretend:
            show(item, changes, self.settings)
            return
        if changes.uncertain:
            self.counts.uncertain += 1
        self._sweep(item)  # a run that does not write clears what a killed one left, too
        with hold_signals():
            apply(item, changes, self.settings)
            if self.write:
                self._count(write(item))
            with library.storing(item._db):
                item.store()
            self.counts.stored += 1

    def write_imported(self, item: Any) -> None:
        """Write the tags of an item imported as-is (beets writes the applied matches)."""
        self._write(item)

    def _write(self, item: Any, *, again: bool = False) -> None:
        """Write an item's tags (:func:`write`), store it, and count the outcome (``again``:
        a retry of an earlier failed write, named only at ``-v``: the summary counts it)."""
        with hold_signals():
            self._sweep(item)
            self._count(write(item), again=again)
            item.store()

    def _count(self, failed: TagWriteError | None, *, again: bool = False) -> None:
        if failed is None:
            self.counts.written += 1
            return
        if isinstance(failed, ReadOnlyFile):
            self.counts.read_only += 1
        else:
            self.counts.not_written += 1
        log = self.log.debug if again else self.log.warning
        log("{}: {}", display_path(failed.path), failed.reason)

    def _sweep(self, item: Any) -> None:
        """Remove the temporary copies a killed run left in the item's folder (once a run)."""
        folder = os.path.dirname(item.path)
        if folder not in self._swept:
            self._swept.add(folder)
            for leftover in writing.sweep(folder):
                self.log.info("{}: removed, left by an interrupted run", display_path(leftover))

    def album(self, album: Any) -> None:
        """Aggregate an album's values from its tracks (:func:`of_album`) and store them,
        without touching the tracks; ``pretend``: show them."""
        aggregate = of_album(album, self.settings)
        if aggregate is None:
            return
        if self.pretend:
            show(album, aggregate, self.settings)
            return
        with hold_signals():
            apply(album, aggregate, self.settings)
            # inherit=False: the album's values must not overwrite each track's own.
            with library.storing(album._db):
                album.store(inherit=False)
