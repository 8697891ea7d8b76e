"""Tag writes that cannot harm a file (issue 20): damaged containers refused, audio checked
after the write, owner and mode kept, unwritable files keeping their analysis, SIGTERM
handled like Ctrl-C, and the temporary copies a killed run left removed by the next one."""

from __future__ import annotations

import fcntl
import grp
import logging
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import soundfile
from beets.library import Item
from mediafile import MediaFile

from beetsplug.genrescore import containers, writing
from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.errors import ContainerDamaged, TagWriteError

from .audio_files import ENCODERS, copy, pcm
from .damage import cut_tail
from .test_pipeline import _STOP_MIDWAY, STOP_AT, _fields
from .test_plugin import HEURISTICS_ONLY, GenrescoreTestHelper, messages

#: Every format the README lists, with the ffmpeg arguments that encode it.
FAMILIES = {
    **ENCODERS,
    # moov first (faststart): a cut then loses audio, not the index, and a tag write moves
    # the audio, so the chunk offsets must follow it.
    "m4a": [*ENCODERS["m4a"], "-movflags", "+faststart"],
    "aiff": ["-c:a", "pcm_s16be"],
}


#: A POSIX access ACL (``user::rw-,user:daemon:rw-,group::r--,mask::r--,other::---``, mode
#: 0640) in the kernel's xattr encoding: version 2, then (tag, permissions, id) entries.
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, permissions, qualifier)
    for tag, permissions, qualifier in [
        (0x01, 6, 0xFFFFFFFF),  # the owner
        (0x02, 6, 1),  # user daemon
        (0x04, 4, 0xFFFFFFFF),  # the group
        (0x10, 4, 0xFFFFFFFF),  # the mask
        (0x20, 0, 0xFFFFFFFF),  # others
    ]
)


def _encode(path: Path, seconds: float = 6.0, style: str = "rock") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.with_name(path.name + ".src.wav")
    soundfile.write(source, synth.STYLES[style](seconds), synth.SR)
    fmt = path.suffix.lstrip(".")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), *FAMILIES[fmt],
         "-metadata", f"title={path.stem}", "-metadata", "artist=Synth Band", str(path)],
        check=True,
    )  # fmt: skip
    source.unlink()
    return path


@pytest.fixture(scope="module")
def family_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("families")
    return {fmt: _encode(folder / f"good.{fmt}") for fmt in FAMILIES}


# -- the container check and the audio digest ------------------------------------------------


@pytest.mark.parametrize("fmt", FAMILIES)
def test_every_family_is_read_and_a_cut_copy_refused(
    family_sources: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    good = containers.read_audio(family_sources[fmt])
    assert good is not None
    assert 0 < good.size <= family_sources[fmt].stat().st_size
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(cut_tail(family_sources[fmt].read_bytes()))
    if fmt == "flac":  # whole metadata, frames cut: only decoding the end tells
        with pytest.raises(TagWriteError, match="not written: truncated container"):
            writing._audio(os.fsencode(cut), os.fsencode(cut))
        return
    with pytest.raises(ContainerDamaged, match="truncated container"):
        containers.read_audio(cut)


def _wav(samples: bytes, *, declared_data: int | None = None, pad: bool = True) -> bytes:
    """An 8-bit mono WAV built by hand, its sizes as given."""
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    size = len(samples) if declared_data is None else declared_data
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
    body += struct.pack("<I", size) + samples
    riff = len(body) + (len(samples) & 1)  # the pad byte an odd chunk is owed
    return b"RIFF" + struct.pack("<I", riff) + body + (b"\x80" if pad and len(samples) & 1 else b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_wav(bytes(8001)), None),
        (_wav(bytes(8001), pad=False), None),  # a writer that left the pad byte out: fine
        (_wav(bytes(8000))[:-619], "the WAV header declares 8,044 bytes, the file holds 7,425"),
        (_wav(bytes(8000), declared_data=9000), "the WAV data chunk declares 9,000 bytes"),
    ],
    ids=["odd", "no-pad", "cut", "data-size-lie"],
)
def test_wav_sizes(tmp_path: Path, data: bytes, reason: str | None) -> None:
    path = tmp_path / "hand.wav"
    path.write_bytes(data)
    if reason is None:
        found = containers.read_audio(path)
        assert found is not None
        assert found.kind == "WAV"
    else:
        with pytest.raises(ContainerDamaged, match=f"truncated container: {reason}"):
            containers.read_audio(path)


