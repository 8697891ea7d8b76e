"""Folding model labels onto the vocabulary, cases the plain tests missed (mutation survivors
of scoring/taxonomy.py; see tests/MUTATION.md). Expected values written by hand."""

from __future__ import annotations

import pytest

from beetsplug.genrescore.scoring import taxonomy


def test_a_label_outside_the_vocabulary_does_not_hide_the_labels_after_it() -> None:
    # Softmax: "Speech" names no genre, "Comedy" neither; rock and jazz share what is left.
    scores = {"Speech": 0.4, "rock": 0.3, "Comedy": 0.1, "jazz": 0.2}
    assert taxonomy.genre_distribution(scores, multi_label=False) == pytest.approx(
        {"rock": 0.6, "jazz": 0.4}
    )
    # A label scored 0 first: the next ones still count.
    assert taxonomy.genre_distribution({"pop": 0.0, "blues": 0.5}, multi_label=True) == {
        "blues": 1.0
    }


def test_softmax_classes_of_one_genre_add_up() -> None:
    # rock 0.3 + classic rock 0.2 = 0.5 against jazz 0.5: an even split.
    scores = {"rock": 0.3, "classic rock": 0.2, "jazz": 0.5}
    assert taxonomy.genre_distribution(scores, multi_label=False) == pytest.approx(
        {"rock": 0.5, "jazz": 0.5}
    )


def test_a_genre_with_no_share_is_left_out() -> None:
    assert taxonomy.normalize({"rock": 2.0, "jazz": 0.0, "pop": -1.0}) == {"rock": 1.0}
    assert taxonomy.normalize({"rock": 0.0}) == {}


def test_the_genres_a_model_can_name() -> None:
    labels = ["Rock", "classic rock", "Hip-Hop", "Speech", "Electronic music", "happy"]
    assert taxonomy.genres_named(labels) == {"rock", "hip hop", "electronic"}
    assert taxonomy.genres_named([]) == frozenset()


def test_an_instrument_alias_written_with_other_separators() -> None:
    assert taxonomy.instrument_for_label("Snare_Drum") == "drums"
    assert taxonomy.instrument_for_label("French-Horn") == "brass"
    assert taxonomy.instrument_for_label("Kazoo") is None


def test_unknown_names_keep_their_order() -> None:
    assert taxonomy.unknown_names(
        ["violin", "kazoo", "drums", "theremin"], taxonomy.INSTRUMENTS
    ) == [
        "kazoo",
        "theremin",
    ]
    assert taxonomy.unknown_names(["violin"], taxonomy.INSTRUMENTS) == []
