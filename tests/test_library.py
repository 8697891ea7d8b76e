"""library.py's rules with known answers: what is current, what is stored, the policies.

Fast unit tests (no audio, no model): mutation testing (``scripts/mutate library``) runs
them for every mutant. Expected values are written out by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from beets.library import Item, Library

from beetsplug.genrescore import library
from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring.ensemble import (
    Component,
    EnsembleConfig,
    Evidence,
    GenreVote,
    Weights,
    blend,
)
from beetsplug.genrescore.settings import BpmPolicy, GenresPolicy

from .test_ensemble import DEVIL_HEURISTIC, DEVIL_INSTRUMENTS, DEVIL_ML, tagger, votes
from .test_plugin import SHIPPED_RULES

DEVIL = Evidence(tuple(votes(DEVIL_ML, DEVIL_HEURISTIC)), tagger(DEVIL_INSTRUMENTS))
DEFAULT = EnsembleConfig(rules=SHIPPED_RULES)


def test_current_needs_the_genre_and_the_same_fingerprint() -> None:
    assert library.is_current({library.GENRE: "Rock", library.FINGERPRINT: "f"}, "f")
    assert not library.is_current({library.GENRE: "Rock", library.FINGERPRINT: "g"}, "f")
    assert not library.is_current({library.GENRE: "", library.FINGERPRINT: "f"}, "f")
    assert not library.is_current({library.FINGERPRINT: "f"}, "f")
    assert library.needs_reblend({library.BLEND: "old"}, "new")
    assert library.needs_reblend({}, "new")
    assert not library.needs_reblend({library.BLEND: "new"}, "new")


def test_stored_evidence_none_when_absent_or_unreadable() -> None:
    text, read = codec.stored(DEVIL)
    assert library.stored_evidence({library.EVIDENCE: text}) == read
    assert library.stored_evidence({}) is None
    assert library.stored_evidence({library.EVIDENCE: ""}) is None
    assert library.stored_evidence({library.EVIDENCE: "not json"}) is None


def test_scores_read_back_as_written() -> None:
    text = library.format_scores([("country", 0.26965), ("hip hop", 0.2209896)])
    assert text == "Country 0.2697, Hip Hop 0.2210"
    assert library.parse_scores(text) == {"country": 0.2697, "hip hop": 0.221}
    assert library.parse_scores("Rock 0.5, garbage, Jazz x") == {"rock": 0.5}
    assert library.parse_scores("") == {}
    assert library.format_moods([("tender", 0.044), ("sad", 0.01)]) == "tender 0.0440, sad 0.0100"


def test_a_re_blend_uses_the_stored_evidence_and_the_given_weights() -> None:
    text, _ = codec.stored(DEVIL)
    item = {library.EVIDENCE: text}
    values = library.reblend_values(item, DEFAULT)
    assert values == {
        library.GENRE: "Country",
        library.CONFIDENCE: 0.2697,
        library.TOP: ["Country", "Hip Hop", "Bluegrass"],
        library.INSTRUMENTS: ["harmonica", "violin", "drums"],
        library.SCORES: "Country 0.2697, Hip Hop 0.2210, Bluegrass 0.1575",
    }
    ml_only = EnsembleConfig(Weights(1.0, 0.0, 0.0, 0.0), SHIPPED_RULES)
    assert library.reblend_values(item, ml_only)[library.GENRE] == "Hip Hop"  # type: ignore[index]
    # Nothing left to blend: no genre under these weights, and no evidence at all.
    nothing = EnsembleConfig(Weights(0.0, 0.0, 0.0, 0.0), SHIPPED_RULES)
    assert library.reblended(item, nothing) is None
    assert library.reblend_values({}, DEFAULT) is None


@pytest.mark.parametrize(
    ("policy", "current", "previous", "expected"),
    [
        (GenresPolicy.KEEP, ["Polka"], [], None),
        (GenresPolicy.KEEP, [], [], None),
        (GenresPolicy.OVERWRITE, ["Polka"], [], ["Rock", "Pop"]),
        (GenresPolicy.MERGE, ["Polka"], [], ["Polka", "Rock", "Pop"]),
        (GenresPolicy.MERGE, ["rock"], [], ["rock", "Pop"]),  # no second spelling
        (GenresPolicy.MERGE, [], [], ["Rock", "Pop"]),
        (GenresPolicy.FILL, [], [], ["Rock", "Pop"]),
        (GenresPolicy.FILL, ["Polka"], [], None),
        (GenresPolicy.FILL, ["Old", "Guess"], ["Old", "Guess"], ["Rock", "Pop"]),  # ours
        (GenresPolicy.FILL, ["Old", "Guess"], ["Old"], None),  # not ours
    ],
)
def test_genres_policies(
    policy: GenresPolicy, current: list[str], previous: list[str], expected: list[str] | None
) -> None:
    assert library.new_genres(current, ["Rock", "Pop"], previous, policy) == expected


@pytest.mark.parametrize(
    ("policy", "current", "previous", "detected", "expected"),
    [
        (BpmPolicy.KEEP, 0, None, 120.4, None),
        (BpmPolicy.OVERWRITE, 99, None, 120.6, 121),
        (BpmPolicy.OVERWRITE, 99, None, 0.0, None),  # no tempo measured: nothing replaced
        (BpmPolicy.FILL, 0, None, 120.4, 120),
        (BpmPolicy.FILL, None, None, 120.4, 120),
        (BpmPolicy.FILL, "n/a", None, 120.4, 120),
        (BpmPolicy.FILL, 99, None, 120.4, None),
        (BpmPolicy.FILL, 99, 98.8, 120.4, 120),  # 99 was ours (98.8 rounded): refreshed
        (BpmPolicy.FILL, 99, 97.0, 120.4, None),
    ],
)
def test_bpm_policies(
    policy: BpmPolicy, current: Any, previous: Any, detected: float, expected: int | None
) -> None:
    assert library.new_bpm(current, detected, previous, policy) == expected


def test_min_confidence_leaves_genres_alone_only_below_it() -> None:
    assert library.is_uncertain({library.CONFIDENCE: 0.29}, 0.3)
    assert not library.is_uncertain({library.CONFIDENCE: 0.3}, 0.3)
    assert not library.is_uncertain({library.CONFIDENCE: 0.0}, 0.0)


def _values(**extra: Any) -> dict[str, Any]:
    return {
        library.GENRE: "Rock",
        library.CONFIDENCE: 0.5,
        library.TOP: ["Rock", "Pop"],
        library.BPM: 120.4,
        **extra,
    }


def test_apply_result_sets_values_removes_nones_and_keeps_the_users_genres() -> None:
    obj: dict[str, Any] = {"genres": ["Polka"], library.MOOD: ["sad"], "bpm": 0}
    library.apply_result(
        obj, _values(**{library.MOOD: None}), GenresPolicy.OVERWRITE, bpm_policy=BpmPolicy.FILL
    )
    assert obj == {
        "genres": ["Rock", "Pop"],
        library.GENRES_WRITTEN: ["Rock", "Pop"],
        library.GENRES_BEFORE: ["Polka"],
        library.GENRE: "Rock",
        library.CONFIDENCE: 0.5,
        library.TOP: ["Rock", "Pop"],
        library.BPM: 120.4,
        "bpm": 120,
    }
    assert library.user_genres(obj) == ["Polka"]
    # A second result: the genres were ours, so what came before stays the user's.
    library.apply_result(obj, _values(**{library.TOP: ["Jazz"]}), GenresPolicy.OVERWRITE)
    assert obj["genres"] == obj[library.GENRES_WRITTEN] == ["Jazz"]
    assert obj[library.GENRES_BEFORE] == ["Polka"]
    assert obj["bpm"] == 120  # bpm policy keep (the default)
    # The user edits them: theirs now, and kept as theirs by the next write.
    obj["genres"] = ["Bebop"]
    assert library.user_genres(obj) == ["Bebop"]
    library.apply_result(obj, _values(), GenresPolicy.OVERWRITE)
    assert obj[library.GENRES_BEFORE] == ["Bebop"]


def test_apply_result_below_min_confidence_stores_fields_but_not_genres() -> None:
    obj: dict[str, Any] = {"genres": []}
    library.apply_result(obj, _values(), GenresPolicy.FILL, min_confidence=0.6)
    assert obj[library.GENRE] == "Rock"
    assert obj["genres"] == []
    assert library.GENRES_WRITTEN not in obj
    library.apply_result(obj, _values(), GenresPolicy.FILL, min_confidence=0.5)
    assert obj["genres"] == ["Rock", "Pop"]
    assert obj[library.GENRES_BEFORE] == []


def test_user_genres_of_results_stored_before_provenance() -> None:
    # No genres_written: genres equal to the top list count as genrescore's.
    assert library.user_genres({"genres": ["Rock"], library.TOP: ["Rock"]}) == []
    assert library.user_genres({"genres": ["Jazz"], library.TOP: ["Rock"]}) == ["Jazz"]
    assert library.user_genres({"genres": []}) == []


def test_planned_changes_are_what_apply_result_would_change() -> None:
    item = Item(title="t", genres=["Rock", "Pop"])
    item[library.GENRE] = "Rock"
    item[library.CONFIDENCE] = 0.5
    item[library.TOP] = ["Rock", "Pop"]
    item[library.MOOD] = ["sad"]
    changes = library.planned_changes(
        item, _values(**{library.MOOD: None, library.GENRE: "Pop"}), GenresPolicy.FILL
    )
    # genres equal to the stored top list were ours: the same list again changes nothing.
    assert changes == {library.GENRE: "Pop", library.BPM: 120.4, library.MOOD: None}
    assert item[library.GENRE] == "Rock"  # untouched
    overwrite = library.planned_changes(
        item, _values(**{library.TOP: ["Jazz"]}), GenresPolicy.OVERWRITE
    )
    assert overwrite == {
        library.TOP: ["Jazz"],
        library.BPM: 120.4,
        "genres": ["Jazz"],
        library.GENRES_WRITTEN: ["Jazz"],
        library.GENRES_BEFORE: ["Rock", "Pop"],
    }


def test_store_changes_writes_fields_and_marks_tagged_files_stale(tmp_path: Any) -> None:
    Item._types.update(library.FIELD_TYPES)  # as the plugin registers them when it loads
    lib = Library(str(tmp_path / "library.db"))
    item = Item(path=b"/music/a.mp3", title="a", mtime=12.0)
    item[library.MOOD] = ["sad"]
    item.add(lib)
    other = Item(path=b"/music/b.mp3", title="b", mtime=12.0)
    other.add(lib)
    library.store_changes(
        lib,
        [
            (item, {library.EVIDENCE: "{}", library.MOOD: None, "genres": ["Rock"]}),
            (other, {library.BLEND: "x"}),
        ],
    )
    library.store_changes(lib, [])
    a, b = lib.get_item(item.id), lib.get_item(other.id)
    assert a[library.EVIDENCE] == "{}"
    assert library.MOOD not in a
    assert a.genres == ["Rock"]
    assert a.mtime == 0  # genres is a file tag: the file is out of date
    assert b[library.BLEND] == "x"
    assert b.mtime == 12.0  # the blend fingerprint is not in the file


def _track(genre: str, confidence: float, instruments: list[str], method: str) -> dict[str, Any]:
    return {
        library.GENRE: genre,
        library.CONFIDENCE: confidence,
        library.SCORES: f"{genre} {confidence:.4f}",
        library.INSTRUMENTS: instruments,
        library.METHOD: method,
    }


def test_album_values_average_the_tracks() -> None:
    tracks = [
        {library.GENRE: ""},  # not analysed: left out (and the rest still counted)
        _track("Rock", 0.6, ["drums", "electric guitar"], "heuristic"),
        _track("Rock", 0.4, ["drums"], "heuristic"),
        _track("Jazz", 0.9, ["piano"], "heuristic"),
    ]
    values = library.album_values(tracks, DEFAULT)
    assert values is not None
    assert values[library.GENRE] == "Rock"
    assert values[library.CONFIDENCE] == 0.3333  # stored to 4 places
    assert values[library.TOP] == ["Rock", "Jazz"]
    assert values[library.INSTRUMENTS] == ["drums", "electric guitar", "piano"]
    assert values[library.METHOD] == "heuristic"
    assert values[library.SCORES] == "Rock 0.3333, Jazz 0.3000"
    tracks[2][library.METHOD] = "embedded"
    assert library.album_values(tracks, DEFAULT)[library.METHOD] == "mixed"  # type: ignore[index]
    assert library.album_values([{library.GENRE: ""}], DEFAULT) is None


def test_album_values_read_the_full_distribution_from_the_evidence() -> None:
    text, _ = codec.stored(DEVIL)
    ml = GenreVote(Component.ML, "m", {"jazz": 1.0})
    jazz_text, _ = codec.stored(Evidence((ml,)))
    tracks = [
        {**_track("Country", 0.27, [], "x"), library.EVIDENCE: text},
        {**_track("Jazz", 1.0, [], "x"), library.EVIDENCE: jazz_text},
    ]
    values = library.album_values(tracks, DEFAULT)
    assert values is not None
    assert values[library.GENRE] == "Jazz"
    assert values[library.CONFIDENCE] == pytest.approx((1.0 + 0.01 * 0.2 / 0.904115) / 2, abs=2e-3)
    assert values[library.TOP][1:] == ["Country", "Hip Hop"]


def test_result_values_are_every_field_a_result_sets() -> None:
    decision = blend(DEVIL, DEFAULT)
    result = SimpleNamespace(
        decision=decision,
        method="embedded_hybrid_ml_instrument:musicnn-msd+yamnet",
        bpm=SimpleNamespace(bpm=120.44),
        mood=("happy", "exciting"),
        mood_scores=(("happy", 0.5), ("exciting", 0.25)),
        vocals=SimpleNamespace(kind="vocal", score=0.73125),
        evidence="{evidence}",
        blend="blend-fp",
    )
    assert library.result_values(result, "fp") == {  # type: ignore[arg-type]
        library.GENRE: "Country",
        library.CONFIDENCE: 0.2697,
        library.TOP: ["Country", "Hip Hop", "Bluegrass"],
        library.INSTRUMENTS: ["harmonica", "violin", "drums"],
        library.SCORES: "Country 0.2697, Hip Hop 0.2210, Bluegrass 0.1575",
        library.METHOD: "embedded_hybrid_ml_instrument:musicnn-msd+yamnet",
        library.BPM: 120.4,
        library.MOOD: ["happy", "exciting"],
        library.MOOD_SCORES: "happy 0.5000, exciting 0.2500",
        library.VOCALS: "vocal",
        library.VOCALS_SCORE: 0.7312,
        library.EVIDENCE: "{evidence}",
        library.BLEND: "blend-fp",
        library.FINGERPRINT: "fp",
    }
    # Without an AudioSet tagger: no mood, no vocals (removed, not guessed); no evidence.
    bare = SimpleNamespace(**{**vars(result), "mood": None, "vocals": None, "evidence": ""})
    values = library.result_values(bare, "fp")  # type: ignore[arg-type]
    assert values[library.MOOD] is None
    assert values[library.MOOD_SCORES] is None
    assert values[library.VOCALS] is None
    assert values[library.VOCALS_SCORE] is None
    assert values[library.EVIDENCE] is None
    # No tempo measured: no tempo stored (a 0 would be written to the file as one).
    still = SimpleNamespace(**{**vars(result), "bpm": SimpleNamespace(bpm=0.0)})
    assert library.result_values(still, "fp")[library.BPM] is None  # type: ignore[arg-type]


def _identity(data: bytes) -> str:
    """audio.file_identity written out: sha256 of the size and the blocks of 64 KiB at the
    start, the middle and the end (each once)."""
    block = 64 * 1024
    size = len(data)
    middle, end = max(0, (size - block) // 2), max(0, size - block)
    digest = hashlib.sha256(str(size).encode())
    for offset in sorted({0, middle, end}):
        digest.update(data[offset : offset + block])
    return digest.hexdigest()[:16]


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.mp3"
    path.write_bytes(np.random.default_rng(1).bytes(300_000))
    return path


def _stat(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def test_the_file_state_is_the_contents_identity(song: Path, tmp_path: Path) -> None:
    state = library.file_state(str(song))
    assert state == library.FileState(_identity(song.read_bytes()), _stat(song))
    small = tmp_path / "small.mp3"
    small.write_bytes(b"x" * 1000)  # one block: start, middle and end are the same
    assert library.file_state(bytes(small)) == library.FileState(
        _identity(small.read_bytes()), _stat(small)
    )
    assert library.file_state(str(tmp_path / "gone.mp3")) is None
    assert library.file_state(str(tmp_path)) is None  # a folder cannot be read as a file


def test_an_unchanged_size_and_mtime_trusts_the_stored_identity(song: Path) -> None:
    stored = {library.FINGERPRINT: "analysis-abc", library.AUDIO_FILE: _stat(song)}
    assert library.file_state(str(song), stored) == library.FileState("abc", _stat(song))
    # Stored as missing, or another size/mtime: read again.
    fresh = _identity(song.read_bytes())
    for item in (
        {**stored, library.FINGERPRINT: "analysis-missing"},
        {**stored, library.FINGERPRINT: ""},
        {**stored, library.AUDIO_FILE: "1:2"},
    ):
        assert library.file_state(str(song), item) == library.FileState(fresh, _stat(song))


def test_legacy_identity_is_beets_stream_fields() -> None:
    item = {"format": "MP3", "samplerate": 44100, "channels": 2, "bitrate": 128000}
    expected = hashlib.sha256(b"MP3|44100|2|128000|20.0").hexdigest()[:8]
    assert library._legacy_identity({**item, "length": 20.004}) == expected
    assert library._legacy_identity({**item, "length": 20.01}) != expected
    assert library._legacy_identity({}) == hashlib.sha256(b"||||0.0").hexdigest()[:8]


def test_the_item_fingerprint_follows_the_file(song: Path) -> None:
    item = SimpleNamespace(path=bytes(song), get={}.get)
    assert library.item_fingerprint("an", item) == f"an-{_identity(song.read_bytes())}"
    assert library.file_values(item) == {library.AUDIO_FILE: _stat(song)}
    song.unlink()
    assert library.item_fingerprint("an", item) == "an-missing"
    assert library.file_values(item) == {library.AUDIO_FILE: None}


class _Item(dict[str, Any]):
    def __init__(self, path: Path, **fields: Any) -> None:
        super().__init__(fields)
        self.path = bytes(path)


def test_current_changed_and_refreshed(song: Path, tmp_path: Path) -> None:
    identity = _identity(song.read_bytes())
    item = _Item(song, **{library.GENRE: "Rock", library.FINGERPRINT: f"an-{identity}"})
    assert library.is_current(item, f"an-{identity}")
    assert not library.is_current(item, f"other-{identity}")
    assert not library.is_current(item, "an-0123456789abcdef")
    assert library.is_current(item, "an-missing")  # no file: the result stays
    assert not library.is_current(_Item(song, **{library.FINGERPRINT: f"an-{identity}"}), "x")
    assert not library.is_current(_Item(song, **{library.GENRE: "Rock"}), f"an-{identity}")
    assert not library.audio_changed(item)
    assert not library.audio_changed(_Item(song))  # no result: nothing to compare
    # Another song at the path.
    song.write_bytes(b"another song" * 1000)
    assert library.audio_changed(item)
    assert not library.audio_changed(item, tmp_path / "gone.mp3")  # nothing to read
    # After a write that kept the audio, the identity is taken again.
    library.refresh_identity(item)
    assert item[library.FINGERPRINT] == f"an-{_identity(song.read_bytes())}"
    assert item[library.AUDIO_FILE] == _stat(song)
    assert not library.audio_changed(item)
    unanalysed = _Item(song)
    library.refresh_identity(unanalysed)
    assert unanalysed == {}
    moved = _Item(tmp_path / "gone.mp3", **{library.FINGERPRINT: "an-abc"})
    library.refresh_identity(moved)
    assert moved == {library.FINGERPRINT: "an-abc"}


def test_a_result_stored_before_the_content_identity_stays_current(song: Path) -> None:
    stream = {"format": "MP3", "samplerate": 44100, "channels": 2, "bitrate": 128000}
    legacy = library._legacy_identity({**stream, "length": 20.0})
    item = _Item(song, **stream, length=20.0, genrescore_genre="Rock")
    item[library.FINGERPRINT] = f"an-{legacy}"
    now = f"an-{_identity(song.read_bytes())}"
    assert library.is_current(item, now)
    assert not library.audio_changed(item)
    item[library.AUDIO_FILE] = "1:2"  # taken from the file since: the old identity is no more
    assert not library.is_current(item, now)
    assert library.audio_changed(item)


def test_scores_after_an_unreadable_part_are_read() -> None:
    assert library.parse_scores("garbage, Rock 0.5") == {"rock": 0.5}


def test_a_one_bpm_tempo_is_a_tempo() -> None:
    assert library.new_bpm(99, 1.2, None, BpmPolicy.OVERWRITE) == 1


def test_a_result_without_a_tempo_removes_ours_and_leaves_beets_bpm_alone() -> None:
    obj: dict[str, Any] = {"bpm": 98, library.BPM: 98.2}
    values = _values(**{library.BPM: None})
    library.apply_result(obj, values, GenresPolicy.FILL, bpm_policy=BpmPolicy.OVERWRITE)
    assert obj["bpm"] == 98
    assert library.BPM not in obj


def test_apply_result_refreshes_what_genrescore_filled_itself() -> None:
    obj: dict[str, Any] = {"genres": ["Old"], library.TOP: ["Old"], "bpm": 98, library.BPM: 98.2}
    library.apply_result(obj, _values(), GenresPolicy.FILL, bpm_policy=BpmPolicy.FILL)
    assert obj["genres"] == ["Rock", "Pop"]  # ours (equal to our top list): refreshed
    assert obj["bpm"] == 120  # ours (our tempo rounded): refreshed
    # A bpm of the user's (not our tempo): fill leaves it.
    users: dict[str, Any] = {"bpm": 99, library.BPM: 60.0}
    library.apply_result(users, _values(), GenresPolicy.KEEP, bpm_policy=BpmPolicy.FILL)
    assert users["bpm"] == 99
    # No tempo in the values (an album): beets' bpm is left alone.
    album: dict[str, Any] = {"bpm": 98}
    library.apply_result(album, {library.CONFIDENCE: 0.5, library.TOP: ["Rock"]}, GenresPolicy.KEEP)
    assert album == {"bpm": 98, library.CONFIDENCE: 0.5, library.TOP: ["Rock"]}


def test_album_distributions_without_evidence_come_from_the_stored_scores() -> None:
    tracks = [
        {**_track("Rock", 0.6, [], "h"), library.SCORES: "Rock 0.6000, Jazz 0.4000"},
        {**_track("Jazz", 0.5, [], "h"), library.SCORES: "Jazz 0.5000, Rock 0.1000"},
        {library.GENRE: "Jazz", library.CONFIDENCE: 0.3},  # no scores at all: its own genre
        {library.GENRE: "Pop"},  # nor a confidence: nothing for it
    ]
    values = library.album_values(tracks, DEFAULT)
    assert values is not None
    # Means over four tracks: jazz (0.4 + 0.5 + 0.3) / 4, rock 0.7 / 4, pop 0.
    assert values[library.SCORES] == "Jazz 0.3000, Rock 0.1750, Pop 0.0000"
    assert values[library.TOP] == ["Jazz", "Rock", "Pop"]


def test_a_known_size_and_mtime_skip_reading_the_file(song: Path, tmp_path: Path) -> None:
    """One stat per item: with the size and mtime stored, the stored identity serves."""
    item = _Item(song, **{library.FINGERPRINT: "old-abc", library.AUDIO_FILE: _stat(song)})
    assert library.item_fingerprint("an", item) == "an-abc"
    assert library.file_values(item) == {library.AUDIO_FILE: _stat(song)}
    assert not library.audio_changed(_Item(song, **{**item, library.GENRE: "Rock"}))
    item[library.FINGERPRINT] = "old-0123456789abcdef"  # another identity, same size and mtime
    assert not library.audio_changed(item)  # trusted: the blocks are not read again


def test_refresh_identity_reads_the_path_it_is_given(song: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.mp3"
    copy.write_bytes(b"the written copy" * 100)
    item = _Item(song, **{library.FINGERPRINT: "an-abc"})
    library.refresh_identity(item, copy)
    assert item[library.FINGERPRINT] == f"an-{_identity(copy.read_bytes())}"
    assert item[library.AUDIO_FILE] == _stat(copy)
