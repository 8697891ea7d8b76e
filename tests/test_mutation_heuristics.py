"""The heuristic vote's arithmetic, worked by hand (mutation survivors of
scoring/heuristics.py; see tests/MUTATION.md): descriptors from made-up features, one rule's
geometric mean, its reason, the sharpened distribution, the tempo trapezoid's edges."""

from __future__ import annotations

import dataclasses
import math

import pytest

from beetsplug.genrescore.scoring.features import AudioFeatures
from beetsplug.genrescore.scoring.heuristics import (
    Descriptors,
    Rule,
    TempoBand,
    TempoChoice,
    Term,
    _apply,
    choose_tempo,
    describe,
    score_descriptors,
)

# Every ramp half way (or at a round point) between its ends, so that each cue is visible:
# level -20 dBFS (ends -30, -10), 4 onsets/s (1, 6), centroid 500 x 2^1.5 Hz (500 Hz, 4 kHz
# in octaves), flatness 10^-1.5 (10^-2.3, 10^-0.7 in decades), percussive 0.25 (0.05, 0.45),
# 8 equally loud pitch classes (12, 4), bass 0.35 (0.05, 0.65), 7 dB range (2, 12), beat
# strength 0.7 (0.1, 0.9: pulse 0.75), 140 BPM (4 onsets/s are 1.7 per beat: kept).
FEATURES = AudioFeatures(
    tempo=140.0,
    beat_strength=0.7,
    onset_rate=4.0,
    rms_mean=0.1,
    rms_db_range=7.0,
    spectral_centroid=500.0 * 2**1.5,
    spectral_rolloff=3000.0,
    spectral_flatness=10**-1.5,
    zero_crossing_rate=0.05,
    percussive_ratio=0.25,
    bass_share=0.35,
    chroma_mean=(1 / 12,) * 12,
    chroma_entropy=math.log(8) / math.log(12),
    duration=30.0,
)


def test_descriptors_by_hand() -> None:
    d = describe(FEATURES)
    # loud 0.5, busy 0.6, noisy 0.5: energy 0.5 x 0.5 + 0.3 x 0.6 + 0.2 x 0.5.
    assert d.energy == pytest.approx(0.53)
    # dynamic 0.5, quiet 1 - 0.5, light bass 1 - 0.5, clean 1 - 0.5: all 0.5.
    assert d.acousticness == pytest.approx(0.5)
    # 140 BPM on the dance band (80, 95, 135, 150): (150 - 140) / 15 = 2/3; pulse 0.75:
    # 0.55 x 0.75 + 0.25 x (0.75 x 2/3) + 0.2 x 0.5.
    assert d.danceability == pytest.approx(0.4125 + 0.125 + 0.1)
    assert (d.brightness, d.percussiveness, d.tonality) == pytest.approx((0.5, 0.5, 0.5))
    assert (d.bass, d.dynamics, d.noisiness, d.pulse) == pytest.approx((0.5, 0.5, 0.5, 0.75))
    assert d.tempo == 140.0


def test_acousticness_counts_each_cue_against_its_opposite() -> None:
    # Quiet (-30 dBFS: loud 0), no bass, clean (flatness 10^-2.3), no dynamics: 0.25 + 0.25
    # + 0.2 = 0.7; loud, all bass, noisy (0 + 0 + 0): 0.
    quiet = dataclasses.replace(
        FEATURES,
        rms_mean=10 ** (-30 / 20),
        bass_share=0.05,
        spectral_flatness=0.005,
        rms_db_range=2.0,
    )
    assert describe(quiet).acousticness == pytest.approx(0.7)
    loud = dataclasses.replace(
        FEATURES, rms_mean=1.0, bass_share=0.65, spectral_flatness=0.2, rms_db_range=2.0
    )
    assert describe(loud).acousticness == pytest.approx(0.0)


def test_descriptors_stop_at_one_past_their_ramps() -> None:
    extreme = dataclasses.replace(
        FEATURES,
        rms_mean=1.0,
        onset_rate=12.0,
        spectral_flatness=0.9,
        bass_share=0.95,
        rms_db_range=30.0,
        beat_strength=1.0,
        spectral_centroid=16000.0,
        percussive_ratio=0.9,
        chroma_entropy=0.0,
    )
    d = describe(extreme)
    values = [d.energy, d.brightness, d.percussiveness, d.tonality, d.bass, d.dynamics]
    assert values == [1.0] * 6
    assert (d.noisiness, d.pulse) == (1.0, 1.0)


def test_no_beat_is_no_tempo() -> None:
    silent = dataclasses.replace(FEATURES, tempo=0.0)
    assert choose_tempo(silent) == TempoChoice(0.0, 0.0, 1.0, "no beat to measure")
    assert describe(silent).tempo == 0.0


def test_the_tempo_band_rises_and_falls_linearly() -> None:
    band = TempoBand("dance tempo", 0.3, 80.0, 95.0, 135.0, 150.0)
    # 87.5 is half way up (its octaves 175 and 43.75 are outside); 142.5 half way down.
    assert band.fit(87.5) == (0.5, 87.5)
    assert band.fit(142.5) == (0.5, 142.5)
    assert band.fit(80.0) == (0.0, 80.0)
    assert band.fit(95.0) == (1.0, 95.0)


def hand_descriptors(**values: float) -> Descriptors:
    base = dict.fromkeys((f.name for f in dataclasses.fields(Descriptors)), 0.0)
    return Descriptors(**{**base, **values})


