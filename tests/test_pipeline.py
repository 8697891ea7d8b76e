"""Whole-library runs: the worker pool, crashes, interruption and resume, odd files."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import confuse
import pytest
from beets.library import Item
from mediafile import MediaFile

from beetsplug.genrescore.analyzer import Analyzer, load_models
from beetsplug.genrescore.engine import Engine
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import copy, track
from .crashers import crash_on_marker
from .interpreter import checkout_env
from .test_plugin import HEURISTICS_ONLY, GenrescoreTestHelper, messages

HEURISTIC_SETTINGS = read_settings(
    confuse.RootView([confuse.ConfigSource.of(HEURISTICS_ONLY), confuse.ConfigSource.of(DEFAULTS)])
)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(HEURISTIC_SETTINGS, load_models(HEURISTIC_SETTINGS, print))


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("pipeline")
    styles = ("techno", "rock", "hiphop", "classical")
    return [track(folder / f"{i:02d}.flac", styles[i % 4], 8.0) for i in range(6)]


EMBEDDED_SETTINGS = read_settings(
    confuse.RootView(
        [
            confuse.ConfigSource.of(
                {"models": {"genre": "musicnn-msd", "instruments": "musicnn-mtt"}}
            ),
            confuse.ConfigSource.of(DEFAULTS),
        ]
    )
)


@pytest.mark.parametrize("infer_in_workers", [True, False], ids=["models-in-workers", "batched"])
@pytest.mark.parametrize("models", ["heuristic", "embedded"])
def test_pool_and_inline_runs_give_the_same_results(
    analyzer: Analyzer, tracks: list[Path], models: str, infer_in_workers: bool
) -> None:
    # The models run in the workers (CPU) or batched in this process (GPU); either way a
    # track gets the genre the one-process path gives it.
    if models == "embedded":
        analyzer = Analyzer(EMBEDDED_SETTINGS, load_models(EMBEDDED_SETTINGS, print))
    work = [(path.name, str(path)) for path in tracks]
    inline = {d.key: d.result for d in Engine(analyzer, jobs=0).run(work)}
    engine = Engine(analyzer, jobs=2, batch_tracks=4, infer_in_workers=infer_in_workers)
    try:
        pooled = {d.key: d.result for d in engine.run(work)}
    finally:
        engine.close()
    assert inline.keys() == pooled.keys() == {path.name for path in tracks}
    for key, result in inline.items():
        assert result is not None
        other = pooled[key]
        assert other is not None
        assert other.method == result.method
        assert dict(other.decision.ranking) == pytest.approx(
            dict(result.decision.ranking), abs=1e-5
        )
        assert dict(other.decision.instruments) == pytest.approx(
            dict(result.decision.instruments), abs=1e-5
        )


@pytest.mark.parametrize(("count", "in_workers"), [(2, False), (3, True)])
def test_a_run_of_no_more_tracks_than_workers_runs_the_models_here(
    tracks: list[Path], count: int, in_workers: bool
) -> None:
    # Each worker would load the models for one track: they decode, this process infers.
    analyzer = Analyzer(EMBEDDED_SETTINGS, load_models(EMBEDDED_SETTINGS, print))
    work = [(path.name, str(path)) for path in tracks[:count]]
    inline = {d.key: d.result for d in Engine(analyzer, jobs=0).run(work)}
    engine = Engine(analyzer, jobs=2)
    try:
        pooled = {d.key: d.result for d in engine.run(work)}
    finally:
        engine.close()
    assert engine.infer_in_workers is in_workers
    assert pooled.keys() == inline.keys()
    for key, result in inline.items():
        assert result is not None
        other = pooled[key]
        assert other is not None
        assert dict(other.decision.ranking) == pytest.approx(
            dict(result.decision.ranking), abs=1e-5
        )


def test_workers_that_have_the_models_keep_them_for_a_short_run(tracks: list[Path]) -> None:
    # An import runs the engine once per album: a short album after a long one changes
    # nothing, a long one after a short one gives the workers the models.
    analyzer = Analyzer(EMBEDDED_SETTINGS, load_models(EMBEDDED_SETTINGS, print))
    engine = Engine(analyzer, jobs=2)
    modes = []
    try:
        for count in (1, 3, 1):
            work = [(path.name, str(path)) for path in tracks[:count]]
            assert all(d.result is not None for d in engine.run(work))
            modes.append(engine.infer_in_workers)
    finally:
        engine.close()
    assert modes == [False, True, True]


@pytest.mark.parametrize("infer_in_workers", [True, False], ids=["models-in-workers", "batched"])
def test_a_worker_that_crashes_costs_only_its_file(
    analyzer: Analyzer, tracks: list[Path], tmp_path: Path, infer_in_workers: bool
) -> None:
    crasher = copy(tracks[0], tmp_path / "CRASH.flac")
    work = [(p.name, str(p)) for p in tracks[:3]] + [("crash", str(crasher))]
    work += [(p.name, str(p)) for p in tracks[3:]]
    engine = Engine(
        analyzer, jobs=2, batch_tracks=3, decode=crash_on_marker, infer_in_workers=infer_in_workers
    )
    try:
        done = list(engine.run(work))
    finally:
        engine.close()
    by_key = {d.key: d for d in done}
    assert len(done) == len(work)  # every file exactly once
    assert by_key["crash"].error is not None
    assert "the decoder crashed on this file" in by_key["crash"].error.reason
    assert all(by_key[p.name].result is not None for p in tracks)


class TestLibraryRuns(GenrescoreTestHelper):
    DEFAULTS: ClassVar[dict[str, Any]] = {**HEURISTICS_ONLY, "jobs": 2}

    def add(self, paths: list[Path]) -> list[Item]:
        items = []
        for path in paths:
            item = Item.from_path(copy(path, self.lib_path / path.name))
            item.add(self.lib)
            items.append(item)
        return items

    def test_a_file_that_disappears_mid_run_is_reported_and_the_rest_goes_on(
        self, tracks: list[Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        # 16 items: the engine holds at most 2 workers x 2 + 8 in flight, so the last file is
        # not opened before the first result is stored; that is when it disappears.
        paths = [
            copy(tracks[i % len(tracks)], self.temp_path / "src" / f"{i:02d}.flac")
            for i in range(16)
        ]
        items = self.add(paths)
        victim = Path(items[-1].filepath)
        self.configure()

        from beetsplug.genrescore import run as run_module

        original = run_module.Run.apply

        def apply_then_delete(run: Any, item: Any, result: Any, fingerprint: str) -> None:
            original(run, item, result, fingerprint)
            if victim.exists():
                victim.unlink()

        run_module.Run.apply = apply_then_delete  # type: ignore[method-assign]
        try:
            with caplog.at_level("INFO"):
                self.run_command("genrescore")
        finally:
            run_module.Run.apply = original  # type: ignore[method-assign]
        assert f"{victim}: file not found" in messages(caplog)
        assert "analysed 15, skipped 0, failed 1" in messages(caplog)

    def test_two_files_with_the_same_content_are_both_analysed(self, tracks: list[Path]) -> None:
        twin = copy(tracks[1], self.temp_path / "twin.flac")
        items = self.add([tracks[1], twin])
        self.configure()
        self.run_command("genrescore")
        for item in items:
            item.load()
        assert items[0].genrescore_genre == items[1].genrescore_genre != ""
        assert items[0].genrescore_scores == items[1].genrescore_scores

    def test_a_read_only_file_keeps_its_bytes_and_its_analysis(
        self, tracks: list[Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        writable, locked = self.add([tracks[0], tracks[2]])
        Path(locked.filepath).chmod(0o444)
        before = Path(locked.filepath).read_bytes()
        self.configure()
        try:
            with caplog.at_level("INFO"):
                self.run_command("genrescore", "-w")
            log = messages(caplog)
            assert f"{locked.filepath}: cannot write tags: the file is read-only" in log
            assert "analysed 2, skipped 0, failed 0, written 1" in log
            assert "1 file could not be written (read-only)" in log
            # The rule (issue 20): the values and the fingerprint reach the database, the
            # file is untouched and marked, and the next run does not analyse it again.
            locked.load()
            assert locked.genrescore_genre
            assert locked.get("genrescore_fingerprint")
            assert locked.get("genrescore_unwritten") == "read-only"
            assert Path(locked.filepath).read_bytes() == before
            writable.load()
            assert MediaFile(writable.filepath).genrescore_genre == writable.genrescore_genre
            caplog.clear()
            with caplog.at_level("INFO"):
                self.run_command("genrescore", "-w")
            log = messages(caplog)
            assert "analysed 0, skipped 2, failed 0, written 0" in log
            assert "1 file could not be written (read-only)" in log
            assert "cannot write tags" not in log  # said once, in the summary
            # Writable again: the next run writes the stored result, still without analysis.
            Path(locked.filepath).chmod(0o644)
            caplog.clear()
            with caplog.at_level("INFO"):
                self.run_command("genrescore", "-w")
            assert "analysed 0, skipped 2, failed 0, written 1" in messages(caplog)
            locked.load()
            assert "genrescore_unwritten" not in locked
            assert MediaFile(locked.filepath).genrescore_genre == locked.genrescore_genre
        finally:
            Path(locked.filepath).chmod(0o644)

    def test_atomic_write_leaves_no_temporary_file(self, tracks: list[Path]) -> None:
        self.add(tracks[:2])
        self.configure()
        self.run_command("genrescore", "-w")
        assert sorted(p.name for p in self.lib_path.iterdir()) == sorted(p.name for p in tracks[:2])


def _fields(db: Path) -> dict[int, dict[str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT entity_id, key, value FROM item_attributes WHERE key LIKE 'genrescore_%'"
        ).fetchall()
    out: dict[int, dict[str, str]] = {}
    for entity, key, value in rows:
        if value:  # importing stores the (empty) media fields of untagged files too
            out.setdefault(entity, {})[key] = value
    return out


#: The track during whose tag write the interrupted run gets its signal.
STOP_AT = 4

# The real `beet` command, made to signal itself while it writes the STOP_AT-th track's tags:
# the signal lands at the same point on a fast machine and a slow one, where a signal sent
# from outside once enough tracks were seen stored could come after the run had finished.
_STOP_MIDWAY = """
import os, signal, sys
from beets.ui import main
# As in a terminal, where Ctrl-C is live: a runner started in the background (nohup, &)
# passes SIGINT on ignored, and an ignored Ctrl-C rightly stops nothing.
signal.signal(signal.SIGINT, signal.default_int_handler)
from beetsplug.genrescore import writing
write_item, written = writing.write_item, []
def stop_midway(item):
    written.append(item)
    if len(written) == {stop}:
        os.kill(os.getpid(), {sig})
    return write_item(item)
