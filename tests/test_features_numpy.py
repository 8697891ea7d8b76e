"""The numpy versions of librosa's and scipy's functions (``scoring.dsp``) against the originals.

The features once called librosa and scipy directly; ``scoring.dsp`` repeats their operations
in numpy so that a process's first window does not pay seconds to import them. Each function
is checked here against its original on the signals the features meet (noise, a sine, drum
loops, a string quartet, silence before music, and a 16 kHz recording), and so is
``extract_features`` as a whole against the same computation through librosa and scipy.
Today the two agree to the bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import scipy.signal

from beetsplug.genrescore.scoring import dsp, features
from beetsplug.genrescore.scoring.features import (
    N_CHROMA,
    N_FFT,
    N_MELS,
    VIBRATO_MAX_BANDS,
    AudioFeatures,
    extract_features,
)

from . import signals
from .interpreter import fresh_python

HOP = 512
#: Tolerances on arrays: the ports repeat their originals' operations, so any difference is
#: a change in the originals (or in numpy) worth a look.
RTOL = 1e-5
ATOL = 1e-6


def _silent_then_loud() -> np.ndarray:
    # Three seconds of digital silence, where the dB spectrogram sits on its floor, then a
    # drum loop: power_to_db's 80 dB clip and the first onsets out of silence.
    music = signals.boom_bap(seconds=5.0)
    return np.concatenate([np.zeros(3 * signals.SR, dtype=np.float32), music])


def _at_16k(y: np.ndarray) -> np.ndarray:
    resampled: np.ndarray = scipy.signal.resample_poly(y, 320, 441).astype(np.float32)
    return resampled


SIGNALS: dict[str, tuple[np.ndarray, int]] = {
    "noise": (signals.white_noise(), signals.SR),
    "sine": (signals.sine(440.0), signals.SR),
    "click": (signals.click_track(168.0), signals.SR),
    "four_on_the_floor": (signals.four_on_the_floor(), signals.SR),
    "metal": (signals.metal(), signals.SR),
    "string_quartet": (signals.string_quartet(), signals.SR),
    "silent_then_loud": (_silent_then_loud(), signals.SR),
    "boom_bap_16k": (_at_16k(signals.boom_bap()), 16000),
    "short": (signals.white_noise(seconds=0.2), signals.SR),
    # The shortest window extract_features takes: two frames.
    "two_frames": (signals.white_noise(seconds=(N_FFT + HOP) / signals.SR), signals.SR),
}


@dataclasses.dataclass(frozen=True)
class Spectra:
    """The intermediate arrays of ``extract_features``, each computed by librosa."""

    y: np.ndarray
    sr: int
    stft: np.ndarray
    magnitude: np.ndarray
    power: np.ndarray
    mel_db: np.ndarray


_SPECTRA: dict[str, Spectra] = {}


@pytest.fixture(params=sorted(SIGNALS))
def spectra(request: pytest.FixtureRequest) -> Spectra:
    name: str = request.param
    if name not in _SPECTRA:
        y, sr = SIGNALS[name]
        stft = librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=False)
        magnitude = np.abs(stft)
        power = magnitude**2
        mel = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS) @ power
        mel_db = librosa.power_to_db(mel, amin=1e-10)
        _SPECTRA[name] = Spectra(y, sr, stft, magnitude, power, mel_db)
    return _SPECTRA[name]


def assert_close(got: np.ndarray, expected: np.ndarray, *, atol: float = ATOL) -> None:
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=atol)


@pytest.mark.parametrize("n_fft", [512, 2048])
def test_hann_window_is_scipys_periodic_hann(n_fft: int) -> None:
    expected = scipy.signal.get_window("hann", n_fft, fftbins=True)
    np.testing.assert_allclose(dsp.hann_window(n_fft), expected, rtol=0, atol=1e-15)


def test_stft(spectra: Spectra) -> None:
    assert_close(dsp.stft(spectra.y, n_fft=N_FFT, hop_length=HOP), spectra.stft)


@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_fft_frequencies(sr: int) -> None:
    expected = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    np.testing.assert_array_equal(dsp.fft_frequencies(sr=sr, n_fft=N_FFT), expected)


@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_mel_filters(sr: int) -> None:
    expected = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS)
    assert_close(dsp.mel_filters(sr=sr, n_fft=N_FFT, n_mels=N_MELS), expected)


@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_chroma_filters(sr: int) -> None:
    expected = librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=0.0, n_chroma=N_CHROMA)
    assert_close(dsp.chroma_filters(sr=sr, n_fft=N_FFT, n_chroma=N_CHROMA), expected)


def test_power_to_db_clips_80_db_below_the_maximum(spectra: Spectra) -> None:
    mel = dsp.mel_filters(sr=spectra.sr, n_fft=N_FFT, n_mels=N_MELS) @ spectra.power
    got = dsp.power_to_db(mel, amin=1e-10)
    assert_close(got, spectra.mel_db)
    # The clip is computed in float32: its floor, max - 80, is rounded to float32 and may sit
    # up to half an ulp below the float64 difference (which bits depends on the CPU's log10).
    floor = float(got.max()) - 80.0
    assert float(got.min()) >= floor - float(np.spacing(np.float32(abs(floor))))


def test_power_to_db_clip_is_reached() -> None:
    # The silence before the music sits at the -100 dB floor, more than 80 dB down.
    mel_db = dsp.power_to_db(np.array([[0.0, 1e-12, 1.0, 10.0]], dtype=np.float32), amin=1e-10)
    assert_close(mel_db, librosa.power_to_db(np.array([[0.0, 1e-12, 1.0, 10.0]], np.float32)))
    assert mel_db.min() == pytest.approx(10.0 - 80.0)


@pytest.mark.parametrize("max_size", [1, VIBRATO_MAX_BANDS, 4])
def test_onset_strength(spectra: Spectra, max_size: int) -> None:
    expected = librosa.onset.onset_strength(
        S=spectra.mel_db, sr=spectra.sr, hop_length=HOP, center=False, max_size=max_size
    )
    assert_close(dsp.onset_strength(spectra.mel_db, max_size=max_size), expected)


def test_frame_rms(spectra: Spectra) -> None:
    expected = librosa.feature.rms(y=spectra.y, frame_length=N_FFT, hop_length=HOP, center=False)
    assert_close(dsp.frame_rms(spectra.y, frame_length=N_FFT, hop_length=HOP), expected[0])


def test_chroma_energy(spectra: Spectra) -> None:
    expected = librosa.feature.chroma_stft(
        S=spectra.power, sr=spectra.sr, n_fft=N_FFT, tuning=0.0, norm=None, n_chroma=N_CHROMA
    )
    basis = dsp.chroma_filters(sr=spectra.sr, n_fft=N_FFT, n_chroma=N_CHROMA)
    got = np.einsum("cf,ft->ct", basis, spectra.power, optimize=True)
    assert_close(got, expected)


@pytest.mark.parametrize("band", [slice(None), slice(19, 558)])
def test_spectral_flatness(spectra: Spectra, band: slice) -> None:
    magnitude = spectra.magnitude[band]
    expected = librosa.feature.spectral_flatness(S=magnitude, amin=1e-10)[0]
    assert_close(dsp.spectral_flatness(magnitude, amin=1e-10), expected)


def test_autocorrelate(spectra: Spectra) -> None:
    envelope = librosa.onset.onset_strength(
        S=spectra.mel_db, sr=spectra.sr, hop_length=HOP, center=False
    )
    smoothed = np.convolve(envelope - envelope.mean(), features._ENV_SMOOTHING, "same")
    got = dsp.autocorrelate(smoothed)
    expected = librosa.autocorrelate(smoothed)
    assert_close(got, expected, atol=ATOL * float(expected[0]))


def test_next_fast_len() -> None:
    for target in range(1, 5000):
        assert dsp.next_fast_len(target) == scipy.fft.next_fast_len(target, real=True), target


def _envelopes(spectra: Spectra) -> Iterator[np.ndarray]:
    for max_size in (1, VIBRATO_MAX_BANDS):
        yield librosa.onset.onset_strength(
            S=spectra.mel_db, sr=spectra.sr, hop_length=HOP, center=False, max_size=max_size
        )


@pytest.mark.parametrize("size", [1, 2, 9, 15])
def test_uniform_filter(spectra: Spectra, size: int) -> None:
    for envelope in _envelopes(spectra):
        expected = scipy.ndimage.uniform_filter1d(envelope, size, mode="nearest")
        assert_close(dsp.uniform_filter1d_nearest(envelope, size), expected)


@pytest.mark.parametrize("distance", [1, 2, 3, 7])
def test_find_peaks(spectra: Spectra, distance: int) -> None:
    for envelope in _envelopes(spectra):
        expected, _ = scipy.signal.find_peaks(envelope, distance=distance)
        np.testing.assert_array_equal(dsp.find_peaks(envelope, distance=distance), expected)


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 1.0, 1.0, 0.0],  # a plateau of two: its left sample
        [0.0, 2.0, 2.0, 2.0, 1.0, 3.0, 3.0, 3.0, 3.0, 0.0],  # the middle, rounded down
        [0.0, 1.0, 1.0, 2.0, 0.0],  # a shoulder is no peak
        [2.0, 1.0, 3.0, 3.0],  # nor are the ends, flat or not
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0],  # equal heights: scipy's tie order
        [0.0, 5.0, 0.0, 4.0, 0.0, 6.0, 0.0, 5.0, 0.0, 1.0, 0.0],  # highest first
        [1.0, 2.0],
        [],
    ],
)
@pytest.mark.parametrize("distance", [1, 2, 3, 4])
def test_find_peaks_plateaus_and_distance(values: list[float], distance: int) -> None:
    x = np.array(values, dtype=np.float32)
    expected, _ = scipy.signal.find_peaks(x, distance=distance)
    np.testing.assert_array_equal(dsp.find_peaks(x, distance=distance), expected)


@contextlib.contextmanager
def _scipy_peak_picking_and_autocorrelation() -> Iterator[None]:
    """Route the helpers of ``tempo_and_pulse`` and ``_onset_peaks`` back to librosa/scipy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dsp, "autocorrelate", librosa.autocorrelate)
        patch.setattr(
            dsp,
            "uniform_filter1d_nearest",
            lambda x, size: scipy.ndimage.uniform_filter1d(x, size, mode="nearest"),
        )
        patch.setattr(
            dsp, "find_peaks", lambda x, distance: scipy.signal.find_peaks(x, distance=distance)[0]
        )
        yield


