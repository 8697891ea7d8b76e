"""The librosa and scipy signal functions the heuristic features use, written out in numpy.

Importing librosa costs a fresh process about 4 s (it imports ``scipy.signal``,
``scipy.stats`` and ``scipy.ndimage``, and numba compiles its ufuncs), while the features
themselves cost a few tens of milliseconds a window. So each function here repeats its
original's operations, in its order and precision, for the one case the features use, and
gives the same numbers, bit for bit (``tests/test_features_numpy.py`` checks every function
against its original).

Spectrograms are ``(bins, frames)`` as in librosa.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating]
Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]

# Slaney's mel scale (librosa's default, ``htk=False``): linear, 200/3 Hz per mel, below
# 1 kHz; logarithmic above, 27 mels per factor of 6.4.
_SLANEY_HZ_PER_MEL: Final = 200.0 / 3
_SLANEY_LOG_HZ: Final = 1000.0
_SLANEY_LOG_MEL: Final = _SLANEY_LOG_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP: Final = float(np.log(6.4) / 27.0)

#: Frames per FFT call in :func:`stft`: librosa's block for 2048-sample frames (its
#: ``MAX_MEM_BLOCK`` of 256 KiB); the float64 intermediates stay in cache.
_STFT_BLOCK: Final = 32

#: Reference pitch of the chroma filters, in Hz: A4 at zero tuning deviation.
_A440: Final = 440.0
#: Centre (octave number, C0 = 0 at A440 / 16) and width (octaves) of the Gaussian that
#: weights the chroma filters: ``librosa.filters.chroma``'s ``ctroct`` and ``octwidth``.
_CHROMA_CENTRE_OCTAVE: Final = 5.0
_CHROMA_OCTAVE_WIDTH: Final = 2.0


def hann_window(n_fft: int) -> Float64Array:
    """The periodic Hann window, as ``scipy.signal.get_window("hann", n_fft)`` (float64)."""
    phase = np.linspace(-np.pi, np.pi, n_fft + 1)
    window: Float64Array = (0.5 + 0.5 * np.cos(phase))[:-1]
    return window


def stft(y: Float32Array, *, n_fft: int, hop_length: int) -> npt.NDArray[np.complex64]:
    """``librosa.stft(y, n_fft=n_fft, hop_length=hop_length, center=False)``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono audio, float32, at least ``n_fft`` samples.
    n_fft, hop_length : int > 0
        Frame length and hop, in samples.

    Returns
    -------
    np.ndarray [shape=(1 + n_fft // 2, 1 + (n - n_fft) // hop_length)], complex64
        Frames hold only real samples (no padding); as librosa, the window product and the
        FFT are float64 and the result is kept as complex64.
    """
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop_length]
    window = hann_window(n_fft)
    spectrum = np.empty((len(frames), n_fft // 2 + 1), dtype=np.complex64)
    for start in range(0, len(frames), _STFT_BLOCK):
        block = frames[start : start + _STFT_BLOCK]
        spectrum[start : start + _STFT_BLOCK] = np.fft.rfft(block * window, axis=-1)
    return spectrum.T


def fft_frequencies(*, sr: float, n_fft: int) -> FloatArray:
    """Centre frequency of each FFT bin, in Hz: ``librosa.fft_frequencies``."""
    freqs: FloatArray = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    return freqs


def _hz_to_mel(hz: float) -> float:
    if hz < _SLANEY_LOG_HZ:
        return hz / _SLANEY_HZ_PER_MEL
    return _SLANEY_LOG_MEL + float(np.log(hz / _SLANEY_LOG_HZ)) / _SLANEY_LOG_STEP


def _mel_to_hz(mels: Float64Array) -> Float64Array:
    logarithmic = _SLANEY_LOG_HZ * np.exp(_SLANEY_LOG_STEP * (mels - _SLANEY_LOG_MEL))
    hz: Float64Array = np.where(mels >= _SLANEY_LOG_MEL, logarithmic, _SLANEY_HZ_PER_MEL * mels)
    return hz


def mel_frequencies(*, n_mels: int, fmin: float = 0.0, fmax: float) -> Float64Array:
    """``n_mels`` frequencies, in Hz, evenly spaced on Slaney's mel scale from ``fmin`` to
    ``fmax``: ``librosa.mel_frequencies(n_mels=n_mels, fmin=fmin, fmax=fmax)``.

    The centre of band ``i`` of :func:`mel_filters` is ``mel_frequencies(n_mels=n_mels + 2,
    fmax=sr / 2)[i + 1]``.
    """
    return _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels))


def mel_filters(*, sr: float, n_fft: int, n_mels: int) -> Float32Array:
    """Triangular mel filters: ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``.

    Slaney's mel scale and area normalisation, from 0 Hz to ``sr / 2``.

    Returns
    -------
    np.ndarray [shape=(n_mels, 1 + n_fft // 2)], float32
    """
    bin_hz = fft_frequencies(sr=sr, n_fft=n_fft)
    # n_mels + 2 edges, evenly spaced in mels: filter i rises from edge i to i + 1 and falls
    # to i + 2.
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(edges)
    ramps = np.subtract.outer(edges, bin_hz)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    basis: Float32Array = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
    # Slaney normalisation: each filter has the same area (2 / its width in Hz).
    basis *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return basis


def power_to_db(S: FloatArray, *, amin: float, top_db: float = 80.0) -> FloatArray:
    """``librosa.power_to_db(S, amin=amin)``: ``10 log10(S)`` against 1.0, floored at ``amin``.

    As librosa by default, nothing is kept more than ``top_db`` below the maximum.
    """
    log_spec: FloatArray = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, 1.0))
    clipped: FloatArray = np.maximum(log_spec, log_spec.max() - top_db)
    return clipped


def onset_strength(S: FloatArray, *, max_size: int = 1) -> FloatArray:
    """``librosa.onset.onset_strength(S=S, center=False, max_size=max_size)``.

    The mean over bands of the rise of each band since the previous frame (lag 1), against
    the maximum over ``max_size`` neighbouring bands of the previous frame (SuperFlux); the
    first frame, which has no predecessor, is 0.

    Parameters
    ----------
    S : np.ndarray [shape=(bands, t)]
        Log-power spectrogram, in dB.
    max_size : int > 0
        Bands of the maximum filter (edges mirrored, as ``scipy.ndimage.maximum_filter1d``).

    Returns
    -------
    np.ndarray [shape=(t,)]
    """
    reference = S if max_size == 1 else _maximum_filter_bands(S, max_size)
    rise = np.maximum(0.0, S[:, 1:] - reference[:, :-1])
    envelope: FloatArray = np.pad(np.mean(rise, axis=0), (1, 0), mode="constant")
    return envelope


def _maximum_filter_bands(S: FloatArray, size: int) -> FloatArray:
    """``scipy.ndimage.maximum_filter1d(S, size, axis=0)``, its ``reflect`` edges included."""
    before = size // 2
    padded = np.pad(S, ((before, size - before - 1), (0, 0)), mode="symmetric")
    filtered: FloatArray = np.lib.stride_tricks.sliding_window_view(padded, size, axis=0).max(
        axis=-1
    )
    return filtered


def frame_rms(y: Float32Array, *, frame_length: int, hop_length: int) -> Float32Array:
    """``librosa.feature.rms(y=y, frame_length=..., hop_length=..., center=False)[0]``."""
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]
    rms: Float32Array = np.sqrt(np.mean(np.square(frames), axis=-1))
    return rms


def chroma_filters(*, sr: float, n_fft: int, n_chroma: int = 12) -> Float32Array:
    """``librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma)`` at zero tuning.

    Each FFT bin spreads over the pitch classes near it in a Gaussian bump (as wide as the
    bin, in pitch classes, and no narrower than one); each bin's weights have unit L2 norm;
    then a Gaussian over octaves (:data:`_CHROMA_CENTRE_OCTAVE`, :data:`_CHROMA_OCTAVE_WIDTH`)
    weights the bins, and the rows are rotated to start at C.

    Returns
    -------
    np.ndarray [shape=(n_chroma, 1 + n_fft // 2)], float32
    """
    # The FFT bins, not counting the DC component, in pitch classes above C0 = A440 / 16.
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (_A440 / 16))
    # A made-up value for the 0 Hz bin, 1.5 octaves below bin 1 (librosa's choice).
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))

    distance = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    # Into -n_chroma / 2 .. n_chroma / 2; the 10 octaves added keep the remainder's argument
    # positive.
    distance = np.remainder(distance + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / np.tile(binwidthbins, (n_chroma, 1))) ** 2)

    # Each column to unit L2 norm (librosa.util.normalize; columns below the smallest
    # float are left alone).
    length = np.sum(np.abs(weights) ** 2, axis=0, keepdims=True) ** 0.5
    length[length < np.finfo(weights.dtype).tiny] = 1.0
    weights = weights / length

    octave_weight = np.exp(
        -0.5 * (((frqbins / n_chroma - _CHROMA_CENTRE_OCTAVE) / _CHROMA_OCTAVE_WIDTH) ** 2)
    )
    weights *= np.tile(octave_weight, (n_chroma, 1))
    # Start at C, not A.
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(weights[:, : int(1 + n_fft / 2)], dtype=np.float32)


def spectral_flatness(S: FloatArray, *, amin: float, power: float = 2.0) -> FloatArray:
    """``librosa.feature.spectral_flatness(S=S, amin=amin, power=power)[0]``.

    Geometric over arithmetic mean of ``S ** power`` over bins, per frame.
    """
    thresholded = np.maximum(amin, S**power)
    gmean = np.exp(np.mean(np.log(thresholded), axis=-2))
    amean = np.mean(thresholded, axis=-2)
    flatness: FloatArray = gmean / amean
    return flatness


def next_fast_len(target: int) -> int:
    """The smallest product of 2, 3 and 5 not below ``target``.

    ``scipy.fft.next_fast_len(target, real=True)``: a length pocketfft transforms fast.
    """
    if target <= 6:
        return max(target, 1)
    best = 1 << (target - 1).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            # The smallest power of two that lifts power35 to the target.
            quotient = -(-target // power35)
            candidate = power35 << (quotient - 1).bit_length()
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def autocorrelate(y: FloatArray) -> Float64Array:
    """``librosa.autocorrelate(y)``: the full-length autocorrelation, by FFT."""
    n_pad = next_fast_len(2 * len(y) - 1)
    spectrum = np.fft.rfft(y, n=n_pad)
    power = spectrum.real**2 + spectrum.imag**2
    autocorr: Float64Array = np.fft.irfft(power, n=n_pad)[: len(y)]
    return autocorr


def uniform_filter1d_nearest(x: Float32Array, size: int) -> Float32Array:
    """``scipy.ndimage.uniform_filter1d(x, size, mode="nearest")``, float32 in and out.

    scipy's running sum, repeated in its order: the first window summed in float64, then
    each step adds the difference between the sample entering the window and the one
    leaving it; each sum is divided by ``size``.
    """
    before = size // 2
    padded = np.pad(x.astype(np.float64), (before, size - before - 1), mode="edge")
    first = 0.0
    for value in padded[:size].tolist():
        first += value
    steps = padded[size:] - padded[: len(x) - 1]
    running = np.cumsum(np.concatenate(([first], steps))) / float(size)
    filtered: Float32Array = running.astype(np.float32)
    return filtered


def find_peaks(x: FloatArray, *, distance: int = 1) -> npt.NDArray[np.intp]:
    """``scipy.signal.find_peaks(x, distance=distance)[0]``: local maxima, thinned.

    A peak is a sample, or the middle (rounded down) of a run of equal samples, higher than
    its neighbours on both sides; neither end of ``x`` is one. Then, highest first, each
    peak removes the peaks less than ``distance`` samples from it.
    """
    values = np.asarray(x, dtype=np.float64)
    if len(values) < 3:
        return np.empty(0, dtype=np.intp)
    # Runs of equal samples: a peak is a run higher than the runs either side of it.
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    ends = np.concatenate((starts[1:], [len(values)])) - 1
    levels = values[starts]
    inner = np.arange(1, len(starts) - 1)
    is_peak = (levels[inner - 1] < levels[inner]) & (levels[inner + 1] < levels[inner])
    runs = inner[is_peak]
    peaks: npt.NDArray[np.intp] = ((starts[runs] + ends[runs]) // 2).astype(np.intp)
    if distance <= 1 or len(peaks) < 2:
        return peaks
    return peaks[_keep_by_distance(peaks, values[peaks], distance)]


def _keep_by_distance(
    peaks: npt.NDArray[np.intp], priority: Float64Array, distance: int
) -> npt.NDArray[np.bool_]:
    """scipy's ``_select_by_peak_distance``: the greedy thinning, highest peak first."""
    keep = np.ones(len(peaks), dtype=bool)
    order = np.argsort(priority)
    for position in order[::-1].tolist():
        if not keep[position]:
            continue
        k = position - 1
        while k >= 0 and peaks[position] - peaks[k] < distance:
            keep[k] = False
            k -= 1
        k = position + 1
        while k < len(peaks) and peaks[k] - peaks[position] < distance:
            keep[k] = False
            k += 1
    return keep
