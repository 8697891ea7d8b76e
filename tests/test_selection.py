"""The user's query runs once per command, whatever the library's size (selection.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.library import Album, Item
from beets.test.helper import PluginTestHelper

from beetsplug.genrescore import library, selection

#: More than two chunks' worth, so a query run per chunk would show.
ITEMS = 2 * selection.CHUNK + 150


class TestSelection(PluginTestHelper):
    plugin: ClassVar[str] = "genrescore"
    preload_plugin = False

    def populate(self) -> list[int]:
        """``ITEMS`` items; every seventh has the genre ``Polka`` (a flexible field, which
        beets tests in Python, row by row). Returns the Polka items' ids."""
        self.config["import"]["write"] = False
        self.load_plugins()
        polka = []
        with self.lib.transaction():
            for n in range(ITEMS):
                item = Item(path=f"/nowhere/{n}.mp3", title=f"t{n:05d}", album=f"a{n % 40}")
                item[library.GENRE] = "Polka" if n % 7 == 0 else "Rock"
                item.add(self.lib)
                if n % 7 == 0:
                    polka.append(item.id)
        return polka

    @contextmanager
    def full_scans(self) -> Iterator[list[str]]:
        """The statements that read the items table other than by id, while inside."""
        seen: list[str] = []

        def trace(sql: str) -> None:
            if sql.lstrip().startswith("SELECT items.*") and "id IN (" not in sql:
                seen.append(sql)

        connection = self.lib._connection()
        connection.set_trace_callback(trace)
        try:
            yield seen
        finally:
            connection.set_trace_callback(None)

    def test_chunks_are_the_query_in_its_order_read_once(self) -> None:
        polka = self.populate()
        query = [f"{library.GENRE}:Polka", "title-"]  # the user's sort is kept
        with self.full_scans() as scans:
            chunks = list(selection.chunks(self.lib, query, False))
        assert len(scans) == 1
        assert [len(chunk) for chunk in chunks] == [len(polka)]  # 179 ids: one chunk
        assert [item.id for item in chunks[0]] == sorted(polka, reverse=True)

        everything = list(selection.chunks(self.lib, [], False))
        assert [len(c) for c in everything] == [selection.CHUNK, selection.CHUNK, 150]
        assert all(isinstance(item, Item) for chunk in everything for item in chunk)

    def test_albums_by_id(self) -> None:
        self.populate()
        albums = list(self.lib.items(["album:a1"]))
        album = self.lib.add_album(albums)
        chunks = list(selection.chunks(self.lib, [f"album:{album.album}"], True))
        assert [[a.id for a in chunk] for chunk in chunks] == [[album.id]]
        assert isinstance(chunks[0][0], Album)

    @pytest.mark.parametrize(
        "options",
        [(), ("--reblend",), ("--evaluate",), ("--tune",), ("--html", "{tmp}/report.html")],
        ids=["run", "reblend", "evaluate", "tune", "html"],
    )
    def test_each_command_runs_the_query_once(
        self,
        options: tuple[str, ...],
        caplog: pytest.LogCaptureFixture,
        capsys: Any,
        tmp_path: Path,
    ) -> None:
        options = tuple(option.format(tmp=tmp_path) for option in options)
        self.populate()
        with self.full_scans() as scans, caplog.at_level(logging.INFO):
            # Nothing analysed: the Polka items have no file, and no fingerprint either;
            # they fail as missing, which takes no model.
            self.run_command("genrescore", *options, f"{library.GENRE}:Polka")
        assert len(scans) == 1, scans