def _scipy_onsets(envelope: np.ndarray, frame_rate: float) -> np.ndarray:
    """Onset frames as librosa's ``onset_detect`` picks them, through scipy's peak finder and
    filter (the constants are the plugin's, the operations scipy's)."""
    wait = max(1, round(features.ONSET_WAIT_S * frame_rate))
    avg = 2 * round(features.ONSET_AVG_S * frame_rate) + 1
    local_mean = scipy.ndimage.uniform_filter1d(envelope, avg, mode="nearest")
    threshold = max(features.ONSET_DELTA * float(envelope.max()), features.ONSET_FLOOR_DB)
    candidates, _ = scipy.signal.find_peaks(envelope, distance=wait)
    onsets: np.ndarray = candidates[envelope[candidates] >= local_mean[candidates] + threshold]
    return onsets


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The smallest value at which the weights of the values up to it reach half the total,
    walked in plain Python (the plugin uses argsort, cumsum and searchsorted)."""
    pairs = sorted(zip(values.tolist(), weights.astype(np.float64).tolist(), strict=True))
    half, running = 0.5 * sum(weight for _, weight in pairs), 0.0
    if half <= 0.0:
        return float(np.median(values))
    for value, weight in pairs:
        running += weight
        if running >= half:
            return float(value)
    raise AssertionError("unreachable: the weights add up to the total")


def _level_range(rms: np.ndarray, frame_rate: float) -> float:
    """Dynamic range of one-second blocks (features.LEVEL_*), with the blocks' mean power
    taken over a sliding window view instead of the plugin's convolution."""
    block = max(1, min(len(rms), round(features.LEVEL_BLOCK_S * frame_rate)))
    power = np.lib.stride_tricks.sliding_window_view(rms.astype(np.float64) ** 2, block)
    block_power = power.mean(axis=1)
    gate = block_power.mean() / 10.0 ** (features.LEVEL_GATE_DB / 10.0)
    kept = block_power[block_power >= max(gate, features._DB_FLOOR)]
    if len(kept) == 0:
        return 0.0
    low, high = np.percentile(10.0 * np.log10(kept), features.LEVEL_PERCENTILES)
    return float(high - low)


