"""library.py's rules with known answers: what is current, what is stored, the policies.

Fast unit tests (no audio, no model): mutation testing (``scripts/mutate library``) runs
them for every mutant. Expected values are written out by hand.
"""

from __future__ import annotations

from typing import Any

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
)
from beetsplug.genrescore.settings import BpmPolicy, GenresPolicy

from .test_ensemble import DEVIL_HEURISTIC, DEVIL_INSTRUMENTS, DEVIL_ML, tagger, votes
from .test_tune import RULES

DEVIL = Evidence(tuple(votes(DEVIL_ML, DEVIL_HEURISTIC)), tagger(DEVIL_INSTRUMENTS))
DEFAULT = EnsembleConfig(rules=RULES)


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
    ml_only = EnsembleConfig(Weights(1.0, 0.0, 0.0, 0.0), RULES)
    assert library.reblend_values(item, ml_only)[library.GENRE] == "Hip Hop"  # type: ignore[index]
    # Nothing left to blend: no genre under these weights, and no evidence at all.
    nothing = EnsembleConfig(Weights(0.0, 0.0, 0.0, 0.0), RULES)
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
        _track("Rock", 0.6, ["drums", "electric guitar"], "heuristic"),
        _track("Rock", 0.4, ["drums"], "heuristic"),
        _track("Jazz", 0.9, ["piano"], "heuristic"),
        {library.GENRE: ""},  # not analysed: left out
    ]
    values = library.album_values(tracks, DEFAULT)
    assert values is not None
    assert values[library.GENRE] == "Rock"
    assert values[library.CONFIDENCE] == pytest.approx(1.0 / 3.0, abs=1e-4)
    assert values[library.TOP] == ["Rock", "Jazz"]
    assert values[library.INSTRUMENTS] == ["drums", "electric guitar", "piano"]
    assert values[library.METHOD] == "heuristic"
    assert values[library.SCORES] == "Rock 0.3333, Jazz 0.3000"
    tracks[1][library.METHOD] = "embedded"
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
