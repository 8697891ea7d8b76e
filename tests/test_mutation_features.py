"""The tempo and pulse a user gets in genrescore_bpm, on metronomes of known tempo (mutation
survivors of scoring/features.py's tempo_and_pulse; see tests/MUTATION.md). The oracle is
the click track's own tempo, written by hand; the estimator reads clicks within 0.2 %, so a
0.5 % tolerance still catches a wrong constant (60 s read as 61 is 1.7 % off)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from beetsplug.genrescore.scoring.features import (
    MAX_BPM,
    MIN_BPM,
    AudioFeatures,
    _level_range,
    _onset_peaks,
    _percussive_ratio,
    _pitch_class_profile,
    _refined_peak,
    _weighted_mean,
    _weighted_median,
    combine,
    extract_features,
    tempo_and_pulse,
)

from . import signals


@pytest.mark.parametrize("bpm", [72.0, 90.0, 120.0, 140.0, 168.0, 200.0])
def test_a_metronome_reads_at_its_tempo_with_a_clear_pulse(bpm: float) -> None:
    features = extract_features(y=signals.click_track(bpm, 20.0), sr=signals.SR)
    assert features.tempo == pytest.approx(bpm, rel=0.005)
    assert features.beat_strength > 0.9


def test_noise_has_no_clear_pulse() -> None:
    features = extract_features(y=signals.white_noise(20.0), sr=signals.SR)
    assert features.beat_strength < 0.1


# --- tempo_and_pulse on hand-made onset envelopes ------------------------------------------
# The oracle is the envelope's own spacing: clicks every ``period`` frames at hop 512 and
# 22.05 kHz are 60 * 22050 / 512 / period BPM, computed here by hand.

SR = 22050
FRAME_RATE = SR / 512  # 43.07 frames a second


def _clicks(frames: int, period: int, amplitude: float = 1.0) -> npt.NDArray[np.float64]:
    envelope = np.zeros(frames)
    envelope[::period] = amplitude
    return envelope


def test_a_flat_or_too_short_envelope_has_no_tempo_and_no_pulse() -> None:
    assert tempo_and_pulse(onset_envelope=np.zeros(1000), sr=SR) == (0.0, 0.0)
    assert tempo_and_pulse(onset_envelope=np.ones(5), sr=SR) == (0.0, 0.0)


def test_the_shortest_envelope_that_holds_two_fastest_beats_reads_a_tempo() -> None:
    # The fastest beat (240 BPM) is 10.8 frames, so a lag of 11 frames; a period is only
    # seen if it fits twice: 23 frames hold it (lags 0-22), 22 do not.
    for frames in (23, 24):
        tempo, _ = tempo_and_pulse(onset_envelope=_clicks(frames, 11), sr=SR)
        assert tempo == pytest.approx(60.0 * FRAME_RATE / 11, rel=0.01)  # 234.9 BPM
    assert tempo_and_pulse(onset_envelope=_clicks(22, 11), sr=SR) == (0.0, 0.0)


def test_clicks_every_20_frames_read_at_the_default_hop_of_512() -> None:
    tempo, _ = tempo_and_pulse(onset_envelope=_clicks(400, 20), sr=SR)
    assert tempo == pytest.approx(60.0 * FRAME_RATE / 20, rel=0.001)  # 129.2 BPM


def test_a_faint_pulse_still_reads_its_tempo() -> None:
    # Onsets 0.01 dB strong: far under the floor, so hardly any pulse, but the tempo is there.
    tempo, pulse = tempo_and_pulse(onset_envelope=_clicks(400, 20, 0.01), sr=SR)
    assert tempo == pytest.approx(60.0 * FRAME_RATE / 20, rel=0.001)
    assert 0.0 < pulse < 0.01


def test_tempi_outside_the_range_read_at_its_bounds() -> None:
    # Every 65 frames is 39.75 BPM: read as the 40 BPM floor.
    tempo, _ = tempo_and_pulse(onset_envelope=_clicks(400, 65), sr=SR)
    assert tempo == MIN_BPM
    # Every 10 frames is 258 BPM, in 30 frames (too short for the 129 BPM octave): 240.
    tempo, _ = tempo_and_pulse(onset_envelope=_clicks(30, 10), sr=SR)
    assert tempo == MAX_BPM


def test_the_pulse_stays_between_0_and_1() -> None:
    # Loud clicks on a short envelope: the overlap correction would take it past 1.
    _, pulse = tempo_and_pulse(onset_envelope=_clicks(41, 20, 1000.0), sr=SR)
    assert pulse == 1.0
    # One click: nothing repeats, the autocorrelation past the click is negative.
    single = np.zeros(400)
    single[200] = 1.0
    _, pulse = tempo_and_pulse(onset_envelope=single, sr=SR)
    assert pulse == 0.0


# --- _refined_peak: the vertex of a parabola through three samples --------------------------
# The oracle: samples of -(x - c)^2 (a parabola whose vertex c is known), or a vertex
# computed by hand from three values.


def _parabola(vertex: float, length: int) -> npt.NDArray[np.float64]:
    return -((np.arange(length) - vertex) ** 2)


@pytest.mark.parametrize(
    ("vertex", "start"),
    [(1.2, 1), (1.2, 2), (2.3, 2), (2.3, 3), (3.2, 2), (3.2, 3)],
)
def test_a_parabola_peak_is_found_between_samples(vertex: float, start: int) -> None:
    # Five samples; the peaks next to the ends (1 and 3 = len - 2) included, and a start on
    # the flank steps onto the highest sample first.
    assert _refined_peak(_parabola(vertex, 5), start) == pytest.approx(vertex, abs=1e-12)


def test_a_peak_at_an_end_has_no_neighbour_to_refine_with() -> None:
    values = np.array([0.0, 0.0, 1.0, 0.5])
    assert _refined_peak(values, 0) == 0.0
    assert _refined_peak(values, 3) == 3.0
    # Stepping onto the first or last sample stops there too.
    assert _refined_peak(np.array([1.0, 0.5, 0.2, 0.0]), 1) == 0.0
    assert _refined_peak(np.array([0.0, 0.2, 0.5, 1.0]), 2) == 3.0


def test_only_the_next_neighbours_are_stepped_onto() -> None:
    # A higher peak two samples away is not this one's: vertex of (0, 1, 0.5) is 1 + 1/6.
    values = np.array([0.0, 1.0, 0.5, 2.0, 0.0])
    assert _refined_peak(values, 1) == pytest.approx(1.0 + 1.0 / 6.0)


def test_a_plateau_reads_at_its_first_sample() -> None:
    assert _refined_peak(np.ones(5), 2) == 1.0


def test_the_refinement_moves_half_a_sample_at_most() -> None:
    # Through (0, 2, 3) the parabola's vertex is 1.5 samples on: clipped to 0.5.
    assert _refined_peak(np.array([0.0, -1.0, 0.0, 2.0, 3.0]), 2) == 3.5
    assert _refined_peak(np.array([3.0, 2.0, 0.0, -1.0, 0.0]), 2) == 0.5


def test_a_pulse_faster_than_the_range_reads_at_a_multiple_of_its_period() -> None:
    # Clicks every 3 frames (861 BPM) also repeat every 21 frames: 123.0 BPM, the multiple
    # nearest the 120 BPM prior. (Smoothed, they anti-correlate at a lag of one frame.)
    tempo, _ = tempo_and_pulse(onset_envelope=_clicks(400, 3), sr=SR)
    assert tempo == pytest.approx(60.0 * FRAME_RATE / 21, rel=0.001)


@pytest.mark.parametrize("period", [20, 30])
def test_onsets_at_the_floor_count_half(period: int) -> None:
    # The docstring's "onset fluctuations near ONSET_FLOOR_DB count half": clicks whose energy
    # per frame, once smoothed by the 3-tap Hann (0.25, 0.5, 0.25: 0.375 of a click's
    # square), equals the floor's 0.1 dB squared give a pulse of about 0.5.
    amplitude = np.sqrt(0.1**2 * period / 0.375)
    _, pulse = tempo_and_pulse(onset_envelope=_clicks(400, period, amplitude), sr=SR)
    assert pulse == pytest.approx(0.5, abs=0.05)


def test_at_16_frames_a_second_240_bpm_is_a_lag_of_exactly_4_frames() -> None:
    # 8 kHz, hop 500: 240 BPM is 4.0 frames, the shortest lag searched (not 5): clicks every
    # 4 frames in 9 frames (lags up to 4) read at 240 BPM.
    tempo, _ = tempo_and_pulse(onset_envelope=_clicks(9, 4), sr=8000, hop_length=500)
    assert tempo == pytest.approx(240.0, rel=0.01)


# --- the summaries of several windows, and the dynamic range, by hand -------------------------


def test_weighted_mean_and_median_by_hand() -> None:
    values = np.array([1.0, 3.0])
    assert _weighted_mean(values, np.array([0.1, 0.3])) == pytest.approx(2.5)  # 1.0 / 0.4
    assert _weighted_mean(values, np.array([0.0, 0.0])) == 2.0  # no weight: the plain mean
    three = np.array([10.0, 1.0, 2.0])
    assert _weighted_median(three, np.array([1.0, 0.0, 0.0])) == 10.0  # all the weight
    assert _weighted_median(three, np.array([0.0, 0.0, 0.0])) == 2.0  # the plain median


def _levels(*db: float, frames: int = 10) -> npt.NDArray[np.float64]:
    """Frame RMS for ``frames`` frames at each level, in dB of power."""
    return np.repeat(10.0 ** (np.array(db) / 20.0), frames)


def test_the_dynamic_range_is_read_on_blocks_of_one_second() -> None:
    # One frame a second: each frame is a block. Alternating 0 and -20 dB: 20 dB of range
    # (a two-frame block would average them to one level).
    rms = np.tile(10.0 ** (np.array([0.0, -20.0]) / 20.0), 10)
    assert _level_range(rms, 1.0) == pytest.approx(20.0)


def test_passages_40_db_under_the_mean_do_not_count() -> None:
    # Half at 0 dB, half quieter: the mean power is 0.5 (-3.0 dB), the gate -43.0 dB.
    assert _level_range(_levels(0.0, -42.0), 1.0) == pytest.approx(42.0)
    assert _level_range(_levels(0.0, -44.0), 1.0) == 0.0
    assert _level_range(_levels(0.0, -60.0), 1.0) == 0.0


def test_a_track_under_100_db_has_no_dynamic_range() -> None:
    # -100.5 and -102.2 dB (blocks of two frames at two frames a second): silence, not
    # dynamics, whatever the difference.
    assert _level_range(np.sqrt(np.repeat([0.9e-10, 0.6e-10], 10)), 2.0) == 0.0


def test_bad_audio_is_refused_with_a_message_that_says_why() -> None:
    y = signals.sine(440.0, 1.0).astype(np.float64)
    y[100] = np.nan
    with pytest.raises(ValueError, match=r"^audio has non-finite samples$"):
        extract_features(y=y, sr=signals.SR)
    with pytest.raises(ValueError, match=r"^audio is silent$"):
        extract_features(y=np.zeros(signals.SR), sr=signals.SR)


def test_one_least_significant_bit_of_16_bit_audio_is_not_silence() -> None:
    # A square wave of +-1/32768: the quietest sound a 16-bit file holds.
    y = np.where(np.arange(signals.SR) % 100 < 50, 1.0, -1.0) / 32768
    features = extract_features(y=y, sr=signals.SR)
    assert np.isfinite(features.tempo)


def _window(tempo: float, level: float, duration: float) -> AudioFeatures:
    """A window's features, made by hand: ``level`` in every mean-like field."""
    return AudioFeatures(
        tempo=tempo,
        beat_strength=level,
        onset_rate=level,
        rms_mean=0.1,
        rms_db_range=0.0,
        spectral_centroid=level,
        spectral_rolloff=level,
        spectral_flatness=level,
        zero_crossing_rate=level,
        percussive_ratio=level,
        bass_share=level,
        chroma_mean=(level,) * 12,
        chroma_entropy=level,
        duration=duration,
    )


