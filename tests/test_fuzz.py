"""One bad file never stops a run: damaged and oddly named files through the real `beet`.

A seeded corpus (tests/damage.py) of 100+ damaged copies of the tests' own audio in every
supported format goes through the real importer (copying into the library) and the real
`beet genrescore` command, each in its own process as a user runs them. Every file must be
imported and analysed, or named in a message with its reason; the process must exit 0 with
no traceback, leave every damaged file's bytes alone and every item inside the library.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import confuse
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beetsplug.genrescore.analyzer import Analyzer, load_models
from beetsplug.genrescore.audio import load_windows
from beetsplug.genrescore.engine import Engine
from beetsplug.genrescore.errors import TrackError, display_path
from beetsplug.genrescore.run import check_importable
from beetsplug.genrescore.settings import DEFAULTS, read_settings

from .audio_files import copy, pcm
from .damage import FORMATS, container_corpus, corpus, flip, zero
from .test_plugin import HEURISTICS_ONLY

# -- the decoder on arbitrary damage (hypothesis) ---------------------------------------------

DAMAGE = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("zero"), st.integers(0, 10**6), st.integers(1, 8192)),
    st.tuples(st.just("splice"), st.integers(0, 10**6), st.integers(1, 8192)),
)


def damage(data: bytes, op: tuple[str, int, int]) -> bytes:
    kind, at, size = op
    at %= max(1, len(data))
    if kind == "flip":
        return flip(data, random.Random(at), at, min(len(data), at + 256), size)
    if kind == "cut":
        return data[:at]
    if kind == "zero":
        return zero(data, at, size)
    return data[:at] + data[at + size : at + 2 * size] + data[at:]  # a duplicated stretch


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_decoder_raises_only_its_own_errors_on_any_damage(
    format_sources: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    good = format_sources[fmt].read_bytes()

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(ops=st.lists(DAMAGE, min_size=1, max_size=3), name=st.sampled_from(["a", "b\n\xff"]))
    def check(ops: list[tuple[str, int, int]], name: str) -> None:
        data = good
        for op in ops:
            data = damage(data, op)
        path = os.path.join(os.fsencode(tmp_path), os.fsencode(name) + f".{fmt}".encode())
        with open(path, "wb") as handle:
            handle.write(data)
        error: TrackError | None = None
        try:
            load_windows(os.fsdecode(path), rates=[22050, 16000], count=3, seconds=3.0,
                         min_seconds=1.0)  # fmt: skip
        except TrackError as exc:  # anything else fails the test
            error = exc
        if error is not None:
            assert error.reason
            assert "\n" not in display_path(error.path)

    check()


def test_the_decoder_refuses_arbitrary_bytes_with_its_own_errors(tmp_path: Path) -> None:
    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(data=st.binary(max_size=2048), fmt=st.sampled_from([*FORMATS, "aac", "wma"]))
    def check(data: bytes, fmt: str) -> None:
        path = tmp_path / f"any.{fmt}"
        path.write_bytes(data)
        with pytest.raises(TrackError):
            load_windows(str(path), rates=[22050], count=1, seconds=3.0, min_seconds=1.0)

    check()


# -- the whole corpus through the real beet ----------------------------------------------------


def _digest(path: Path) -> str:
    if path.is_symlink() or path.stat().st_size > 100 * 1024**2:
        return f"{path.is_symlink()}:{os.lstat(path).st_size}:{os.lstat(path).st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _items(db: Path, library: Path) -> dict[bytes, dict[str, str]]:
    """Every item's absolute path -> its genrescore fields, straight from the database.

    beets stores the paths inside the library folder relative to it, the others absolute.
    """
    with sqlite3.connect(db) as conn:
        paths = dict(conn.execute("SELECT id, path FROM items").fetchall())
        rows = conn.execute(
            "SELECT entity_id, key, value FROM item_attributes WHERE key LIKE 'genrescore_%'"
        ).fetchall()
    fields: dict[int, dict[str, str]] = {entity: {} for entity in paths}
    for entity, key, value in rows:
        if value:
            fields[entity][key] = value
    return {
        os.path.join(os.fsencode(library), bytes(paths[entity])): values
        for entity, values in fields.items()
    }


def _genrescore_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("genrescore: ")]


def _named(lines: list[str], path: str | bytes) -> list[str]:
    shown = display_path(path)
    return [line for line in lines if line.startswith(f"genrescore: {shown}: ")]


@pytest.fixture(scope="module")
def damaged(format_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_damaged_files_never_stop_an_import_or_a_command(
    format_sources: dict[str, Path], damaged: Path
) -> None:
    variants = corpus(damaged / "incoming", format_sources)
    assert len(variants) >= 100
    assert {v.fmt for v in variants} == set(FORMATS)
    before = {v.path: _digest(v.path) for v in variants}
    library = damaged / "library"
    db = damaged / "library.db"
    config = damaged / "config.yaml"
    config.write_text(
        f"directory: {library}\nlibrary: {db}\nplugins: [genrescore]\n"
        "import: {copy: yes, write: yes, autotag: no, log: null, duplicate_action: keep}\n"
        "genrescore: {jobs: 2, models: {genre: none, instruments: none}}\n"
    )
    env = {**os.environ, "BEETSDIR": str(damaged)}
    beet = [sys.executable, "-m", "beets", "-c", str(config)]

    imported = subprocess.run(
        [*beet, "import", "-A", "-q", str(damaged / "incoming")],
        env=env,
        capture_output=True,
        text=True,
        errors="surrogateescape",
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert "Traceback" not in imported.stderr
    lines = _genrescore_lines(imported.stderr)
    summary = lines[-1]
    assert summary.startswith("genrescore: analysed ")
    assert "failed" in summary
    assert "details with -v" in summary

    items = _items(db, library)
    library_root = os.fsencode(library) + b"/"
    assert all(path.startswith(library_root) for path in items), "an item was left behind"
    analysed = {p for p, fields in items.items() if "genrescore_genre" in fields}
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for variant in variants:
        named = _named(lines, str(variant.path))
        assert len(named) <= 1, named  # one message per file, not one per step
        importable = _importable(variant.path)
        # beets drops the files mediafile cannot read without a word: each must be named.
        assert named or importable, f"{display_path(variant.path)} vanished silently"
        outcome = "reported" if named else "analysed"
        outcomes[variant.category][outcome] += 1
        outcomes[variant.category]["imported" if importable else "not imported"] += 1
    assert sum(counts["imported"] for counts in outcomes.values()) == len(items)
    # Every imported file is analysed or named: the analysed ones are those nobody named.
    assert sum(counts["analysed"] for counts in outcomes.values()) == len(analysed)
    for kind in ("newline", "quotes", "non-utf8"):  # intact files with odd names: analysed
        assert outcomes[f"odd-name-{kind}"]["reported"] == 0, kind
    for variant in variants:
        assert _digest(variant.path) == before[variant.path], variant  # sources untouched

    # The command on the same library: the failed items are tried again (in this process,
    # -j 0, the path without workers), named again, and their library copies left alone.
    unanalysed = {p: _digest(Path(os.fsdecode(p))) for p in items if p not in analysed}
    command = subprocess.run(
        [*beet, "genrescore", "-w", "-j", "0"],
        env=env,
        capture_output=True,
        text=True,
        errors="surrogateescape",
    )
    assert command.returncode == 0, command.stderr[-3000:]
    assert "Traceback" not in command.stderr
    lines = _genrescore_lines(command.stderr)
    counts = _counts(lines[-1])
    # Nothing new can be analysed; too short or silent files count as skipped, not failed.
    assert counts["analysed"] == 0
    assert counts["skipped"] + counts["failed"] == len(items)
    for path, digest in unanalysed.items():
        assert len(_named(lines, path)) == 1, display_path(path)
        assert _digest(Path(os.fsdecode(path))) == digest
    assert _items(db, library).keys() == items.keys()

    report = os.environ.get("GENRESCORE_FUZZ_REPORT")  # the table in the note
    if report:
        Path(report).write_text(json.dumps({k: dict(v) for k, v in sorted(outcomes.items())}))


def _counts(summary: str) -> dict[str, int]:
    """``analysed 3, skipped 1, failed 2, written 0 (...)`` -> the numbers by name."""
    numbers = summary.removeprefix("genrescore: ").split(" (")[0].split(";")[0]
    return {name: int(count) for name, count in (p.split() for p in numbers.split(", "))}


def _importable(path: Path) -> bool:
    try:
        check_importable(str(path))
    except TrackError:
        return False
    return True


def test_the_batched_path_gives_every_damaged_file_one_answer(
    format_sources: dict[str, Path], tmp_path: Path
) -> None:
    # The GPU path: decoding in workers, the models in this process on batches of tracks.
    settings_ = read_settings(
        confuse.RootView(
            [confuse.ConfigSource.of(HEURISTICS_ONLY), confuse.ConfigSource.of(DEFAULTS)]
        )
    )
    analyzer = Analyzer(settings_, load_models(settings_, print))
    variants = [v for v in corpus(tmp_path, format_sources) if "sparse" not in v.category]
    work = [(str(v.path), str(v.path)) for v in variants]
    engine = Engine(analyzer, jobs=2, batch_tracks=4, infer_in_workers=False)
    try:
        done = list(engine.run(work))
    finally:
        engine.close()
    assert sorted(d.key for d in done) == sorted(key for key, _ in work)
    assert all((d.result is None) != (d.error is None) for d in done)


# -- tag writes on containers whose sizes lie, three times over (issue 20) ------------------


def test_writing_tags_three_times_never_changes_the_audio(
    format_sources: dict[str, Path], tmp_path: Path
) -> None:
    # The references stay aside; the library holds copies, imported where they are.
    variants = container_corpus(tmp_path / "reference", format_sources)
    music = tmp_path / "music"
    by_path = {copy(v.path, music / v.path.name): v for v in variants}
    db = tmp_path / "library.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"directory: {music}\nlibrary: {db}\nplugins: [genrescore]\n"
        "import: {copy: no, write: yes, autotag: no, log: null}\n"
        "genrescore: {jobs: 2, models: {genre: none, instruments: none}}\n"
    )
    env = {**os.environ, "BEETSDIR": str(tmp_path)}
    beet = [sys.executable, "-m", "beets", "-c", str(config)]
    imported = subprocess.run(
        [*beet, "import", "-A", "-q", str(music)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-3000:]
    files = {Path(os.fsdecode(p)): fields for p, fields in _items(db, music).items()}
    by_source = {path: by_path[path] for path in files}
    decoded = {v.path: pcm(v.path) for v in variants}
    sizes: dict[Path, list[int]] = collections.defaultdict(list)
    for _ in range(3):
        run = subprocess.run(
            [*beet, "genrescore", "-f", "-w", "-j", "0"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        lines = _genrescore_lines(run.stderr)
        for path, variant in by_source.items():
            sizes[path].append(path.stat().st_size)
            refused = _named(lines, path)
            if variant.category == "intact":
                assert not refused, refused
                assert pcm(path) == decoded[variant.path], path  # only the tags changed
            elif files[path].get("genrescore_genre"):  # analysed, so a write was tried
                assert refused, path
                assert "not written: truncated container" in refused[0]
                assert path.read_bytes() == variant.path.read_bytes()  # not a byte changed
    for path, seen in sizes.items():
        assert len(set(seen)) == 1, (path, seen)  # the tag block does not grow
    categories = {v.category for p, v in by_source.items() if files[p].get("genrescore_genre")}
    assert {"intact", "tail-cut", "data-size-lie"} <= categories
