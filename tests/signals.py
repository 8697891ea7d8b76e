"""Synthesized test signals with known answers: clicks, tones, noise and small genre sketches.

Everything is generated with numpy from a fixed seed, so the tests need no audio files. The
sketches are crude on purpose: each has only the traits a heuristic rule can hear (a tempo, a
drum pattern, distortion, a bass line, sustained tones, dynamics), nothing else.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.signal

Audio = npt.NDArray[np.float32]

SR = 22050
SECONDS = 10.0

# Semitones of a minor chord progression (i - VI - III - VII), as used in both pop and EDM.
_PROGRESSION = ((0, 3, 7), (-4, 0, 3), (3, 7, 10), (-2, 2, 5))


def _time(seconds: float) -> npt.NDArray[np.float64]:
    return np.arange(round(seconds * SR)) / SR


def _place(length: int, hit: npt.NDArray[np.float64], starts: list[float]) -> Audio:
    """Mix ``hit`` into a silent track of ``length`` samples at each start time (s)."""
    track = np.zeros(length, dtype=np.float64)
    for start in starts:
        first = round(start * SR)
        if first >= length:
            continue
        n = min(len(hit), length - first)
        track[first : first + n] += hit[:n]
    return track.astype(np.float32)


def _beats(bpm: float, seconds: float, *, per_beat: int = 1, offset: float = 0.0) -> list[float]:
    step = 60.0 / bpm / per_beat
    return [offset * step + k * step for k in range(int(seconds / step) + 1)]


def _hz(semitones_from_a4: float) -> float:
    return 440.0 * 2.0 ** (semitones_from_a4 / 12.0)


def _saw(freq: float, t: npt.NDArray[np.float64], partials: int = 20) -> npt.NDArray[np.float64]:
    """Band-limited sawtooth: the sum of harmonics below Nyquist, each at 1/k."""
    wave = np.zeros_like(t)
    for k in range(1, partials + 1):
        if k * freq < SR / 2:
            wave += np.sin(2 * np.pi * k * freq * t) / k
    return wave


def _normalise(y: npt.NDArray[np.floating], peak: float) -> Audio:
    return (y * (peak / np.max(np.abs(y)))).astype(np.float32)


def click_track(bpm: float, seconds: float = SECONDS) -> Audio:
    """A metronome: 10 ms clicks (1 kHz, decaying) on every beat."""
    t = _time(0.01)
    click = np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.003)
    return _place(round(seconds * SR), 0.8 * click, _beats(bpm, seconds))


def sine(freq: float = 440.0, seconds: float = SECONDS, amplitude: float = 0.5) -> Audio:
    return (amplitude * np.sin(2 * np.pi * freq * _time(seconds))).astype(np.float32)


def white_noise(seconds: float = SECONDS, amplitude: float = 0.3, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(seconds * SR))).astype(np.float32)


def kick_drum(length: float = 0.3) -> npt.NDArray[np.float64]:
    """One kick: a sine swept from 150 to 50 Hz under an 80 ms decay."""
    t = _time(length)
    freq = 50 + 100 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / 0.08)


def snare_drum(seed: int = 1) -> npt.NDArray[np.float64]:
    """One snare: a 190 Hz body and a band of rattle noise (1-5 kHz)."""
    t = _time(0.2)
    rng = np.random.default_rng(seed)
    body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.03)
    sos = scipy.signal.butter(2, (1000, 5000), "bandpass", fs=SR, output="sos")
    rattle = scipy.signal.sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / 0.05)
    return 0.6 * body + 0.4 * rattle


def hi_hat(seed: int = 2) -> npt.NDArray[np.float64]:
    t = _time(0.05)
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(4, 7000, "highpass", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / 0.015)


def cymbal(seed: int = 4) -> npt.NDArray[np.float64]:
    """A ride or crash: a long wash of noise above 3 kHz."""
    t = _time(0.5)
    rng = np.random.default_rng(seed)
    sos = scipy.signal.butter(2, 3000, "highpass", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / 0.2)


def kick_pattern(bpm: float = 120.0, seconds: float = SECONDS) -> Audio:
    """A kick drum on every beat, nothing else."""
    return _place(round(seconds * SR), 0.9 * kick_drum(), _beats(bpm, seconds))


def steady_and_sections(seconds: float = SECONDS) -> tuple[Audio, Audio]:
    """Noise at a steady level, and the same noise alternating 2 s loud, 2 s 24 dB quieter."""
    steady = white_noise(seconds, amplitude=0.2)
    t = _time(seconds)
    gain = np.where((t // 2.0) % 2 == 0, 1.0, 10 ** (-24 / 20))
    return steady, (steady * gain).astype(np.float32)


def four_on_the_floor(bpm: float = 125.0, seconds: float = SECONDS) -> Audio:
    """Dance music: kick on every beat, off-beat hats, a saw-synth bass and chords."""
    n = round(seconds * SR)
    drums = _place(n, 0.9 * kick_drum(), _beats(bpm, seconds))
    drums += _place(n, 0.25 * hi_hat(), _beats(bpm, seconds, per_beat=2, offset=1))
    bar = 4 * 60.0 / bpm
    t = _time(seconds)
    synth = np.zeros(n)
    for i, chord in enumerate(_PROGRESSION * 4):
        start, stop = round(i * bar * SR), min(round((i + 1) * bar * SR), n)
        if start >= n:
            break
        seg = t[start:stop]
        bass = _saw(_hz(chord[0] - 33), seg, partials=8)
        pad = sum(_saw(_hz(note - 12), seg) for note in chord)
        synth[start:stop] = 0.35 * bass + 0.12 * pad
    return _normalise(drums + synth.astype(np.float32), 0.95)


def metal(bpm: float = 170.0, seconds: float = SECONDS) -> Audio:
    """Distorted power chords in eighths over a fast kick-snare beat with hats, mastered loud."""
    n = round(seconds * SR)
    t = _time(seconds)
    riff = np.zeros(n)
    eighth = 30.0 / bpm
    roots = (-29, -29, -26, -29, -31, -29, -24, -26)  # low E-string riff around E2
    for k in range(int(seconds / eighth) + 1):
        start, stop = round(k * eighth * SR), min(round((k + 1) * eighth * SR), n)
        if start >= n:
            break
        seg = t[start:stop] - t[start]
        root = _hz(roots[k % len(roots)])
        for detune in (1.0, 1.006):  # two guitars, double-tracked
            chord = _saw(root * detune, seg) + _saw(1.5 * root * detune, seg)
            riff[start:stop] += np.clip(20.0 * chord, -1.0, 1.0) * np.exp(-seg / 0.5)
    drums = _place(n, 0.7 * kick_drum(), _beats(bpm, seconds))
    drums += _place(n, snare_drum(), _beats(bpm / 2, seconds, offset=0.5))
    drums += _place(n, 0.3 * cymbal(), _beats(bpm, seconds))
    mix = 0.5 * riff + drums
    return _normalise(np.tanh(2.0 * mix / np.max(np.abs(mix))), 0.98)


def boom_bap(bpm: float = 90.0, seconds: float = SECONDS) -> Audio:
    """Hip hop: a long 808 kick, snare on two and four, sparse hats, a quiet keys sample."""
    n = round(seconds * SR)
    t808 = _time(0.6)
    sub = np.sin(2 * np.pi * np.cumsum(45 + 60 * np.exp(-t808 / 0.02)) / SR)
    eight_o_eight = sub * np.exp(-t808 / 0.35)
    beat = 60.0 / bpm
    bars = range(int(seconds / beat / 4) + 1)
    kicks = [(4 * bar + step) * beat for bar in bars for step in (0.0, 1.75, 2.5)]
    drums = _place(n, eight_o_eight, kicks)
    drums += _place(n, 0.8 * snare_drum(), _beats(bpm / 2, seconds, offset=0.5))
    drums += _place(n, 0.12 * hi_hat(), _beats(bpm, seconds, per_beat=2))
    t = _time(seconds)
    stab = np.exp(-((t * bpm / 60.0) % 2.0) / 0.8)  # a chord struck every two beats
    keys = sum(np.sin(2 * np.pi * _hz(note) * t) for note in (-9, -5, -2, 2))
    return _normalise(drums + 0.08 * stab * keys, 0.95)


def string_quartet(seconds: float = SECONDS) -> Audio:
    """Classical: slow bowed chords (soft attacks, vibrato), a crescendo from ppp, no drums."""
    t = _time(seconds)
    chords = ((-9, -5, -2, 3), (-7, -4, 0, 5), (-9, -5, 0, 3), (-10, -5, -2, 2))
    y = np.zeros(len(t))
    length = seconds / len(chords)
    for i, chord in enumerate(chords):
        seg = (t >= i * length) & (t < (i + 1) * length)
        local = t[seg] - i * length
        envelope = np.minimum(local / 0.6, 1.0) * np.minimum((length - local) / 0.4, 1.0)
        for note in chord:
            freq = _hz(note) * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * local))
            phase = 2 * np.pi * np.cumsum(freq) / SR
            y[seg] += envelope * sum(np.sin(k * phase) / k**1.5 for k in range(1, 8))
    dynamics = 10 ** ((-30 + 26 * np.clip(t / seconds, 0, 1) ** 2) / 20)  # ppp to f
    return (0.25 * y * dynamics).astype(np.float32)


def ambient_pad(seconds: float = SECONDS) -> Audio:
    """Ambient: a quiet, slowly swelling sine pad with no beat."""
    t = _time(seconds)
    swell = 0.85 + 0.15 * np.sin(2 * np.pi * t / seconds)
    pad = sum(np.sin(2 * np.pi * _hz(note) * t) for note in (-21, -14, -9, -5))
    return (0.05 * swell * pad).astype(np.float32)
