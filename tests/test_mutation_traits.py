"""Mood and vocals at their edges (mutation survivors of scoring/traits.py; see
tests/MUTATION.md): the thresholds as the docstrings state them, counted by hand."""

from __future__ import annotations

from beetsplug.genrescore.scoring import traits


def test_a_mood_exactly_at_the_floor_or_at_half_the_best_is_named() -> None:
    # "A mood is named from this score on" (0.01) ...
    assert traits.moods({"Tender music": 0.01}) == ["tender"]
    # ... "and when it scores at least this share (0.5) of the strongest mood".
    assert traits.moods({"Happy music": 0.08, "Sad music": 0.04}) == ["happy", "sad"]
    assert traits.moods({"Happy music": 0.08, "Sad music": 0.039}) == ["happy"]


def test_equal_moods_are_listed_by_name() -> None:
    # Exciting comes before angry in AudioSet's table; by name, angry is first.
    scores = {"Exciting music": 0.02, "Angry music": 0.02}
    assert traits.moods(scores) == ["angry", "exciting"]
    assert traits.mood_scores(scores)[:2] == [("angry", 0.02), ("exciting", 0.02)]


def test_a_voice_class_exactly_at_its_threshold_is_vocal() -> None:
    assert traits.vocals({"Singing": traits.SINGING_THRESHOLD}).kind == "vocal"
    assert traits.vocals({"Speech": traits.SPEECH_THRESHOLD}).kind == "vocal"
    below = traits.vocals({"Speech": 0.199})
    assert (below.kind, below.label) == ("instrumental", "Speech")


def test_the_class_named_is_the_one_nearest_its_threshold_not_the_loudest() -> None:
    # Singing 0.03 is 0.85 of its threshold (0.0351); speech 0.1 only half of its (0.2).
    # `beet genrescore --explain` prints this class as the strongest voice class.
    result = traits.vocals({"Singing": 0.03, "Speech": 0.1})
    assert (result.kind, result.label) == ("instrumental", "Singing")


def test_a_label_set_that_cannot_be_searched_is_not_audioset() -> None:
    assert traits.has_audioset_vocabulary(None) is False
    assert traits.has_audioset_vocabulary(42) is False
    assert traits.has_audioset_vocabulary(list(traits.MOOD_LABELS)) is True
