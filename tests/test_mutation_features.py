"""The tempo and pulse a user gets in genrescore_bpm, on metronomes of known tempo (mutation
survivors of scoring/features.py's tempo_and_pulse; see tests/MUTATION.md). The oracle is
the click track's own tempo, written by hand; the estimator reads clicks within 0.2 %, so a
0.5 % tolerance still catches a wrong constant (60 s read as 61 is 1.7 % off)."""

from __future__ import annotations

import pytest

from beetsplug.genrescore.scoring.features import extract_features

from . import signals


@pytest.mark.parametrize("bpm", [72.0, 90.0, 120.0, 140.0, 168.0, 200.0])
def test_a_metronome_reads_at_its_tempo_with_a_clear_pulse(bpm: float) -> None:
    features = extract_features(y=signals.click_track(bpm, 20.0), sr=signals.SR)
    assert features.tempo == pytest.approx(bpm, rel=0.005)
    assert features.beat_strength > 0.9


def test_noise_has_no_clear_pulse() -> None:
    features = extract_features(y=signals.white_noise(20.0), sr=signals.SR)
    assert features.beat_strength < 0.1
