"""Known answers for the heuristic genre rules: descriptor tables and synthesized sketches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from beetsplug.genrescore.scoring.features import extract_features
from beetsplug.genrescore.scoring.heuristics import (
    RULES,
    Descriptors,
    HeuristicResult,
    TempoBand,
    describe,
    score,
    score_descriptors,
)
from beetsplug.genrescore.scoring.taxonomy import GENRES

from . import signals

# A middle-of-the-road track that each case below changes in a few places.
_NEUTRAL = Descriptors(
    energy=0.5,
    acousticness=0.5,
    danceability=0.5,
    brightness=0.5,
    percussiveness=0.4,
    tonality=0.4,
    tempo=110.0,
    bass=0.4,
    dynamics=0.3,
    noisiness=0.3,
    pulse=0.7,
)


def track(**changes: float) -> Descriptors:
    return dataclasses.replace(_NEUTRAL, **changes)


def top(result: HeuristicResult, n: int) -> list[str]:
    return [hit.genre for hit in result.hits[:n]]


# fmt: off
FAST_LOUD_DISTORTED = track(
    energy=0.9, acousticness=0.1, brightness=0.85, percussiveness=0.6, tonality=0.15,
    tempo=170.0, bass=0.5, dynamics=0.05, noisiness=0.9, pulse=0.85, distortion=0.9,
)
FOUR_ON_THE_FLOOR = track(
    energy=0.6, acousticness=0.15, danceability=0.95, brightness=0.6, percussiveness=0.55,
    tonality=0.25, tempo=125.0, bass=0.95, dynamics=0.05, noisiness=0.3, pulse=0.95,
)
QUIET_ACOUSTIC_SLOW = track(
    energy=0.15, acousticness=0.95, danceability=0.05, brightness=0.3, percussiveness=0.02,
    tonality=0.7, tempo=70.0, bass=0.05, dynamics=0.9, noisiness=0.02, pulse=0.1,
)
BASS_HEAVY_90 = track(
    energy=0.6, acousticness=0.2, danceability=0.8, brightness=0.45, percussiveness=0.5,
    tonality=0.15, tempo=90.0, bass=0.95, dynamics=0.15, noisiness=0.1, pulse=0.9,
)
NO_BEAT_CALM = track(
    energy=0.1, acousticness=0.6, danceability=0.05, brightness=0.2, percussiveness=0.02,
    tonality=0.5, bass=0.3, dynamics=0.1, noisiness=0.05, pulse=0.02,
)
# Fast fiddle and banjo: "The Devil Went Down to Georgia" without its drum kit.
FAST_ACOUSTIC_BRIGHT = track(
    energy=0.55, acousticness=0.8, brightness=0.8, percussiveness=0.15, tonality=0.6,
    tempo=168.0, bass=0.1, dynamics=0.3, noisiness=0.15, pulse=0.8,
)
STRUMMED_SONG = track(
    energy=0.3, acousticness=0.85, brightness=0.5, percussiveness=0.15, tonality=0.6,
    tempo=100.0, bass=0.1, dynamics=0.4, noisiness=0.1, pulse=0.7,
)
SLOW_JAM = track(
    energy=0.4, acousticness=0.35, danceability=0.7, brightness=0.3, percussiveness=0.3,
    tonality=0.6, tempo=75.0, bass=0.6, dynamics=0.2, noisiness=0.1, pulse=0.7,
)
ONE_DROP = track(
    energy=0.45, acousticness=0.4, danceability=0.7, brightness=0.35, percussiveness=0.4,
    tonality=0.4, tempo=72.0, bass=0.7, noisiness=0.1, pulse=0.8,
)

# descriptors, genres of which one must be in the top n, n
RULE_CASES = [
    pytest.param(FAST_LOUD_DISTORTED, {"heavy metal", "punk rock", "rock"}, 1, id="metal-top1"),
    pytest.param(FAST_LOUD_DISTORTED, {"heavy metal"}, 2, id="metal-top2"),
    pytest.param(FOUR_ON_THE_FLOOR, {"electronic", "disco"}, 1, id="club"),
    pytest.param(QUIET_ACOUSTIC_SLOW, {"classical", "ambient"}, 1, id="classical"),
    pytest.param(BASS_HEAVY_90, {"hip hop"}, 1, id="hip-hop"),
    # The same beat read an octave up (180 BPM) is still heard as hip hop.
    pytest.param(dataclasses.replace(BASS_HEAVY_90, tempo=180.0), {"hip hop"}, 3, id="hip-hop-2x"),
    pytest.param(NO_BEAT_CALM, {"ambient"}, 1, id="ambient"),
    pytest.param(FAST_ACOUSTIC_BRIGHT, {"bluegrass", "country"}, 1, id="bluegrass"),
    pytest.param(STRUMMED_SONG, {"folk"}, 3, id="folk"),
    pytest.param(SLOW_JAM, {"r&b"}, 3, id="slow-jam"),
    pytest.param(ONE_DROP, {"reggae"}, 3, id="one-drop"),
]
# fmt: on


@pytest.mark.parametrize(("descriptors", "expected", "within"), RULE_CASES)
def test_rules_rank_the_expected_genre(
    descriptors: Descriptors, expected: set[str], within: int
) -> None:
    result = score_descriptors(descriptors)
    assert expected & set(top(result, within)), [(h.genre, round(h.score, 2)) for h in result.hits]


@pytest.mark.parametrize("descriptors", [case.values[0] for case in RULE_CASES])
def test_distribution_is_over_canonical_genres_and_sums_to_one(descriptors: Descriptors) -> None:
    result = score_descriptors(descriptors)
    assert set(result.distribution) <= set(GENRES)
    assert sum(result.distribution.values()) == pytest.approx(1.0)
    assert all(share > 0.0 for share in result.distribution.values())
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)
    # The top hit holds the largest share (compared by value: two genres may tie).
    assert result.distribution[result.hits[0].genre] == max(result.distribution.values())


def test_every_hit_names_its_rule_and_a_reason() -> None:
    result = score_descriptors(FAST_LOUD_DISTORTED)
    assert {hit.rule for hit in result.hits} == {rule.name for rule in RULES}
    metal = next(hit for hit in result.hits if hit.genre == "heavy metal")
    assert metal.rule == "distorted_loud"
    assert metal.why.startswith("distorted, loud")
    assert "fast (170 BPM)" in metal.why


def test_a_reason_says_when_the_tempo_was_heard_an_octave_off() -> None:
    hits = score_descriptors(dataclasses.replace(BASS_HEAVY_90, tempo=180.0)).hits
    hip_hop = next(hit for hit in hits if hit.genre == "hip hop")
    assert "180 BPM, heard as 90" in hip_hop.why


def test_user_docs_name_every_rule_and_descriptor() -> None:
    text = (Path(__file__).parents[1] / "docs" / "heuristics.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule.name}`" in text, rule.name
    for field in dataclasses.fields(Descriptors):
        assert f"`{field.name}`" in text, field.name


def test_rules_cover_each_genre_once_with_weights_summing_to_one() -> None:
    genres = [rule.genre for rule in RULES]
    assert len(genres) == len(set(genres))
    assert set(genres) <= set(GENRES)
    assert {"hip hop", "rock", "heavy metal", "electronic", "classical", "country"} <= set(genres)
    assert len({rule.name for rule in RULES}) == len(RULES)
    descriptors = {field.name for field in dataclasses.fields(Descriptors)} - {"tempo"}
    for rule in RULES:
        assert {term.descriptor for term in rule.terms} <= descriptors, rule.name
        weights = [term.weight for term in rule.terms]
        weights += [rule.tempo.weight] if rule.tempo else []
        assert sum(weights) == pytest.approx(1.0), rule.name


@pytest.mark.parametrize(
    ("bpm", "membership", "heard_as"),
    [(175.0, 1.0, 175.0), (87.5, 0.7, 175.0), (350.0, 0.7, 175.0), (120.0, 0.0, 120.0)],
)
def test_tempo_band_accepts_half_and_double_tempo_at_a_discount(
    bpm: float, membership: float, heard_as: float
) -> None:
    band = TempoBand("fast", 1.0, 150.0, 160.0, 190.0, 200.0)
    assert band.fit(bpm) == pytest.approx((membership, heard_as))


def test_tempo_does_not_move_the_vote_without_a_beat() -> None:
    drone = track(pulse=0.0, tempo=70.0)
    assert score_descriptors(drone).distribution == pytest.approx(
        score_descriptors(dataclasses.replace(drone, tempo=170.0)).distribution
    )


def test_descriptors_of_tone_and_noise() -> None:
    tone = describe(extract_features(y=signals.sine(440.0), sr=signals.SR))
    noise = describe(extract_features(y=signals.white_noise(), sr=signals.SR))
    assert tone.tonality > 0.9
    assert noise.tonality < 0.05
    assert tone.noisiness < 0.05
    assert noise.noisiness > 0.95
    assert tone.brightness < 0.05
    assert noise.brightness > 0.95
    assert tone.percussiveness < 0.05
    assert tone.pulse < 0.05
    assert noise.pulse < 0.05
    assert tone.danceability < 0.05
    for value in dataclasses.astuple(tone) + dataclasses.astuple(noise):
        assert np.isfinite(value)


@pytest.mark.parametrize(
    ("make", "expected", "within"),
    [
        (signals.four_on_the_floor, {"electronic", "disco"}, 1),
        (signals.string_quartet, {"classical", "ambient"}, 1),
        (signals.ambient_pad, {"ambient"}, 1),
        (signals.metal, {"heavy metal", "punk rock", "rock"}, 1),
        (signals.metal, {"heavy metal"}, 3),
        (signals.boom_bap, {"hip hop"}, 1),
    ],
    ids=["club-125", "quartet", "ambient-pad", "metal-top1", "metal-top3", "boom-bap"],
)
def test_synthesized_sketches_get_their_genre(
    make: Callable[[], np.ndarray], expected: set[str], within: int
) -> None:
    result = score(extract_features(y=make(), sr=signals.SR))
    assert expected & set(top(result, within)), [(h.genre, round(h.score, 2)) for h in result.hits]