def test_windows_are_weighted_by_their_duration_however_short() -> None:
    # 0.25 s at 0.2 and 0.75 s at 0.6: (0.05 + 0.45) / 1.0 = 0.5; the plain mean is 0.4.
    track = combine([_window(100.0, 0.2, 0.25), _window(120.0, 0.6, 0.75)])
    assert track.spectral_centroid == pytest.approx(0.5)
    assert track.chroma_mean == pytest.approx((0.5,) * 12)
    assert track.duration == pytest.approx(1.0)


def test_windows_without_a_duration_count_alike() -> None:
    track = combine([_window(100.0, 0.2, 0.0), _window(120.0, 0.6, 0.0)])
    assert track.spectral_centroid == pytest.approx(0.4)
    assert track.chroma_mean == pytest.approx((0.4,) * 12)


def test_no_windows_is_refused_with_a_message_that_says_so() -> None:
    with pytest.raises(ValueError, match=r"^no windows to combine$"):
        combine([])


def test_the_percussive_share_of_a_click_a_silence_and_a_held_note() -> None:
    # Mel power, 128 bands x 100 frames. A quiet click (one frame, every band; total energy
    # 0.00128, under 1) is all percussive; a held note (one band, every frame) none; silence
    # has no share.
    click = np.zeros((128, 100))
    click[:, 50] = 1e-5
    assert _percussive_ratio(click) == 1.0
    note = np.zeros((128, 100))
    note[40, :] = 1e-5
    assert _percussive_ratio(note) == 0.0
    assert _percussive_ratio(np.zeros((128, 100))) == 0.0


