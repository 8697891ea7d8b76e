"""A full disk under the library database stops the command with one line (issue 20).

The disk fills for real as far as SQLite can tell: ``PRAGMA max_page_count`` caps the
database file, and SQLite answers a write past it with SQLITE_FULL, "database or disk is
full", the error a full disk gives.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.library import Item
from beets.ui import UserError

from beetsplug.genrescore import library
from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring.ensemble import EnsembleConfig, blend
from beetsplug.genrescore.selection import CHUNK

from .evidence_fixtures import tracks
from .test_plugin import HEURISTICS_ONLY, GenrescoreTestHelper

STOPPED = re.compile(
    r"^genrescore: stopped: the library database .+ cannot grow \(database or disk is full\); "
    r"the (\d+) results? stored before it are kept, run the command again once there is room$"
)


class TestDiskFull(GenrescoreTestHelper):
    DEFAULTS: ClassVar[dict[str, Any]] = {**HEURISTICS_ONLY, "jobs": 0}

    def cap(self, spare_pages: int) -> None:
        """Let the database file grow by ``spare_pages`` pages at most."""
        connection = self.lib._connection()
        connection.execute("VACUUM")  # no free pages left inside the file
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + spare_pages}")

    def stopped(self, *args: str) -> int:
        with pytest.raises(UserError) as raised:
            self.run_command("genrescore", *args)
        message = str(raised.value)
        assert "\n" not in message
        match = STOPPED.match(message)
        assert match, message
        return int(match.group(1))

    def test_a_reblend_keeps_its_committed_chunks_and_no_half_item(self) -> None:
        self.configure(weights={"ml": 0.5, "instruments": 0.3, "heuristic": 0.2})
        default = EnsembleConfig()
        with self.lib.transaction():
            for n, track in enumerate(tracks(3 * CHUNK, seed=3)):
                text, read = codec.stored(track.evidence)
                item = Item(path=f"/gone/{n}.mp3", title=f"t{n}")
                item.update(library.decision_values(blend(read, default)))
                item[library.EVIDENCE] = text
                item[library.BLEND] = "old"
                item.add(self.lib)
        self.cap(spare_pages=90)  # a re-blended chunk takes about 60
        stored = self.stopped("--reblend")
        blends = [item.get(library.BLEND) for item in self.lib.items()]
        # Whole chunks or nothing: each item is either as it was or fully re-blended.
        assert stored % CHUNK == 0
        assert blends.count("old") == len(blends) - stored
        assert 0 < stored < len(blends)  # the cap lets some chunks in, not all

    def test_an_analysis_run_keeps_what_it_stored(
        self, audio_dir: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.configure()
        for n in range(4):
            for path in sorted(audio_dir.iterdir()):
                copy = self.lib_path / f"{n}-{path.name}"
                shutil.copy(path, copy)
                Item.from_path(copy).add(self.lib)
        self.cap(spare_pages=3)
        with caplog.at_level(logging.INFO):
            stored = self.stopped()
        analysed = [item for item in self.lib.items() if item.get(library.GENRE)]
        assert len(analysed) == stored
        assert 0 < stored < len(self.lib.items())
        for item in analysed:  # stored whole or not at all
            assert item.get(library.FINGERPRINT)
            assert item.get(library.EVIDENCE)
        assert not any("Traceback" in record.getMessage() for record in caplog.records)
