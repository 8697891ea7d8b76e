"""scoring.dsp against librosa and scipy where the plain tests did not look (mutation
survivors of scoring/dsp.py; see tests/MUTATION.md): a 2-band maximum filter, the chroma
basis's default size, and find_peaks on the shortest and edge cases."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal

from beetsplug.genrescore.scoring import dsp

from . import signals


def test_onset_strength_with_a_two_band_maximum_filter() -> None:
    y = signals.boom_bap(seconds=3.0)
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, center=False)) ** 2
    mel_db = librosa.power_to_db(librosa.filters.mel(sr=signals.SR, n_fft=2048) @ power, amin=1e-10)
    expected = librosa.onset.onset_strength(
        S=mel_db, sr=signals.SR, hop_length=512, center=False, max_size=2
    )
    np.testing.assert_allclose(
        dsp.onset_strength(mel_db, max_size=2), expected, rtol=1e-5, atol=1e-6
    )


def test_the_chroma_basis_has_twelve_pitch_classes_by_default() -> None:
    expected = librosa.filters.chroma(sr=22050, n_fft=2048, tuning=0.0)
    got = dsp.chroma_filters(sr=22050, n_fft=2048)
    assert got.shape == expected.shape == (12, 1025)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("values", "distance"),
    [
        ([0.0, 1.0, 0.0], 1),  # three samples: the shortest with a peak
        ([0.0, 1.0], 1),  # two: none
        ([1.0, 0.0, 0.5, 0.0], 1),  # the first sample is never a peak, however high
        ([0.0, 0.5, 0.0, 1.0], 1),  # nor the last
        ([0.0, 1.0, 0.0, 2.0, 0.0], 3),  # two peaks closer than 3: the higher stays
        ([0.0, 2.0, 0.0, 1.0, 0.0, 3.0, 0.0], 3),  # three: the highest, then the next apart
    ],
)
def test_find_peaks_short_and_edge_cases_as_scipy(values: list[float], distance: int) -> None:
    x = np.array(values)
    expected, _ = scipy.signal.find_peaks(x, distance=distance)
    np.testing.assert_array_equal(dsp.find_peaks(x, distance=distance), expected)
    if distance == 1:  # the default: no distance at all
        np.testing.assert_array_equal(dsp.find_peaks(x), scipy.signal.find_peaks(x)[0])