def _percussive_ratio(mel: np.ndarray) -> float:
    """Share of the mel power ``librosa.decompose.hpss`` (soft masks) calls percussive."""
    _, percussive = librosa.decompose.hpss(mel, kernel_size=features.HPSS_KERNEL, power=2.0)
    total = float(mel.sum())
    return float(percussive.sum()) / total if total > 0.0 else 0.0


def _distortion(mel: np.ndarray, sr: int) -> float:
    """The flatness (``librosa.feature.spectral_flatness`` of the power) of the harmonic part
    of ``librosa.decompose.hpss`` (soft masks) in the mel bands whose centres lie within the
    flatness band, weighted median over frames by that part's power."""
    harmonic, _ = librosa.decompose.hpss(mel, kernel_size=features.HPSS_KERNEL, power=2.0)
    centres = librosa.mel_frequencies(n_mels=N_MELS + 2, fmax=sr / 2.0)[1:-1]
    low, high = features.FLATNESS_BAND_HZ
    band = harmonic[(centres >= low) & (centres <= high)]
    weight = band.sum(axis=0)
    if weight.sum() <= 0.0:
        return 0.0
    flatness = librosa.feature.spectral_flatness(S=band, power=1.0, amin=features._DB_FLOOR)[0]
    return _weighted_median(flatness, weight)


