"""Small, deterministic music synthesizer for the demo library and the tests.

Each style is a few seconds of numpy arithmetic: Karplus-Strong plucked strings (banjo,
guitar), a bowed string with vibrato (fiddle), a detuned sawtooth (synth lead), decaying
sines for kicks and toms, filtered noise for snares and hi-hats. No samples, no downloads:
the same seed gives the same audio everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import scipy.signal

Signal = npt.NDArray[np.float32]
SR = 22050
#: A guitar speaker rolls off above about 5 kHz; without it distortion sounds like a synth.
GUITAR_CABINET_HZ = 5000
#: Gain into the tanh "amp": crunchy, not fuzz.
GUITAR_DRIVE = 5.0

# Note names -> MIDI numbers for the little scores below.
_NOTES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def midi(name: str) -> float:
    """``"A4"`` -> 69, ``"F#3"`` -> 54."""
    pitch = _NOTES[name[0]]
    rest = name[1:]
    if rest.startswith("#"):
        pitch, rest = pitch + 1, rest[1:]
    elif rest.startswith("b"):
        pitch, rest = pitch - 1, rest[1:]
    return 12 * (int(rest) + 1) + pitch


def hz(note: str) -> float:
    return float(440.0 * 2 ** ((midi(note) - 69) / 12))


def _t(seconds: float, sr: int) -> npt.NDArray[np.float64]:
    return np.arange(int(seconds * sr)) / sr


def pluck(
    freq: float, seconds: float, sr: int, rng: np.random.Generator, decay: float = 0.996
) -> Signal:
    """Karplus-Strong plucked string (banjo when bright and short, guitar when darker)."""
    period = max(2, int(sr / freq))
    buf = rng.uniform(-1, 1, period)
    out = np.empty(int(seconds * sr))
    for i in range(len(out)):
        out[i] = buf[i % period]
        buf[i % period] = decay * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out.astype(np.float32)


def bowed(freq: float, seconds: float, sr: int, vibrato: float = 5.5) -> Signal:
    """A bowed string: band-limited sawtooth with vibrato, bow attack and body resonance."""
    t = _t(seconds, sr)
    phase = 2 * np.pi * np.cumsum(freq * (1 + 0.006 * np.sin(2 * np.pi * vibrato * t))) / sr
    harmonics = sum(np.sin(k * phase) / k * (1.0 if k < 12 else 0.3) for k in range(1, 16))
    envelope = np.minimum(1.0, t / 0.04) * np.minimum(1.0, (seconds - t) / 0.03 + 0.05)
    return (0.25 * harmonics * envelope).astype(np.float32)


def saw(freq: float, seconds: float, sr: int, detune: float = 0.007) -> Signal:
    """Detuned sawtooth pair: the classic synth lead."""
    t = _t(seconds, sr)
    wave = sum(2 * ((f * t) % 1.0) - 1 for f in (freq, freq * (1 + detune)))
    envelope = np.exp(-t * 3.0)
    return (0.3 * wave * envelope).astype(np.float32)


def piano(freq: float, seconds: float, sr: int) -> Signal:
    t = _t(seconds, sr)
    wave = np.zeros_like(t)
    for k in range(1, 8):
        wave += np.sin(2 * np.pi * freq * k * t) * np.exp(-t * (1.5 + k)) / k
    return (0.5 * wave).astype(np.float32)


def kick(sr: int) -> Signal:
    t = _t(0.35, sr)
    sweep = 50 + 90 * np.exp(-t * 30)
    return (np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t * 9)).astype(np.float32)


def snare(sr: int, rng: np.random.Generator) -> Signal:
    t = _t(0.2, sr)
    body = np.sin(2 * np.pi * 190 * t) * np.exp(-t * 25)
    noise = rng.standard_normal(len(t)) * np.exp(-t * 18)
    return (0.5 * body + 0.45 * noise).astype(np.float32)


def hat(sr: int, rng: np.random.Generator) -> Signal:
    t = _t(0.05, sr)
    noise = np.diff(rng.standard_normal(len(t) + 1))  # differentiated noise: bright
    return (0.25 * noise * np.exp(-t * 90)).astype(np.float32)


def _place(
    track: npt.NDArray[np.float64], sound: Signal, at: float, sr: int, gain: float = 1.0
) -> None:
    start = int(at * sr)
    end = min(len(track), start + len(sound))
    if start < end:
        track[start:end] += gain * sound[: end - start]


#: Drummers are tighter than other players: a few milliseconds off the grid.
DRUM_JITTER = 0.006


def _drums(
    track: npt.NDArray[np.float64],
    bpm: float,
    sr: int,
    rng: np.random.Generator,
    kicks: tuple[float, ...],
    snares: tuple[float, ...],
    hats_per_beat: int,
    gain: float = 1.0,
) -> None:
    beat = 60.0 / bpm
    seconds = len(track) / sr
    k, s, h = kick(sr), snare(sr, rng), hat(sr, rng)

    def hit(sound: Signal, at: float, level: float, spread: float) -> None:
        when = max(0.0, at + DRUM_JITTER * float(rng.standard_normal()))
        _place(track, sound, when, sr, level * (1 - spread * float(rng.random())))

    bar = 0.0
    while bar < seconds:
        for pos in kicks:
            hit(k, bar + pos * beat, gain, 0.15)
        for pos in snares:
            hit(s, bar + pos * beat, 0.8 * gain, 0.2)
        for i in range(4 * hats_per_beat):
            hit(h, bar + i * beat / hats_per_beat, 0.6 * gain, 0.4)
        bar += 4 * beat


#: Humanisation: players are off the grid by about 10 ms and vary their attack by a fifth.
#: A perfectly regular score sounds sequenced, and taggers then hear "electronic".
TIMING_JITTER = 0.010
VELOCITY_SPREAD = 0.2


def _melody(
    track: npt.NDArray[np.float64],
    notes: list[str],
    step: float,
    sr: int,
    voice: Callable[[float, float], Signal],
    gain: float,
    rng: np.random.Generator | None = None,
) -> None:
    seconds = len(track) / sr
    at, i = 0.0, 0
    while at < seconds:
        when, level = at, gain
        if rng is not None:
            when = max(0.0, at + TIMING_JITTER * float(rng.standard_normal()))
            level = gain * (1 - VELOCITY_SPREAD * float(rng.random()))
        _place(track, voice(hz(notes[i % len(notes)]), step * 1.05), when, sr, level)
        at += step
        i += 1


def _finish(track: npt.NDArray[np.float64]) -> Signal:
    peak = float(np.max(np.abs(track))) or 1.0
    return (0.8 * track / peak).astype(np.float32)


def reel(seconds: float = 30.0, sr: int = SR, seed: int = 1) -> Signal:
    """A bluegrass reel: a fiddle melody in eighths over a softer banjo, 110 BPM, no drums."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / 110
    fiddle = ["A4", "B4", "D5", "E5", "F#5", "E5", "D5", "B4",
              "A4", "D5", "F#5", "A5", "G5", "F#5", "E5", "D5"]  # fmt: skip
    _melody(track, fiddle, beat / 2, sr, lambda f, d: bowed(f, d, sr), 1.0, rng)
    roll = ["G3", "D4", "G4", "B3", "D4", "G4", "B4", "D4"]
    _melody(track, roll, beat / 2, sr, lambda f, d: pluck(f, d, sr, rng, 0.985), 0.15, rng)
    return _finish(track)


