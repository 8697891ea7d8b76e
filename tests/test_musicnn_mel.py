"""musicnn's mel spectrogram, computed in numpy, against librosa's (which the models were
trained on and the port used until it was written out to keep librosa off the start-up path).
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from beetsplug.genrescore.backends import musicnn_net

from .interpreter import fresh_python

DATA = Path(__file__).resolve().parent / "data" / "musicnn"
CLIPS = ("violin", "rock", "piano", "techno", "tone")
#: Largest tolerated difference, relative to the spectrogram's peak. The numpy version
#: repeats librosa's operations in its order, so today the two agree to the bit.
RELATIVE_TOLERANCE = 1e-5


def _librosa_mel(audio: np.ndarray) -> np.ndarray:
    """The call the port made before (musicnn.extractor's parameters, librosa defaults)."""
    mel: np.ndarray = librosa.feature.melspectrogram(
        y=audio,
        sr=musicnn_net.SAMPLE_RATE,
        n_fft=musicnn_net.N_FFT,
        hop_length=musicnn_net.HOP_LENGTH,
        n_mels=musicnn_net.N_MELS,
    )
    return mel


def _noise(samples: int, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def _signals() -> dict[str, np.ndarray]:
    signals = {c: sf.read(DATA / f"{c}.flac", dtype="float32")[0] for c in CLIPS}
    # One patch exactly, a length that is not a whole number of hops, and a loud one whose
    # power passes float16's range (the clip in log_mel).
    signals["noise_patch"] = _noise(musicnn_net.PATCH_SAMPLES, seed=1)
    signals["noise_odd"] = _noise(3 * musicnn_net.SAMPLE_RATE + 77, seed=2)
    signals["noise_loud"] = 40 * _noise(musicnn_net.PATCH_SAMPLES, seed=3)
    return signals


SIGNALS = _signals()


def test_mel_basis_matches_librosa() -> None:
    expected = librosa.filters.mel(
        sr=musicnn_net.SAMPLE_RATE, n_fft=musicnn_net.N_FFT, n_mels=musicnn_net.N_MELS
    )
    got = musicnn_net.mel_basis()
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=RELATIVE_TOLERANCE, atol=0)


@pytest.mark.parametrize("name", list(SIGNALS))
def test_mel_power_matches_librosa(name: str) -> None:
    audio = SIGNALS[name]
    expected = _librosa_mel(audio)
    got = musicnn_net.mel_power(audio=audio)
    assert got.shape == expected.shape == (musicnn_net.N_MELS, 1 + len(audio) // 256)
    assert got.dtype == np.float32
    difference = np.abs(got - expected).max() / np.abs(expected).max()
    assert difference <= RELATIVE_TOLERANCE


@pytest.mark.parametrize("name", list(SIGNALS))
def test_log_mel_matches_the_librosa_pipeline(name: str) -> None:
    """Through the float16 rounding too: a 1e-5 difference could flip a rounding there."""
    audio = SIGNALS[name]
    power = np.minimum(_librosa_mel(audio).T, musicnn_net.FLOAT16_MAX)
    rounded = power.astype(np.float16).astype(np.float32)
    expected = np.log10(np.float32(musicnn_net.LOG_GAIN) * rounded + np.float32(1.0))
    np.testing.assert_array_equal(musicnn_net.log_mel(audio=audio), expected)


@pytest.mark.slow
def test_the_model_front_end_does_not_import_librosa_or_scipy() -> None:
    code = (
        "import sys, numpy as np\n"
        "from beetsplug.genrescore.backends import musicnn_net\n"
        "musicnn_net.window_patches(audio=np.zeros(16000, dtype=np.float32))\n"
        "print(sorted(m for m in ('librosa', 'scipy') if m in sys.modules))\n"
    )
    assert fresh_python(code) == "[]"