# -- the real command on every family --------------------------------------------------------


class TestWrites(GenrescoreTestHelper):
    DEFAULTS: ClassVar[dict[str, Any]] = {**HEURISTICS_ONLY, "jobs": 0}

    def add(self, path: Path, name: str | None = None) -> Item:
        item = Item.from_path(copy(path, self.lib_path / (name or path.name)))
        item.add(self.lib)
        return item

    def write(self, caplog: pytest.LogCaptureFixture, *args: str) -> str:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            self.run_command("genrescore", "-w", *args)
        return messages(caplog)

    @pytest.mark.parametrize("fmt", FAMILIES)
    def test_an_intact_file_is_written_with_its_audio_unchanged(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture, fmt: str
    ) -> None:
        item = self.add(family_sources[fmt])
        path = Path(item.filepath)
        before = pcm(path)
        self.configure()
        sizes = []
        for _ in range(3):
            log = self.write(caplog, "-f")
            assert "written 1" in log, log
            sizes.append(path.stat().st_size)
        item.load()
        assert MediaFile(path).genrescore_genre == item.genrescore_genre != ""
        assert pcm(path) == before  # decoded by ffmpeg, not by the check under test
        assert sizes[1] == sizes[2]  # the tag block does not grow from run to run
        assert "genrescore_unwritten" not in item

    @pytest.mark.parametrize("fmt", FAMILIES)
    def test_a_truncated_file_is_never_written(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture, fmt: str
    ) -> None:
        item = self.add(family_sources[fmt])
        path = Path(item.filepath)
        path.write_bytes(cut_tail(path.read_bytes()))
        before = path.read_bytes()
        self.configure()
        for _ in range(3):
            log = self.write(caplog, "-f")
            assert f"{path}: not written: truncated container" in log, log
            assert "written 0" in log
            assert "1 file not written" in log
            assert path.read_bytes() == before
        item.load()
        assert item.genrescore_genre  # analysed and stored all the same
        assert item.get("genrescore_unwritten") == "not written"
        assert not list(self.lib_path.glob(".*genrescore-tmp*"))

    def test_a_write_that_changes_the_audio_is_discarded(
        self, family_sources: dict[str, Path]
    ) -> None:
        # No known writer damages a consistent container: this one stands in for one that
        # would (mutagen's WAV writer did, on a cut file), flipping a byte of the data chunk.
        class DamagingItem(Item):  # type: ignore[misc]
            def write(self, path: Any = None, **kwargs: Any) -> None:
                super().write(path=path, **kwargs)
                with open(path, "r+b") as handle:
                    handle.seek(1000)  # in the data chunk (the ID3 chunk goes at the end)
                    byte = handle.read(1)
                    handle.seek(1000)
                    handle.write(bytes([byte[0] ^ 0xFF]))

        self.configure()
        item = self.add(family_sources["wav"])
        before = Path(item.filepath).read_bytes()
        damaging = DamagingItem.from_path(item.path)
        damaging.genrescore_genre = "Rock"
        with pytest.raises(TagWriteError, match="would change its audio"):
            writing.write_item(damaging)
        assert Path(item.filepath).read_bytes() == before
        assert not list(self.lib_path.glob(".*genrescore-tmp*"))

    @pytest.mark.parametrize("damaged", [False, True], ids=["intact", "cut"])
    def test_a_hard_linked_file_is_written_in_place_once_checked(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture, damaged: bool
    ) -> None:
        item = self.add(family_sources["wav"])
        path = Path(item.filepath)
        if damaged:
            path.write_bytes(cut_tail(path.read_bytes()))
        other = self.lib_path / "other-name.wav"
        os.link(path, other)
        before, inode = path.read_bytes(), path.stat().st_ino
        self.configure()
        log = self.write(caplog)
        assert path.stat().st_ino == inode == other.stat().st_ino  # still one file
        if damaged:
            assert f"{path}: not written: truncated container" in log
            assert path.read_bytes() == before
        else:
            assert "written 1" in log
            assert MediaFile(other).genrescore_genre
            assert pcm(other) == pcm(family_sources["wav"])
        assert not list(self.lib_path.glob(".*genrescore-tmp*"))

    def test_owner_group_mode_xattrs_and_acl_survive_a_write(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        shared = self.lib_path / "shared"
        shared.mkdir()
        staff = grp.getgrnam("staff").gr_gid
        os.chown(shared, 0, staff)
        shared.chmod(0o2775)  # setgid: new files take the folder's group, not the file's
        item = self.add(family_sources["flac"], "shared/song.flac")
        path = Path(item.filepath)
        nobody, nogroup = 65534, grp.getgrnam("nogroup").gr_gid
        os.chown(path, nobody, nogroup)
        path.chmod(0o640)
        os.setxattr(path, "user.origin", b"ripped")
        os.setxattr(path, "system.posix_acl_access", ACL)
        inode = path.stat().st_ino
        self.configure()
        assert "written 1" in self.write(caplog)
        info = path.stat()
        assert info.st_ino != inode  # replaced by the written copy
        assert (info.st_uid, info.st_gid) == (nobody, nogroup)
        assert oct(info.st_mode & 0o7777) == oct(0o640)
        assert os.getxattr(path, "user.origin") == b"ripped"
        assert os.getxattr(path, "system.posix_acl_access") == ACL
        assert MediaFile(path).genrescore_genre

    def test_a_read_only_folder_keeps_the_analysis_and_says_so_once(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        # Root writes through permission bits: an immutable folder (chattr +i) fails the
        # write the way a read-only mount does (EPERM/EROFS when the copy is made).
        locked = self.lib_path / "locked"
        items = [self.add(family_sources[fmt], f"locked/a.{fmt}") for fmt in ("mp3", "ogg")]
        before = {fmt: (locked / f"a.{fmt}").read_bytes() for fmt in ("mp3", "ogg")}
        subprocess.run(["chattr", "+i", str(locked)], check=True)
        self.configure()
        try:
            log = self.write(caplog)
            for item in items:
                assert f"{item.filepath}: cannot write tags: the folder is read-only" in log
            assert "analysed 2, skipped 0, failed 0, written 0" in log
            assert "2 files could not be written (read-only)" in log
            for item in items:
                item.load()
                assert item.get("genrescore_fingerprint")
                assert item.get("genrescore_unwritten") == "read-only"
            log = self.write(caplog)
            assert "analysed 0, skipped 2, failed 0, written 0" in log
            assert log.count("2 files could not be written (read-only)") == 1
            assert "cannot write tags" not in log
        finally:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        for fmt, data in before.items():
            assert (locked / f"a.{fmt}").read_bytes() == data
        log = self.write(caplog)
        assert "analysed 0, skipped 2, failed 0, written 2" in log

    def test_a_leftover_copy_is_removed_and_a_live_one_kept(
        self, family_sources: dict[str, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        self.add(family_sources["ogg"], "song.ogg")
        stale = self.lib_path / ".song.genrescore-tmp-ab12cd34.ogg"
        live = self.lib_path / ".song.genrescore-tmp-zz99yy88.ogg"
        mine = self.lib_path / ".song.not-ours-tmp-ab12cd34.ogg"
        for path in (stale, live, mine):
            shutil.copyfile(family_sources["ogg"], path)
        self.configure()
        with open(live, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # another run is writing it right now
            log = self.write(caplog)
        assert f"{stale}: removed, left by an interrupted run" in log
        assert not stale.exists()
        assert live.exists()
        assert mine.exists()


# -- the issue's own case, through the real `beet`: a cut WAV, imported, written 3 times ------


def _beet(
    tmp_path: Path, *, write: bool, auto: bool = True
) -> tuple[list[str], dict[str, str], Path]:
    db = tmp_path / "library.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"directory: {tmp_path / 'music'}\nlibrary: {db}\nplugins: [genrescore]\n"
        f"import: {{copy: no, write: {'yes' if write else 'no'}, autotag: no, log: null}}\n"
        f"genrescore: {{auto: {'yes' if auto else 'no'}, jobs: 2, "
        "models: {genre: none, instruments: none}}\n"
    )
    env = {**os.environ, "BEETSDIR": str(tmp_path)}
    return [sys.executable, "-m", "beets", "-c", str(config)], env, db


def test_the_issues_truncated_wav_is_never_written(
    family_sources: dict[str, Path], tmp_path: Path
) -> None:
    wav = tmp_path / "music" / "cut.wav"
    wav.parent.mkdir()
    wav.write_bytes(cut_tail(family_sources["wav"].read_bytes()))  # `head -c` of a WAV
    before = wav.read_bytes()
    beet, env, _ = _beet(tmp_path, write=True)
    imported = subprocess.run(
        [*beet, "import", "-A", "-q", str(wav.parent)], env=env, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr
    assert f"{wav}: not written: truncated container: the WAV header declares" in imported.stderr
    for _ in range(3):
        run = subprocess.run(
            [*beet, "genrescore", "-f", "-w"], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert f"{wav}: not written: truncated container" in run.stderr
        assert "analysed 1, skipped 0, failed 0, written 0" in run.stderr
        assert wav.read_bytes() == before  # size and audio: not a byte changed


# -- SIGTERM and the copies a killed run leaves ----------------------------------------------


def _library(tmp_path: Path, sources: list[Path]) -> tuple[list[str], dict[str, str], Path]:
    music = tmp_path / "music"
    for i in range(24):
        copy(sources[i % len(sources)], music / f"{i:02d}{sources[i % len(sources)].suffix}")
    beet, env, db = _beet(tmp_path, write=False, auto=False)
    subprocess.run([*beet, "import", "-q", str(music)], check=True, env=env, capture_output=True)
    return beet, env, db


def _session_processes(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:
                found.append(int(entry.name))
    return found


def test_sigterm_stops_like_ctrl_c_and_leaves_nothing_behind(
    family_sources: dict[str, Path], tmp_path: Path
) -> None:
    sources = [family_sources[fmt] for fmt in ("flac", "ogg", "mp3")]
    _, env, db = _library(tmp_path, sources)
    # The signal comes from inside, while the STOP_AT-th track's tags are written: the same
    # point on a fast machine and a slow one.
    stopping = _STOP_MIDWAY.format(stop=STOP_AT, sig=int(signal.SIGTERM))
    first = subprocess.Popen(
        [sys.executable, "-c", stopping, "-c", str(tmp_path / "config.yaml"), "genrescore", "-w"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own session: every process it starts can be found
    )
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 143, stderr
    assert "interrupted:" in stderr
    assert "genrescore: analysed " in stderr  # the summary
    assert "leaked semaphore" not in stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 30  # the fork server leaves when its pipe closes
    while _session_processes(first.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(first.pid) == []  # no worker, fork server or tracker left
    assert not list((tmp_path / "music").glob(".*genrescore-tmp*"))
    done = {k for k, f in _fields(db).items() if "genrescore_fingerprint" in f}
    assert len(done) == STOP_AT  # the track being written when it came was finished


# Killed (-9) while mutagen writes into the STOP_AT-th track's copy: the copy stays behind.
_KILLED_IN_THE_COPY = """
import os, sys, signal
from beets.ui import main
import mediafile
save, saved = mediafile.MediaFile.save, []
def killed_midway(self, **kwargs):
    saved.append(self)
    if len(saved) == {stop}:
        os.kill(os.getpid(), signal.SIGKILL)
    return save(self, **kwargs)
mediafile.MediaFile.save = killed_midway
main(sys.argv[1:])
"""


def test_the_copy_a_killed_write_leaves_is_removed_by_the_next_run(
    family_sources: dict[str, Path], tmp_path: Path
) -> None:
    beet, env, db = _library(tmp_path, [family_sources["flac"]])
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_THE_COPY.format(stop=STOP_AT),
         "-c", str(tmp_path / "config.yaml"), "genrescore", "-w"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    music = tmp_path / "music"
    left = list(music.glob(".*.genrescore-tmp-*.flac"))
    assert len(left) == 1  # what issue 20 found in 1 of 20 SIGTERMs
    second = subprocess.run(
        [*beet, "-v", "genrescore", "-w"], env=env, capture_output=True, text=True, check=True
    )
    assert f"{left[0]}: removed, left by an interrupted run" in second.stderr
    assert not list(music.glob(".*genrescore-tmp*"))
    assert sum("genrescore_fingerprint" in f for f in _fields(db).values()) == 24
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 24