def _pitch_class_profile(chroma: np.ndarray) -> tuple[tuple[float, ...], float]:
    """Energy share per pitch class, and the frames' entropy (scipy.stats) weighted by their
    energy."""
    import scipy.stats

    energy = chroma.sum(axis=0)
    if energy.sum() <= 0.0:
        return (1.0 / N_CHROMA,) * N_CHROMA, 1.0
    profile = chroma.sum(axis=1) / energy.sum()
    sounding = energy > 0.0
    entropy = scipy.stats.entropy(chroma[:, sounding], axis=0) / np.log(N_CHROMA)
    return tuple(profile.tolist()), float(np.average(entropy, weights=energy[sounding]))


def _librosa_features(y: np.ndarray, sr: int, hop_length: int = HOP) -> AudioFeatures:
    """``extract_features`` computed through librosa, scipy and the references above.

    Nothing of the plugin is called but :func:`features.tempo_and_pulse`, whose primitives
    (autocorrelation, peak picking, filters) are librosa's and scipy's here
    (:func:`_scipy_peak_picking_and_autocorrelation`); the tempo it finds is checked against
    known answers (clicks and grooves at a set tempo) in ``tests/test_tempo.py``.
    """
    frame_rate = sr / hop_length
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=hop_length, center=False))
    power = magnitude**2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    frame_weight = magnitude.sum(axis=0)
    mel = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS) @ power
    mel_db = librosa.power_to_db(mel, amin=features._DB_FLOOR)
    onset_env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop_length, center=False)
    tempo, beat_strength = features.tempo_and_pulse(
        onset_envelope=onset_env, sr=sr, hop_length=hop_length
    )
    note_env = librosa.onset.onset_strength(
        S=mel_db, sr=sr, hop_length=hop_length, center=False, max_size=VIBRATO_MAX_BANDS
    )
    rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=hop_length, center=False)[0]
    chroma_energy = librosa.feature.chroma_stft(
        S=power, sr=sr, n_fft=N_FFT, tuning=0.0, norm=None, n_chroma=N_CHROMA
    )
    weights = frame_weight if frame_weight.sum() > 0.0 else None
    centroid = librosa.feature.spectral_centroid(S=magnitude, freq=freqs)[0]
    rolloff = librosa.feature.spectral_rolloff(
        S=magnitude, freq=freqs, roll_percent=features.ROLL_PERCENT
    )[0]
    band = (freqs >= features.FLATNESS_BAND_HZ[0]) & (freqs <= features.FLATNESS_BAND_HZ[1])
    flatness = librosa.feature.spectral_flatness(S=magnitude[band], amin=features._DB_FLOOR)[0]
    chroma_mean, chroma_entropy = _pitch_class_profile(chroma_energy)
    onsets = _scipy_onsets(note_env, frame_rate)
    return AudioFeatures(
        tempo=tempo,
        beat_strength=beat_strength,
        onset_rate=len(onsets) * frame_rate / len(note_env),
        rms_mean=float(rms.mean()),
        rms_db_range=_level_range(rms, frame_rate),
        spectral_centroid=float(np.average(centroid, weights=weights)),
        spectral_rolloff=float(np.average(rolloff, weights=weights)),
        spectral_flatness=_weighted_median(flatness, frame_weight),
        zero_crossing_rate=float(np.mean(np.signbit(y[1:]) != np.signbit(y[:-1]))),
        percussive_ratio=_percussive_ratio(mel),
        bass_share=float(power[freqs < features.BASS_CUTOFF_HZ].sum() / power.sum()),
        chroma_mean=chroma_mean,
        chroma_entropy=chroma_entropy,
        duration=len(y) / sr,
        distortion=_distortion(mel, sr),
        # librosa has no beat-synchronous swing: the fold, on librosa's onset envelope.
        swing=features.swing_ratio(
            onset_envelope=onset_env, sr=sr, hop_length=hop_length, tempo=tempo
        ),
    )


