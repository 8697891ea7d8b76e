"""Known answers for the tempo's octave: a table of readings, and synthesized grooves."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from beetsplug.genrescore.demo import synth
from beetsplug.genrescore.scoring.features import AudioFeatures, combine, extract_features
from beetsplug.genrescore.scoring.heuristics import choose_tempo, score, score_descriptors

_BASE = AudioFeatures(
    tempo=120.0,
    beat_strength=0.95,
    onset_rate=4.0,
    rms_mean=0.1,
    rms_db_range=3.0,
    spectral_centroid=1500.0,
    spectral_rolloff=4000.0,
    spectral_flatness=0.02,
    zero_crossing_rate=0.05,
    percussive_ratio=0.3,
    bass_share=0.3,
    chroma_mean=(1.0 / 12,) * 12,
    chroma_entropy=0.7,
    duration=30.0,
)


@pytest.mark.parametrize(
    ("tempo", "onsets_per_beat", "percussive_ratio", "beat_strength", "bpm"),
    [
        pytest.param(180.0, 1.0, 0.1, 0.95, 90.0, id="eighths-of-a-boom-bap-halved"),
        pytest.param(120.0, 1.0, 0.1, 0.95, 60.0, id="eighths-of-a-slow-piece-halved"),
        pytest.param(90.0, 1.2, 0.0, 0.95, 90.0, id="one-note-a-beat-slow-kept"),
        pytest.param(180.0, 1.4, 0.1, 0.95, 180.0, id="swing-subdivision-kept"),
        pytest.param(219.0, 1.33, 0.0, 0.95, 109.5, id="too-fast-for-a-beat-halved"),
        pytest.param(210.0, 2.0, 0.6, 0.95, 210.0, id="fast-with-subdivisions-kept"),
        pytest.param(128.0, 2.0, 0.4, 0.95, 128.0, id="eighths-kept"),
        pytest.param(80.0, 4.0, 0.35, 0.95, 160.0, id="fast-backbeat-doubled"),
        pytest.param(60.0, 4.0, 0.12, 0.95, 60.0, id="slow-shuffle-kept"),
        pytest.param(120.0, 4.0, 0.4, 0.95, 120.0, id="double-above-200-kept"),
        pytest.param(180.0, 1.0, 0.1, 0.1, 180.0, id="no-clear-beat-kept"),
        pytest.param(0.0, 0.0, 0.1, 0.0, 0.0, id="no-tempo"),
    ],
)
def test_the_octave_follows_the_onsets_per_beat(
    tempo: float, onsets_per_beat: float, percussive_ratio: float, beat_strength: float, bpm: float
) -> None:
    features = dataclasses.replace(
        _BASE,
        tempo=tempo,
        onset_rate=onsets_per_beat * tempo / 60.0,
        percussive_ratio=percussive_ratio,
        beat_strength=beat_strength,
    )
    choice = choose_tempo(features)
    assert choice.bpm == pytest.approx(bpm)
    assert choice.measured == tempo
    assert choice.why


def _track_features(y: np.ndarray) -> AudioFeatures:
    """The features of three 10 s windows, as the analyzer takes them."""
    window = 10 * synth.SR
    starts = (0, len(y) // 2 - window // 2, len(y) - window)
    return combine([extract_features(y=y[s : s + window], sr=synth.SR) for s in starts])


@pytest.mark.parametrize(
    ("style", "bpm"),
    [("hiphop", 90.0), ("rock", 160.0), ("reel", 110.0), ("piano", 60.0), ("jazz", 180.0)],
)
def test_synthesized_grooves_read_at_their_tempo(style: str, bpm: float) -> None:
    y = synth.STYLES[style](30.0, bpm=bpm)
    assert choose_tempo(_track_features(y)).bpm == pytest.approx(bpm, rel=0.02)


def test_half_time_groove_reads_at_its_notated_tempo() -> None:
    y = synth.halftime(30.0, bpm=140.0)
    assert choose_tempo(_track_features(y)).bpm == pytest.approx(140.0, rel=0.02)


def test_reading_the_boom_bap_at_its_beat_moves_the_rules_towards_hip_hop() -> None:
    # Read at double time (181 BPM) the demo's boom-bap track sounded fast to the rules.
    result = score(_track_features(synth.hiphop(30.0)))
    assert result.tempo.bpm == pytest.approx(90.0, rel=0.02)
    assert result.descriptors.tempo == result.tempo.bpm
    double = score_descriptors(dataclasses.replace(result.descriptors, tempo=result.tempo.measured))
    settled = {hit.genre: hit.score for hit in result.hits}
    doubled = {hit.genre: hit.score for hit in double.hits}
    assert settled["hip hop"] > doubled["hip hop"]
    assert settled["punk rock"] < doubled["punk rock"]