def test_the_pitch_class_profile_of_one_quiet_note_and_of_silence() -> None:
    # One pitch class (A) with 0.5 of energy over 10 frames: all its share, no entropy.
    chroma = np.zeros((12, 10))
    chroma[9, :] = 0.05
    profile, entropy = _pitch_class_profile(chroma)
    assert profile == pytest.approx((0.0,) * 9 + (1.0, 0.0, 0.0))
    assert entropy == pytest.approx(0.0)
    # Silence: every class alike, the highest entropy.
    assert _pitch_class_profile(np.zeros((12, 10))) == ((1.0 / 12,) * 12, 1.0)


def test_a_finer_hop_reads_the_same_tempo() -> None:
    features = extract_features(y=signals.click_track(120.0, 10.0), sr=signals.SR, hop_length=256)
    assert features.tempo == pytest.approx(120.0, rel=0.005)


def test_the_shortest_audio_analysed_is_one_fft_and_one_hop() -> None:
    # 2048 + 512 = 2560 samples (0.116 s at 22.05 kHz); one fewer is refused, saying why.
    y = signals.sine(440.0, 1.0)
    assert extract_features(y=y[:2560], sr=signals.SR).duration == pytest.approx(2560 / 22050)
    with pytest.raises(ValueError, match="too short to analyse: 2559 samples, need 2560"):
        extract_features(y=y[:2559], sr=signals.SR)


def test_an_onset_within_30_ms_of_a_stronger_one_is_not_another_onset() -> None:
    # Peaks of 10, 8 (two frames on) and 10 dB. At hop 256 (86 frames a second) two frames
    # are 23 ms, within the 30 ms wait: the weaker peak goes. At hop 512 they are 46 ms apart.
    envelope = np.zeros(200)
    envelope[[50, 52, 100]] = [10.0, 8.0, 10.0]
    assert _onset_peaks(envelope, 22050 / 256).tolist() == [50, 100]
    assert _onset_peaks(envelope, 22050 / 512).tolist() == [50, 52, 100]
