"""genrescore: listen to each track and write its genre.

A hybrid ensemble of a genre classifier, an instrument tagger whose instruments boost genres,
and audio heuristics. This module is the thin beets glue: defaults, field types, media
fields, import hooks and the command. Heavy libraries (torch, transformers, librosa) are
imported only when a run starts, so ``beet ls`` never pays for them.
"""

from __future__ import annotations

from typing import Any

from beets import config as beets_config
from beets.exceptions import UserError
from beets.importer import Action
from beets.plugins import BeetsPlugin
from beets.ui import Subcommand
from mediafile import MediaFile

from . import library, tags
from .errors import ConfigError
from .forkserver import start_early
from .settings import DEFAULTS, Settings, read_settings


class GenreScorePlugin(BeetsPlugin):
    """Detect genres and instruments from the audio of each track."""

    item_types = library.FIELD_TYPES
    album_types = library.FIELD_TYPES

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.config.add(DEFAULTS)
        for field, descriptor in tags.media_fields().items():
            # MediaFile refuses a second registration; a process may build the plugin twice.
            if field not in vars(MediaFile):
                self.add_media_field(field, descriptor)
        self._settings: Settings | None = None
        self._import_run: Any = None
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

        return [make_command(lambda: self.settings, self._log)]

    # Import integration: the stage analyses (items are in the DB, files not yet written);
    # beets writes the tags of applied matches itself, and import_task_files writes the
    # as-is ones, which beets would leave untouched.

    def _run(self) -> Any:
        if self._import_run is None:
            from .run import Run, RunOptions

            self._import_run = Run(self.settings, self._log, RunOptions())
        return self._import_run

    def import_begin(self, session: Any) -> None:
        self._import_run = None
        start_early(self.settings)  # the workers' imports overlap beets' first lookups
        run = self._run()  # validates the settings before any file is touched
        # beets skips files it cannot identify without a word; say which and why.
        run.check_sources(session.paths or [])

    def import_end(self, lib: Any, paths: Any) -> None:
        if self._import_run is not None:
            self._import_run.close()
            self._log.info("{}", self._import_run.counts.summary())

    def import_stage(self, session: Any, task: Any) -> None:
        run = self._run()
        run.process(task.imported_items())
        if task.is_album and getattr(task, "album", None) is not None:
            run.update_album(task.album)

    def import_task_files(self, session: Any, task: Any) -> None:
        if not beets_config["import"]["write"].get(bool):
            return
        if task.apply or task.choice_flag == Action.RETAG:
            return  # beets has just written these files, our fields included
        for item in task.imported_items():
            if item.get(library.GENRE):
                item.try_write()