def test_a_rules_score_is_the_weighted_geometric_mean_and_its_reason_names_strong_terms() -> None:
    rule = Rule(
        "test",
        "rock",
        (
            Term("loud", 0.5, "energy"),
            Term("bright", 0.25, "brightness"),
            Term("clean", 0.25, "noisiness", target=0.0),
        ),
    )
    # Memberships 0.64, 0.25 and 1 - 0.4 = 0.6: 0.64^0.5 x 0.25^0.25 x 0.6^0.25.
    hit = _apply(rule, hand_descriptors(energy=0.64, brightness=0.25, noisiness=0.4))
    assert hit.score == pytest.approx(0.8 * 0.25**0.25 * 0.6**0.25)
    # Named from 0.6 on, by weight x membership: loud 0.32, clean 0.15.
    assert hit.why == "loud, clean"
    weak = _apply(rule, hand_descriptors(energy=0.3, brightness=0.3, noisiness=0.9))
    assert weak.why == "no strong cue"


def test_a_tempo_term_counts_as_far_as_there_is_a_beat() -> None:
    band = TempoBand("fast", 0.4, 100.0, 110.0, 130.0, 140.0)
    rule = Rule("test", "rock", (Term("loud", 0.6, "energy"),), tempo=band)
    # Pulse 1 at 106 BPM: the band's 0.6, named; the term 0.8. Reason by weight x membership:
    # loud 0.48, then the tempo 0.24.
    hit = _apply(rule, hand_descriptors(energy=0.8, pulse=1.0, tempo=106.0))
    assert hit.score == pytest.approx(0.8**0.6 * 0.6**0.4)
    assert hit.why == "loud, fast (106 BPM)"
    # Pulse 0.5 at 120 BPM (fit 1): 0.5 x 1 + 0.5 x 0.5 (no beat says neither yes nor no).
    hit = _apply(rule, hand_descriptors(energy=0.8, pulse=0.5, tempo=120.0))
    assert hit.score == pytest.approx(0.8**0.6 * 0.75**0.4)


def test_the_distribution_is_the_squared_scores_normalised() -> None:
    result = score_descriptors(hand_descriptors(energy=0.7, tempo=120.0, pulse=0.8))
    squares = {hit.genre: hit.score**2 for hit in result.hits}
    total = sum(squares.values())
    assert result.distribution == pytest.approx({g: s / total for g, s in squares.items()})
    # Without a tempo choice, the descriptors' tempo is taken as measured.
    assert result.tempo == TempoChoice(120.0, 120.0, 1.0, "as given")


def reading(tempo: float, onset_rate: float, beat: float = 0.9, kit: float = 0.25) -> TempoChoice:
    return choose_tempo(
        dataclasses.replace(
            FEATURES, tempo=tempo, onset_rate=onset_rate, beat_strength=beat, percussive_ratio=kit
        )
    )


# (tempo read, onsets per second, beat strength, percussive ratio) -> what --explain shows.
# Onsets per beat = onsets per second x 60 / tempo; pulse = (beat - 0.1) / 0.8; the kit's
# percussiveness = (ratio - 0.05) / 0.4.
OCTAVES = [
    # Pulse 0.375: too unclear to argue.
    (
        (120.0, 4.0, 0.4, 0.25),
        (120.0, 1.0, "read 120 BPM, 2.0 onsets per beat; beat too unclear to halve"),
    ),
    # Pulse exactly 0.5 is clear enough: 2 onsets per beat, kept.
    ((120.0, 4.0, 0.5, 0.25), (120.0, 1.0, "read 120 BPM, 2.0 onsets per beat: kept")),
    # 1.3 onsets per beat (the limit) at 150: the notes, halved; at 110 (the limit) too.
    (
        (150.0, 3.25, 0.9, 0.25),
        (75.0, 0.5, "read 150 BPM, 1.3 onsets per beat: the notes, not the beat; halved"),
    ),
    (
        (110.0, 2.2, 0.9, 0.25),
        (55.0, 0.5, "read 110 BPM, 1.2 onsets per beat: the notes, not the beat; halved"),
    ),
    # 1.5 onsets per beat: at 200 kept, above 200 too fast for a beat.
    ((200.0, 5.0, 0.9, 0.25), (200.0, 1.0, "read 200 BPM, 1.5 onsets per beat: kept")),
    (
        (210.0, 5.25, 0.9, 0.25),
        (105.0, 0.5, "read 210 BPM, 1.5 onsets per beat: too fast for a beat; halved"),
    ),
    # 3.5 onsets per beat (the limit) on a kit of percussiveness 0.5 (the limit): doubled;
    # 3.6 at 100 doubles to 200, the limit.
    (
        (90.0, 5.25, 0.9, 0.25),
        (180.0, 2.0, "read 90 BPM, 3.5 onsets per beat on a driving kit: half time; doubled"),
    ),
    (
        (100.0, 6.0, 0.9, 0.25),
        (200.0, 2.0, "read 100 BPM, 3.6 onsets per beat on a driving kit: half time; doubled"),
    ),
    # The same on a light kit (0.45 percussive): its onsets are subdivisions, kept.
    ((90.0, 5.25, 0.9, 0.23), (90.0, 1.0, "read 90 BPM, 3.5 onsets per beat: kept")),
]


@pytest.mark.parametrize(("read", "expected"), OCTAVES)
def test_the_octave_and_what_explain_says_of_it(
    read: tuple[float, float, float, float], expected: tuple[float, float, str]
) -> None:
    tempo, onsets, beat, kit = read
    bpm, factor, why = expected
    assert reading(tempo, onsets, beat, kit) == TempoChoice(bpm, tempo, factor, why)
