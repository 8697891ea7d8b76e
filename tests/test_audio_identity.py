"""A stored result belongs to the audio it was analysed from (issue 20 item 3).

The fingerprint's audio identity comes from the file's content (size and sampled blocks),
not from what beets read of the stream: a song replaced at the same path by another of the
same format and duration is analysed again, and ``--reblend`` never blends its old evidence
into it. Tag writes keep the audio, so after one (ours or beets') the identity is taken
again and the next run skips the file.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest
from beets.library import Item
from mediafile import MediaFile

from beetsplug.genrescore import library
from beetsplug.genrescore.audio import IDENTITY_BLOCK, file_identity

from .audio_files import copy, track
from .test_plugin import HEURISTICS_ONLY, GenrescoreTestHelper, messages

SECONDS = 12.0


def test_the_identity_reads_three_blocks_and_sees_a_change_in_any(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = bytearray(os.urandom(10 * IDENTITY_BLOCK))
    path.write_bytes(data)
    first = file_identity(str(path))
    for offset in (0, len(data) // 2, len(data) - 1):  # start, middle, end block
        changed = bytearray(data)
        changed[offset] ^= 1
        path.write_bytes(changed)
        assert file_identity(str(path)) != first
    path.write_bytes(data + b"\0")  # the size
    assert file_identity(str(path)) != first
    path.write_bytes(b"tiny")  # a file smaller than a block
    assert len(file_identity(str(path))) == 16


class TestIdentity(GenrescoreTestHelper):
    DEFAULTS: ClassVar[dict[str, Any]] = {**HEURISTICS_ONLY, "jobs": 0}

    @pytest.fixture
    def songs(self, tmp_path: Path) -> tuple[Path, Path]:
        """Two songs of one format and duration: techno, then a fiddle reel."""
        return (
            track(tmp_path / "a.mp3", "techno", SECONDS, title="song"),
            track(tmp_path / "b.mp3", "reel", SECONDS, title="song"),
        )

    def add(self, source: Path) -> Item:
        item = Item.from_path(copy(source, self.lib_path / "song.mp3"))
        item.add(self.lib)
        return item

    def run(self, caplog: pytest.LogCaptureFixture, *args: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore", *args)
        return messages(caplog)

    def replace(self, item: Item, song: Path) -> None:
        """Another song at the same path, as a user or a sync tool puts it there."""
        shutil.copyfile(song, item.path)

    def test_a_replaced_song_is_analysed_again(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        techno, reel = songs
        item = self.add(techno)
        self.configure()
        assert "analysed 1," in self.run(caplog)
        item.load()
        before = (item[library.EVIDENCE], item[library.FINGERPRINT], item.genrescore_bpm)
        self.replace(item, reel)
        # What beets knows of the stream is the same: the old identity could not tell.
        assert library._legacy_identity(Item.from_path(item.path)) == library._legacy_identity(item)
        assert "analysed 1, skipped 0" in self.run(caplog)
        item.load()
        assert item[library.EVIDENCE] != before[0]
        assert item[library.FINGERPRINT] != before[1]
        assert item.genrescore_bpm != before[2]
        assert "analysed 0, skipped 1" in self.run(caplog)

    def test_reblend_does_not_write_old_evidence_into_a_replaced_file(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        techno, reel = songs
        item = self.add(techno)
        self.configure()
        self.run(caplog)
        item.load()
        stored = {key: item.get(key) for key in (library.GENRE, library.BLEND)}
        self.replace(item, reel)
        replaced = Path(os.fsdecode(item.path)).read_bytes()
        log = self.run(caplog, "--reblend", "-f", "-w")
        assert "the file changed since it was analysed; not re-blended" in log
        assert "1 file changed since analysed (run without --reblend)" in log
        assert Path(os.fsdecode(item.path)).read_bytes() == replaced  # nothing written
        assert MediaFile(item.path).genrescore_genre is None
        item.load()
        assert {key: item.get(key) for key in stored} == stored
        # The plain run then analyses the new song.
        assert "analysed 1," in self.run(caplog)

    def test_our_own_tag_write_does_not_look_like_a_new_song(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        item = self.add(songs[0])
        self.configure()
        before = Path(os.fsdecode(item.path)).read_bytes()
        assert "analysed 1, skipped 0, failed 0, written 1" in self.run(caplog, "-w")
        assert Path(os.fsdecode(item.path)).read_bytes() != before  # the tags are in
        assert "analysed 0, skipped 1" in self.run(caplog)
        # A re-blend that writes changes the bytes again: still the same song after it.
        self.configure(weights={"ml": 0.0, "heuristic": 1.0, "instruments": 0.0})
        log = self.run(caplog, "--reblend", "-f", "-w")
        assert "written 1, re-blended 1" in log
        assert "analysed 0, skipped 1" in self.run(caplog)

    def test_beets_own_writes_and_a_touch_keep_the_result(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        item = self.add(songs[0])
        self.configure()
        self.run(caplog)
        self.run_command("modify", "-y", "-w", "-M", "title=renamed")  # beets writes the file
        assert MediaFile(item.path).title == "renamed"
        assert "analysed 0, skipped 1" in self.run(caplog)
        os.utime(item.path)  # a new mtime, the same bytes
        assert "analysed 0, skipped 1" in self.run(caplog)

    def test_results_stored_before_the_identity_was_read_from_the_file_are_kept(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        item = self.add(songs[0])
        self.configure()
        self.run(caplog)
        item.load()
        # As an older release stored it: the identity from beets' stream fields, no stat.
        analysis = item[library.FINGERPRINT].rpartition("-")[0]
        item[library.FINGERPRINT] = f"{analysis}-{library._legacy_identity(item)}"
        del item[library.AUDIO_FILE]
        item.store()
        assert "analysed 0, skipped 1" in self.run(caplog)  # no whole-library re-analysis

    def test_a_missing_file_keeps_its_result(
        self, songs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        item = self.add(songs[0])
        self.configure()
        self.run(caplog)
        os.unlink(item.path)
        assert "analysed 0, skipped 1, failed 0" in self.run(caplog)