def techno(seconds: float = 30.0, sr: int = SR, seed: int = 2) -> Signal:
    """Four-on-the-floor at 128 BPM with off-beat hats and a saw-lead arpeggio."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, 128, sr, rng, kicks=(0, 1, 2, 3), snares=(), hats_per_beat=2)
    beat = 60.0 / 128
    _melody(
        track, ["A3", "C4", "E4", "A4", "E4", "C4"], beat / 4, sr, lambda f, d: saw(f, d, sr), 0.5
    )
    return _finish(track)


def hiphop(seconds: float = 30.0, sr: int = SR, seed: int = 3) -> Signal:
    """Boom-bap at 90 BPM: heavy kick, snare on 2 and 4, deep bass line, sparse keys."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, 90, sr, rng, kicks=(0, 1.5, 2.5), snares=(1, 3), hats_per_beat=2, gain=1.2)
    beat = 60.0 / 90
    bass = lambda f, d: np.sin(2 * np.pi * f * _t(d, sr)).astype(np.float32) * np.float32(0.9)  # noqa: E731
    _melody(track, ["E1", "E1", "G1", "A1"], beat, sr, bass, 0.8, rng)
    _melody(track, ["E4", "G4", "B4", "D5"], beat * 2, sr, lambda f, d: piano(f, d, sr), 0.25, rng)
    return _finish(track)


def rock(seconds: float = 30.0, sr: int = SR, seed: int = 4) -> Signal:
    """Distorted power chords over a 140 BPM backbeat."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, 140, sr, rng, kicks=(0, 2, 2.5), snares=(1, 3), hats_per_beat=2)
    beat = 60.0 / 140

    cabinet = scipy.signal.butter(4, GUITAR_CABINET_HZ, fs=sr, output="sos")

    def power(f: float, d: float) -> Signal:
        # Root, fifth and octave through a soft-clipping amp and a speaker cabinet.
        chord = pluck(f, d, sr, rng, 0.998) + pluck(f * 1.5, d, sr, rng, 0.998)
        chord = chord + 0.5 * pluck(f * 2, d, sr, rng, 0.998)
        amp = np.tanh(GUITAR_DRIVE * chord)
        overdriven: Signal = scipy.signal.sosfilt(cabinet, amp).astype(np.float32)
        return overdriven

    _melody(track, ["E2", "E2", "G2", "A2", "E2", "D2", "C2", "D2"], beat / 2, sr, power, 0.8, rng)
    return _finish(track)


def classical(seconds: float = 30.0, sr: int = SR, seed: int = 5) -> Signal:
    """A slow string-and-piano piece at 60 BPM, no drums, wide dynamics."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    strings = ["C4", "E4", "G4", "C5", "B4", "G4", "A4", "F4"]
    _melody(track, strings, 1.0, sr, lambda f, d: bowed(f, d, sr, vibrato=5.0), 0.6, rng)
    _melody(track, ["C3", "G3", "E3", "G3"], 0.5, sr, lambda f, d: piano(f, d, sr), 0.4, rng)
    swell = 0.35 + 0.65 * (0.5 + 0.5 * np.sin(2 * np.pi * _t(seconds, sr) / 12))
    return _finish(track * swell)


#: Style name -> generator, for the demo library and the tests.
STYLES: dict[str, Callable[..., Signal]] = {
    "reel": reel,
    "techno": techno,
    "hiphop": hiphop,
    "rock": rock,
    "classical": classical,
}
