"""The beets plugin: defaults, field types, media fields, import hooks and the command.

This is the thin beets glue (the package's ``__init__`` imports it for beets to find). The
analysis stack is imported only when a run starts, so ``beet ls`` never pays for it; torch
and transformers only when a GPU or a downloaded checkpoint runs (the embedded models run on
ONNX Runtime on the CPU).
"""

from __future__ import annotations

import signal
import threading
import traceback
from typing import Any

from beets import config as beets_config
from beets.exceptions import UserError
from beets.importer import Action
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand
from mediafile import MediaFile

from . import library, tags
from .command import INTERRUPTED_STATUS
from .errors import ConfigError, display_path
from .settings import DEFAULTS, Settings, read_settings
from .stopping import TERMINATED_STATUS, exit_on_terminate


def _describe(task: Any) -> str:
    paths = getattr(task, "paths", None) or []
    return ", ".join(display_path(path) for path in paths) or "an import task"


def _before_write(item: Any, path: bytes, tags: dict[str, Any], **_: Any) -> None:
    # Only what was measured goes to the file: a tag the analysis did not measure is
    # removed, a null beets read from a file without it is not written.
    library.file_tags(item, tags)
    # Only a result that describes the file before the write describes it after: a file
    # replaced since its analysis must still look replaced.
    item._genrescore_describes = bool(item.get(library.FINGERPRINT)) and not (
        library.audio_changed(item, path)
    )


def _task_created(task: Any, **_: Any) -> None:
    # beets has read every registered tag of the new files: a tag a file lacks is a null
    # (genrescore_bpm 0.0) that must not be stored as if it had been measured.
    for item in getattr(task, "items", None) or []:
        library.drop_unmeasured(item)


def _after_write(item: Any, path: bytes, **_: Any) -> None:
    if getattr(item, "_genrescore_describes", False):
        library.refresh_identity(item, path)
    item._genrescore_describes = False


class _FileWrites(BeetsPlugin):
    """Any tag write (beets' own, another plugin's, ours) changes the file's bytes, and with
    them the identity the stored fingerprint holds: it is taken again after the write. Only
    what was measured is written (:func:`.library.file_tags`) or imported
    (:func:`.library.drop_unmeasured`), whether the import analyses or not.

    A helper plugin (beets loads the module's last plugin class, GenreScorePlugin): beets
    runs no listener of a plugin while another of the same plugin runs, and our own writes
    happen inside the import's listeners.
    """

    def __init__(self) -> None:
        super().__init__("genrescore_writes")
        self.register_listener("write", _before_write)
        self.register_listener("after_write", _after_write)
        self.register_listener("import_task_created", _task_created)