def test_the_flatness_is_the_magnitude_weighted_median_of_the_frames() -> None:
    """Known answers, by hand: a quiet noisy frame among loud clean ones does not move the
    flatness (an unweighted median would take the middle value, 0.2)."""
    values = np.array([0.9, 0.1, 0.2], dtype=np.float32)  # flatness per frame
    assert features._weighted_median(values, np.array([1.0, 10.0, 1.0], np.float32)) == (
        pytest.approx(0.1)
    )
    assert features._weighted_median(values, np.array([10.0, 1.0, 1.0], np.float32)) == (
        pytest.approx(0.9)
    )
    # Half the weight reached exactly at a value: that value (the lower median).
    assert features._weighted_median(values, np.array([2.0, 1.0, 1.0], np.float32)) == (
        pytest.approx(0.2)
    )


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_extract_features_matches_the_librosa_version(name: str) -> None:
    y, sr = SIGNALS[name]
    got = extract_features(y=y, sr=sr)
    with _scipy_peak_picking_and_autocorrelation():
        expected = _librosa_features(y, sr)
    # Onsets are counted: the same count, not a close one.
    assert got.onset_rate == expected.onset_rate
    for field in dataclasses.fields(AudioFeatures):
        if (name, field.name) == ("two_frames", "percussive_ratio"):
            # scipy's median filter reflects differently once the filter (17 frames) is more
            # than eight times the axis (2 frames); the plugin never analyses a window under
            # 3 s (settings.MIN_SECONDS: about 130 frames), and test_features checks the
            # filter against scipy's at such sizes.
            continue
        value: Any = getattr(got, field.name)
        reference: Any = getattr(expected, field.name)
        assert value == pytest.approx(reference, rel=RTOL, abs=ATOL), field.name


def test_onset_count_matches_scipy_peak_picking(spectra: Spectra) -> None:
    envelope = librosa.onset.onset_strength(
        S=spectra.mel_db, sr=spectra.sr, hop_length=HOP, center=False, max_size=3
    )
    frame_rate = spectra.sr / HOP
    expected = _scipy_onsets(envelope, frame_rate)
    np.testing.assert_array_equal(features._onset_peaks(envelope, frame_rate), expected)


@pytest.mark.slow
def test_extract_features_imports_no_librosa_scipy_nor_numba() -> None:
    code = (
        "import sys, numpy as np\n"
        "from beetsplug.genrescore.scoring.features import extract_features\n"
        "y = (0.3 * np.random.default_rng(0).standard_normal(44100)).astype(np.float32)\n"
        "extract_features(y=y, sr=22050)\n"
        "print(sorted(m for m in ('librosa', 'scipy', 'numba') if m in sys.modules))\n"
    )
    assert fresh_python(code) == "[]"