writing.write_item = stop_midway
main(sys.argv[1:])
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_interrupt_then_resume_analyses_every_item_exactly_once(
    tmp_path: Path, tracks: list[Path], sig: signal.Signals
) -> None:
    """The real `beet` command in its own process, stopped mid-run, then run again."""
    music = tmp_path / "music"
    sources = [copy(tracks[i % len(tracks)], music / f"{i:02d}.flac") for i in range(24)]
    db = tmp_path / "library.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"directory: {music}\nlibrary: {db}\nplugins: [genrescore]\n"
        "import: {copy: no, write: no, autotag: no, log: null}\n"
        "genrescore: {auto: no, jobs: 1, models: {genre: none, instruments: none}}\n"
    )
    env = checkout_env(BEETSDIR=str(tmp_path))
    beet = [sys.executable, "-m", "beets", "-c", str(config)]
    subprocess.run([*beet, "import", "-q", str(music)], check=True, env=env, capture_output=True)

    stopping = _STOP_MIDWAY.format(stop=STOP_AT, sig=int(sig))
    first = subprocess.run(
        [sys.executable, "-c", stopping, "-c", str(config), "genrescore", "-w"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if sig == signal.SIGINT:
        assert "interrupted:" in first.stderr
        assert first.returncode == 130  # beets itself would exit 0
        # Ctrl-C waits until the track being written is stored.
        expected = STOP_AT
    else:
        assert first.returncode == -signal.SIGKILL
        # Killed before its tags were written: that track's values never reached the database.
        expected = STOP_AT - 1

    done_before = {k for k, f in _fields(db).items() if "genrescore_fingerprint" in f}
    assert len(done_before) == expected
    for fields in _fields(db).values():  # nothing half-stored
        if "genrescore_genre" in fields:
            assert {"genrescore_top3", "genrescore_fingerprint"} <= fields.keys()
    for path in sources:  # every file is whole and readable, tagged or not
        MediaFile(path)
    assert not list(music.glob(".*genrescore-tmp*")) or sig == signal.SIGKILL

    second = subprocess.run(
        [*beet, "genrescore", "-w"], env=env, capture_output=True, text=True, check=True
    )
    summary = second.stderr.strip().splitlines()[-1]
    assert (
        f"analysed {len(sources) - len(done_before)}, skipped {len(done_before)}, failed 0"
        in summary
    )
    assert sum("genrescore_fingerprint" in f for f in _fields(db).values()) == len(sources)