class GenreScorePlugin(BeetsPlugin):
    """Detect genres and instruments from the audio of each track."""

    item_types = library.FIELD_TYPES
    album_types = library.FIELD_TYPES

    def __init__(self, name: str | None = None) -> None:
        # Named, not by its module (beets' default): the class lives in ``plugin``.
        super().__init__(name or "genrescore")
        self.config.add(DEFAULTS)
        for field, descriptor in tags.media_fields().items():
            # MediaFile refuses a second registration; a process may build the plugin twice.
            if field not in vars(MediaFile):
                self.add_media_field(field, descriptor)
        self._settings: Settings | None = None
        self._import_run: Any = None
        self._previous_handlers: Any = None
        self._file_writes = _FileWrites()
        if self.config["auto"].get():
            self.import_stages = [self.import_stage]
            self.register_listener("import_begin", self.import_begin)
            self.register_listener("import_task_files", self.import_task_files)
            self.register_listener("import", self.import_end)

    @property
    def settings(self) -> Settings:
        """The validated settings, read once; a bad value stops the command."""
        if self._settings is None:
            try:
                self._settings = read_settings(self.config)
            except ConfigError as exc:
                raise UserError(str(exc)) from exc
        return self._settings

    def commands(self) -> list[Subcommand]:
        from .command import make_command

        command = make_command(lambda: self.settings, self._log)
        command.func = exit_on_terminate(command.func)
        return [command]

    # Import integration: the stage analyses (items are in the DB, files not yet written);
    # beets writes the tags of applied matches itself, and import_task_files writes the
    # as-is ones, which beets would leave untouched.

    def _run(self, tracks: int | None = None) -> Any:
        if self._import_run is None:
            from .run import Run, RunOptions

            try:
                self._import_run = Run(self.settings, self._log, RunOptions(), tracks=tracks)
            except ConfigError as exc:  # device: cuda on a machine without one
                raise UserError(str(exc)) from exc
        return self._import_run

    def import_begin(self, session: Any) -> None:
        from .run import source_files

        self._import_run = None
        try:
            files = list(source_files(session.paths or []))  # a walk: no file is opened
        except Exception:  # a count for the plan, never a reason to stop the import
            self._log.debug("listing the files to import failed:\n{}", traceback.format_exc())
            files = []
        # Validates the settings before any file is touched; planned for that many tracks
        # (one track: the models run here, so the fork server does not import them).
        run = self._run(len(files) or None)
        self._catch_interrupt()
        try:
            if files:
                run.start()  # now: the fork server's imports overlap beets' lookups
            # beets skips files it cannot read without a word; say which and why.
            run.check_files(files)
        except Exception:  # a report, never a reason to stop the import
            self._log.debug("checking the files to import failed:\n{}", traceback.format_exc())

    def import_end(self, lib: Any, paths: Any) -> None:
        self._release_interrupt()
        if self._import_run is not None:
            self._import_run.close()
            # Listeners log at WARNING and up by default: the summary must show without -v.
            self._log.warning("{}", self._import_run.counts.summary())

    def import_stage(self, session: Any, task: Any) -> None:
        # Never raises into beets: an exception here would stop the import with its items
        # in the library but not yet copied or moved. Items that could not be analysed are
        # imported as if the plugin were not there.
        try:
            run = self._run()
            run.process(task.imported_items())
            if task.is_album and getattr(task, "album", None) is not None:
                run.update_album(task.album)
        except Exception as exc:
            self._log.error(
                "could not analyse {}: {}: {}; its files are imported without genrescore's "
                "fields (details with -v)",
                _describe(task),
                type(exc).__name__,
                exc,
            )
            self._log.debug("{}", traceback.format_exc())

    def import_task_files(self, session: Any, task: Any) -> None:
        if not beets_config["import"]["write"].get(bool):
            return
        written = 0
        for item in task.imported_items():
            if not item.get(library.GENRE):
                continue
            if task.apply or task.choice_flag == Action.RETAG:
                written += 1  # beets has just written these files, our fields included
                continue
            try:
                self._run().write_imported(item)  # checked, verified and counted
            except Exception as exc:
                self._log.error("{}: cannot write tags: {}", display_path(item.path), exc)
        if self._import_run is not None:
            self._import_run.counts.written += written

    # beets swallows Ctrl-C and exits 0, so a script cannot tell an interrupted import from
    # a finished one. While an import runs, the first Ctrl-C stops the analysis after the
    # file being stored, says so, and exits with status 130 (128 + SIGINT); SIGTERM the
    # same way, with 143.

    def _catch_interrupt(self) -> None:
        self._release_interrupt()
        if threading.current_thread() is threading.main_thread():
            self._previous_handlers = {
                sig: signal.signal(sig, self._interrupted)
                for sig in (signal.SIGINT, signal.SIGTERM)
            }

    def _release_interrupt(self) -> None:
        previous, self._previous_handlers = self._previous_handlers, None
        for sig, handler in (previous or {}).items():
            if signal.getsignal(sig) == self._interrupted:
                signal.signal(sig, handler)

    def _interrupted(self, signum: int, frame: Any) -> None:
        self._release_interrupt()
        run = self._import_run
        if run is not None:
            run.stopping = True
            self._log.warning("{}", run.interrupted("the import"))
            self._log.warning("{}", run.counts.summary())
        raise SystemExit(TERMINATED_STATUS if signum == signal.SIGTERM else INTERRUPTED_STATUS)
