"""Known answers for the heuristic audio features, on signals synthesized in the test."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import scipy.ndimage

from beetsplug.genrescore.scoring.features import (
    AudioFeatures,
    _median_filter,
    combine,
    extract_features,
)

from . import signals

SR = signals.SR


def features(y: np.ndarray) -> AudioFeatures:
    return extract_features(y=y, sr=SR)


@pytest.fixture(scope="module")
def sine() -> AudioFeatures:
    return features(signals.sine(440.0))


@pytest.fixture(scope="module")
def noise() -> AudioFeatures:
    return features(signals.white_noise())


@pytest.fixture(scope="module")
def kicks() -> AudioFeatures:
    return features(signals.kick_pattern(bpm=120.0))


@pytest.mark.parametrize("bpm", [90.0, 128.0, 168.0])
def test_click_track_gives_its_tempo(bpm: float) -> None:
    result = features(signals.click_track(bpm))
    assert result.tempo == pytest.approx(bpm, rel=0.02)
    assert result.beat_strength > 0.8
    assert result.onset_rate == pytest.approx(bpm / 60.0, rel=0.1)


def test_click_track_tempo_is_not_halved_at_the_edge_of_the_range() -> None:
    # 200 BPM repeats at 100 as well, where the tempo prior is higher.
    assert features(signals.click_track(200.0)).tempo == pytest.approx(200.0, rel=0.02)


def test_sine_is_tonal_clean_and_not_percussive(sine: AudioFeatures, noise: AudioFeatures) -> None:
    assert sine.chroma_entropy < 0.45
    assert max(sine.chroma_mean) == sine.chroma_mean[9]  # 440 Hz is an A
    assert sine.spectral_flatness < 1e-3
    assert sine.spectral_centroid == pytest.approx(440.0, rel=0.05)
    assert sine.spectral_centroid < noise.spectral_centroid / 5
    assert sine.percussive_ratio < 0.05
    assert sine.beat_strength < 0.1
    assert sine.onset_rate == 0.0
    assert sine.rms_mean == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_white_noise_is_flat_bright_and_atonal(noise: AudioFeatures) -> None:
    assert noise.spectral_flatness > 0.4
    assert noise.spectral_centroid > 4000.0
    assert noise.spectral_rolloff > 8000.0
    assert noise.chroma_entropy > 0.95
    assert noise.zero_crossing_rate == pytest.approx(0.5, abs=0.02)
    assert noise.beat_strength < 0.2


def test_kick_drum_pattern_is_percussive_with_heavy_bass(
    kicks: AudioFeatures, sine: AudioFeatures, noise: AudioFeatures
) -> None:
    assert kicks.percussive_ratio > 0.5
    assert kicks.percussive_ratio > 10 * sine.percussive_ratio
    assert kicks.bass_share > 0.8
    assert noise.bass_share < 0.05
    assert kicks.tempo == pytest.approx(120.0, rel=0.02)


def test_vibrato_is_not_counted_as_onsets() -> None:
    # Four bowed chords with 5.5 Hz vibrato in 10 s: 0.4 note changes a second.
    assert features(signals.string_quartet()).onset_rate < 1.0


def test_loud_and_quiet_sections_widen_the_dynamic_range() -> None:
    steady, sections = signals.steady_and_sections()
    steady_range = features(steady).rms_db_range
    sections_range = features(sections).rms_db_range
    assert steady_range < 1.0
    assert sections_range > 18.0  # the sections are 24 dB apart


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.zeros(SR * 10, dtype=np.float32), "silent"),
        (np.full(SR, 1e-6, dtype=np.float32), "silent"),
        (signals.sine(seconds=0.05), "too short"),
        (np.stack([signals.sine(), signals.sine()]), "mono"),
        (np.full(SR, np.nan, dtype=np.float32), "non-finite"),
    ],
    ids=["zeros", "below-one-bit", "50ms", "stereo", "nan"],
)
def test_unusable_audio_raises_value_error(y: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        features(y)


def test_short_and_quiet_audio_still_gives_finite_features() -> None:
    quiet = signals.sine(seconds=0.3, amplitude=1e-3)
    result = features(quiet)
    values = [getattr(result, field.name) for field in dataclasses.fields(result)]
    flat = [v for value in values for v in (value if isinstance(value, tuple) else (value,))]
    assert all(np.isfinite(flat))
    assert result.tempo == 0.0  # too short to hold two beats
    assert result.duration == pytest.approx(0.3, abs=1e-3)


def test_features_are_plain_data_that_pickle(noise: AudioFeatures) -> None:
    for field in dataclasses.fields(noise):
        value = getattr(noise, field.name)
        if isinstance(value, tuple):
            assert all(type(item) is float for item in value), field.name
        else:
            assert type(value) is float, field.name
    assert len(noise.chroma_mean) == 12
    assert sum(noise.chroma_mean) == pytest.approx(1.0)
    assert pickle.loads(pickle.dumps(noise)) == noise


@pytest.mark.parametrize("axis", [0, 1])
def test_median_filter_matches_scipy(axis: int) -> None:
    values = np.random.default_rng(5).random((40, 60)).astype(np.float32)
    size = [1, 1]
    size[axis] = 17
    expected = scipy.ndimage.median_filter(values, size=tuple(size), mode="reflect")
    np.testing.assert_array_equal(_median_filter(values, size=17, axis=axis), expected)


@pytest.mark.parametrize("size", [1, 3, 5, 9, 15, 17, 31, 33])
def test_median_filter_picks_the_middle_value_at_any_odd_size(size: int) -> None:
    # Ties (small integers), a third axis, and windows longer than the axis.
    rng = np.random.default_rng(size)
    values = rng.integers(0, 6, size=(7, 12, 40)).astype(np.float32)
    for axis in range(values.ndim):
        pad = [(0, 0)] * values.ndim
        pad[axis] = (size // 2, size // 2)
        windows = np.lib.stride_tricks.sliding_window_view(
            np.pad(values, pad, mode="symmetric"), size, axis=axis
        )
        expected = np.median(windows, axis=-1)
        np.testing.assert_array_equal(_median_filter(values, size=size, axis=axis), expected)


def test_combine_takes_the_median_tempo_and_duration_weighted_means(
    sine: AudioFeatures, noise: AudioFeatures
) -> None:
    half_octave_error = dataclasses.replace(noise, tempo=84.0)
    windows = [
        dataclasses.replace(noise, tempo=168.0),
        half_octave_error,
        dataclasses.replace(sine, tempo=170.0, duration=30.0),
    ]
    merged = combine(windows)
    assert merged.tempo == 168.0
    assert merged.duration == 50.0
    centroid = (20 * noise.spectral_centroid + 30 * sine.spectral_centroid) / 50
    assert merged.spectral_centroid == pytest.approx(centroid)
    first_chroma = (20 * noise.chroma_mean[0] + 30 * sine.chroma_mean[0]) / 50
    assert merged.chroma_mean[0] == pytest.approx(first_chroma)


def test_combine_counts_a_quiet_window_against_a_loud_one_as_dynamics() -> None:
    loud = features(signals.white_noise(amplitude=0.3))
    quiet = features(signals.white_noise(amplitude=0.003, seed=1))
    assert loud.rms_db_range < 1.0
    assert quiet.rms_db_range < 1.0
    assert combine([loud, quiet]).rms_db_range == pytest.approx(40.0, abs=1.0)


def test_combine_of_one_window_is_that_window(sine: AudioFeatures) -> None:
    assert combine([sine]) == sine


def test_combine_of_nothing_raises() -> None:
    with pytest.raises(ValueError, match="no windows"):
        combine([])
