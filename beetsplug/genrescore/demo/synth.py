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
#: A guitar speaker rolls off above a few kHz; without it distortion sounds like a synth.
GUITAR_CABINET_HZ = 3000
#: Gain into the tanh "amp": a high-gain rock tone.
GUITAR_DRIVE = 15.0
#: The amp's mid hump (Hz) and the pick's click (noise level, decaying in 10 ms). Chosen with
#: YAMNet as the listener: "Electric guitar"/"Distortion" about 0.26 and "Synthesizer" or
#: "Sine wave" under 0.05, where a clean tanh of plucks read as a synth (0.26-0.32).
GUITAR_MID_HZ = 1500
GUITAR_PICK = 0.5

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


#: A violin body's main resonances (Hz, Q, gain): the air mode, the main wood modes and the
#: "bridge hill" near 2.7 kHz. Without them a bowed sawtooth reads as a reed or a horn.
VIOLIN_BODY = ((280.0, 4.0, 1.0), (460.0, 5.0, 0.8), (1100.0, 3.0, 0.5), (2700.0, 2.0, 1.0))
#: Bow noise relative to the string's harmonics, and the bow's attack time (s). Chosen with
#: YAMNet as the listener: this bowed note scores "Violin, fiddle" about 0.9 and no reed or
#: brass class above 0.03; a bare sawtooth scores 0.13 and "Saxophone" 0.14.
BOW_NOISE = 0.2
BOW_ATTACK = 0.1


def bowed(freq: float, seconds: float, sr: int, vibrato: float = 5.5, size: float = 1.0) -> Signal:
    """A bowed string: band-limited sawtooth with vibrato, bow noise and a violin body.

    ``size`` scales the body: 1 is a violin, about 2 a cello (its resonances an octave
    lower). Each note's vibrato starts at its own phase, as no two players' do.
    """
    t = _t(seconds, sr)
    rng = np.random.default_rng(int(freq * 10))
    start = rng.uniform(0.0, 2 * np.pi)
    wobble = 1 + 0.006 * np.minimum(1.0, t / 0.12) * np.sin(2 * np.pi * vibrato * t + start)
    phase = 2 * np.pi * np.cumsum(freq * wobble) / sr
    string = np.zeros_like(t)
    for k in range(1, 30):
        if k * freq > min(7000.0, 0.45 * sr):
            break
        string += np.sin(k * phase) / k
    noise = rng.standard_normal(len(t))
    string += BOW_NOISE * noise * (np.exp(-t / BOW_ATTACK) + 0.3)
    body = np.zeros_like(string)
    for centre, q, gain in VIOLIN_BODY:
        b, a = scipy.signal.iirpeak(centre / size, q, fs=sr)
        body += gain * scipy.signal.lfilter(b, a, string)
    envelope = np.minimum(1.0, t / BOW_ATTACK) * np.minimum(1.0, (seconds - t) / 0.03 + 0.05)
    voiced: Signal = (0.08 * (string + 3.0 * body) * envelope).astype(np.float32)
    return voiced


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


def reel(seconds: float = 30.0, sr: int = SR, seed: int = 1, bpm: float = 110.0) -> Signal:
    """A bluegrass reel: a fiddle melody in eighths over a softer banjo, 110 BPM, no drums."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    fiddle = ["A4", "B4", "D5", "E5", "F#5", "E5", "D5", "B4",
              "A4", "D5", "F#5", "A5", "G5", "F#5", "E5", "D5"]  # fmt: skip
    _melody(track, fiddle, beat / 2, sr, lambda f, d: bowed(f, d, sr), 1.0, rng)
    roll = ["G3", "D4", "G4", "B3", "D4", "G4", "B4", "D4"]
    _melody(track, roll, beat / 2, sr, lambda f, d: pluck(f, d, sr, rng, 0.985), 0.15, rng)
    return _finish(track)


def techno(seconds: float = 30.0, sr: int = SR, seed: int = 2, bpm: float = 128.0) -> Signal:
    """Four-on-the-floor at 128 BPM with off-beat hats and a saw-lead arpeggio."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, bpm, sr, rng, kicks=(0, 1, 2, 3), snares=(), hats_per_beat=2)
    beat = 60.0 / bpm
    _melody(
        track, ["A3", "C4", "E4", "A4", "E4", "C4"], beat / 4, sr, lambda f, d: saw(f, d, sr), 0.5
    )
    return _finish(track)


def hiphop(seconds: float = 30.0, sr: int = SR, seed: int = 3, bpm: float = 90.0) -> Signal:
    """Boom-bap at 90 BPM: heavy kick, snare on 2 and 4, deep bass line, sparse keys."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, bpm, sr, rng, kicks=(0, 1.5, 2.5), snares=(1, 3), hats_per_beat=2, gain=1.2)
    beat = 60.0 / bpm
    bass = lambda f, d: np.sin(2 * np.pi * f * _t(d, sr)).astype(np.float32) * np.float32(0.9)  # noqa: E731
    _melody(track, ["E1", "E1", "G1", "A1"], beat, sr, bass, 0.8, rng)
    _melody(track, ["E4", "G4", "B4", "D5"], beat * 2, sr, lambda f, d: piano(f, d, sr), 0.25, rng)
    return _finish(track)


def rock(seconds: float = 30.0, sr: int = SR, seed: int = 4, bpm: float = 140.0) -> Signal:
    """Distorted power chords over a 140 BPM backbeat."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, bpm, sr, rng, kicks=(0, 2, 2.5), snares=(1, 3), hats_per_beat=2)
    beat = 60.0 / bpm

    cabinet = scipy.signal.butter(4, GUITAR_CABINET_HZ, fs=sr, output="sos")
    tight = scipy.signal.butter(1, 300, btype="highpass", fs=sr, output="sos")
    mid_b, mid_a = scipy.signal.iirpeak(GUITAR_MID_HZ, 1.0, fs=sr)

    def power(f: float, d: float) -> Signal:
        # Root, fifth and octave, a pick click, a tight high-gain amp with a mid hump, and a
        # speaker cabinet.
        strings = [pluck(f * m, d, sr, rng, 0.999) for m in (1.0, 1.5, 2.0)]
        chord: npt.NDArray[np.float64] = np.sum(strings, axis=0, dtype=np.float64)
        decay = np.exp(-np.arange(len(chord)) / sr / 0.01)
        chord += GUITAR_PICK * rng.standard_normal(len(chord)) * decay
        amp = np.tanh(GUITAR_DRIVE * scipy.signal.sosfilt(tight, chord))
        amp = amp + 0.8 * scipy.signal.lfilter(mid_b, mid_a, amp)
        overdriven: Signal = scipy.signal.sosfilt(cabinet, amp).astype(np.float32)
        return overdriven

    _melody(track, ["E2", "E2", "G2", "A2", "E2", "D2", "C2", "D2"], beat / 2, sr, power, 0.8, rng)
    return _finish(track)


def classical(seconds: float = 30.0, sr: int = SR, seed: int = 5, bpm: float = 60.0) -> Signal:
    """A slow violin-and-piano piece at 60 BPM, no drums, wide dynamics."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    line = ["C5", "E5", "G5", "C6", "B5", "G5", "A5", "F5"]
    _melody(track, line, beat, sr, lambda f, d: bowed(f, d, sr, vibrato=5.0), 0.6, rng)
    chords = ["C3", "G3", "E4", "G3"]
    _melody(track, chords, beat / 2, sr, lambda f, d: piano_note(f, 2.0, sr), 0.4, rng)
    swell = 0.35 + 0.65 * (0.5 + 0.5 * np.sin(2 * np.pi * _t(seconds, sr) / 12))
    return _finish(track * swell)


def _harmonic_voice(
    freq: float,
    seconds: float,
    sr: int,
    amplitudes: Callable[[int, npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    attack: float,
    vibrato: float = 5.0,
    depth: float = 0.004,
    breath: float = 0.0,
    seed: int = 0,
) -> Signal:
    """A sustained wind voice: harmonics whose levels follow the envelope, plus breath noise.

    ``amplitudes(k, envelope)`` gives harmonic ``k``'s level over time; brass brightens as it
    gets louder, which is what makes it brass and not an organ.
    """
    t = _t(seconds, sr)
    envelope = np.minimum(1.0, t / attack) * np.minimum(1.0, (seconds - t) / 0.04 + 0.02)
    swell = np.minimum(1.0, t / 0.25)  # vibrato comes in after the attack
    wobble = 1 + depth * swell * np.sin(2 * np.pi * vibrato * t)
    phase = 2 * np.pi * np.cumsum(freq * wobble) / sr
    wave = np.zeros_like(t)
    for k in range(1, 24):
        if k * freq > 0.45 * sr:
            break
        wave += amplitudes(k, envelope) * np.sin(k * phase)
    if breath:
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(len(t))
        band = scipy.signal.butter(2, (1500, 5000), btype="bandpass", fs=sr, output="sos")
        wave += breath * scipy.signal.sosfilt(band, noise)
    voiced: Signal = (0.3 * wave * envelope).astype(np.float32)
    return voiced


def trumpet(freq: float, seconds: float, sr: int) -> Signal:
    """A trumpet: bright harmonics that grow with loudness, a fast lip attack."""
    return _harmonic_voice(
        freq,
        seconds,
        sr,
        lambda k, env: (env ** (0.3 * k)) / k**0.6,
        attack=0.03,
        vibrato=5.5,
        depth=0.003,
        breath=0.02,
        seed=int(freq),
    )


def trombone(freq: float, seconds: float, sr: int) -> Signal:
    """A trombone: darker brass, slower attack."""
    return _harmonic_voice(
        freq, seconds, sr, lambda k, env: (env ** (0.5 * k)) / k, attack=0.06, depth=0.002
    )


def saxophone(freq: float, seconds: float, sr: int) -> Signal:
    """A tenor saxophone: a reedy spectrum with a formant near 1.5 kHz and audible breath."""

    def levels(k: int, env: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        formant = np.exp(-((((k * freq) - 1500.0) / 1200.0) ** 2))
        level: npt.NDArray[np.float64] = env ** (0.2 * k) * (0.5 / k + 0.8 * formant)
        return level

    return _harmonic_voice(
        freq, seconds, sr, levels, attack=0.04, vibrato=5.0, depth=0.006, breath=0.08,
        seed=int(freq) + 1,
    )  # fmt: skip


#: A blues harp's draw notes bend up into pitch from this far below (a tenth of the note).
HARP_BEND = 0.1
#: The player's hand tremolo: depth and rate in Hz. Together with the bend, this is what
#: makes a free reed a harmonica rather than an accordion (whose bellows hold the tone
#: steady): on YAMNet a steady reed scores "Accordion" 0.9, this one "Harmonica" 0.6.
HARP_TREMOLO = (0.7, 5.0)


def harmonica(freq: float, seconds: float, sr: int) -> Signal:
    """A blues harp: a narrow-pulse free reed (with its octave reed), bent up into each note,
    a cupped-hand tremolo and a little breath."""
    t = _t(seconds, sr)
    wave = np.zeros_like(t)
    for multiple in (1.0, 2.0):
        pitch = freq * multiple * (1 - HARP_BEND * np.exp(-t / 0.08))
        phase = np.cumsum(pitch) / sr % 1.0
        wave += (phase < 0.2).astype(np.float64) - 0.2
    wave = scipy.signal.sosfilt(
        scipy.signal.butter(2, min(7500, 0.45 * sr), fs=sr, output="sos"), wave
    )
    body_b, body_a = scipy.signal.iirpeak(1500, 2, fs=sr)
    wave = wave + 1.5 * scipy.signal.lfilter(body_b, body_a, wave)
    rng = np.random.default_rng(int(freq))
    band = scipy.signal.butter(2, (800, 4000), btype="bandpass", fs=sr, output="sos")
    wave += 0.02 * scipy.signal.sosfilt(band, rng.standard_normal(len(t)))
    depth, rate = HARP_TREMOLO
    tremolo = 1 + depth * np.sin(2 * np.pi * rate * t) * np.minimum(1.0, t / 0.3)
    envelope = np.minimum(1.0, t / 0.03) * np.minimum(1.0, (seconds - t) / 0.05 + 0.02)
    reed: Signal = (0.3 * wave * envelope * tremolo).astype(np.float32)
    return reed


def piano_note(freq: float, seconds: float, sr: int) -> Signal:
    """A piano: stretched (inharmonic) partials, a felt hammer's thump, a two-stage decay."""
    t = _t(seconds, sr)
    inharmonicity = 0.0004
    wave = np.zeros_like(t)
    for k in range(1, 14):
        partial = freq * k * np.sqrt(1 + inharmonicity * k * k)
        if partial > 0.45 * sr:
            break
        decay = np.exp(-t * (0.8 + 0.6 * k)) * 0.7 + 0.3 * np.exp(-t * (3 + 2 * k))
        wave += np.sin(2 * np.pi * partial * t) * decay / k**1.2
    thump = np.sin(2 * np.pi * 60 * t) * np.exp(-t * 60)
    attack = np.minimum(1.0, t / 0.003)
    return (0.4 * (wave + 0.3 * thump) * attack).astype(np.float32)


def _swing_ride(
    track: npt.NDArray[np.float64], bpm: float, sr: int, rng: np.random.Generator
) -> None:
    """A jazz ride pattern, "ding, ding-a ding", with a soft hi-hat on 2 and 4."""
    beat = 60.0 / bpm
    t = _t(0.6, sr)
    bell = sum(np.sin(2 * np.pi * f * t) for f in (3300.0, 4870.0, 6120.0, 7350.0))
    wash = scipy.signal.sosfilt(
        scipy.signal.butter(2, 5000, btype="highpass", fs=sr, output="sos"),
        rng.standard_normal(len(t)),
    )
    ride = ((0.05 * bell + 0.3 * wash) * np.exp(-t * 6)).astype(np.float32)
    h = hat(sr, rng)
    bar = 0.0
    while bar < len(track) / sr:
        for pos in (0.0, 1.0, 1.0 + 2 / 3, 2.0, 3.0, 3.0 + 2 / 3):
            _place(track, ride, bar + pos * beat + 0.004 * float(rng.standard_normal()), sr, 0.35)
        for pos in (1.0, 3.0):
            _place(track, h, bar + pos * beat, sr, 0.5)
        bar += 4 * beat


def jazz(seconds: float = 30.0, sr: int = SR, seed: int = 6, bpm: float = 150.0) -> Signal:
    """A jazz combo at 150 BPM swing: trumpet and tenor sax in harmony, walking bass, ride."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    _swing_ride(track, bpm, sr, rng)
    walk = ["D2", "F2", "A2", "C3", "G2", "B2", "D3", "F3", "C2", "E2", "G2", "B2"]
    _melody(track, walk, beat, sr, lambda f, d: pluck(f, d, sr, rng, 0.99), 0.7, rng)
    head = ["D5", "F5", "A5", "G5", "F5", "E5", "C5", "D5"]
    lower = ["F4", "A4", "C5", "B4", "A4", "G4", "E4", "F4"]
    _melody(track, head, beat * 1.5, sr, lambda f, d: trumpet(f, d, sr), 0.6, rng)
    _melody(track, lower, beat * 1.5, sr, lambda f, d: saxophone(f, d, sr), 0.55, rng)
    return _finish(track)


def blues(seconds: float = 30.0, sr: int = SR, seed: int = 7, bpm: float = 100.0) -> Signal:
    """A harmonica blues shuffle at 100 BPM: harp riffs over a shuffled kit and a boogie bass."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    _drums(track, bpm, sr, rng, kicks=(0, 2), snares=(1, 3), hats_per_beat=1, gain=0.6)
    # The shuffle: hats on the last triplet of each beat.
    h = hat(sr, rng)
    for i in range(int(seconds / beat)):
        _place(track, h, i * beat + 2 * beat / 3, sr, 0.35)
    boogie = ["E2", "G#2", "B2", "C#3", "D3", "C#3", "B2", "G#2"]
    _melody(track, boogie, beat / 2, sr, lambda f, d: pluck(f, d, sr, rng, 0.993), 0.6, rng)
    riff = ["G4", "A4", "B4", "D5", "E5", "D5", "B4", "G4"]
    _melody(track, riff, beat, sr, lambda f, d: harmonica(f, d, sr), 0.7, rng)
    return _finish(track)


def solo_piano(seconds: float = 30.0, sr: int = SR, seed: int = 8, bpm: float = 66.0) -> Signal:
    """A slow piano piece at 66 BPM: an arpeggiated left hand under a melody, no drums."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    left = ["C3", "G3", "E4", "G3", "A2", "E3", "C4", "E3", "F2", "C3", "A3", "C3"]
    _melody(track, left, beat / 2, sr, lambda f, d: piano_note(f, 2.5, sr), 0.35, rng)
    right = ["E5", "D5", "C5", "D5", "E5", "G5", "F5", "E5"]
    _melody(track, right, beat, sr, lambda f, d: piano_note(f, 3.0, sr), 0.6, rng)
    return _finish(track)


def string_quartet(seconds: float = 30.0, sr: int = SR, seed: int = 9, bpm: float = 72.0) -> Signal:
    """Two violins, a viola and a cello in four-part harmony at 72 BPM, no drums."""
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    beat = 60.0 / bpm
    # (notes, vibrato Hz, body size, gain): violin I, violin II, viola, cello.
    parts = (
        (["E5", "F5", "G5", "E5", "D5", "C5", "D5", "B4"], 5.6, 1.0, 0.5),
        (["C5", "C5", "B4", "C5", "B4", "A4", "G4", "G4"], 5.2, 1.0, 0.4),
        (["G4", "A4", "D4", "G4", "F4", "E4", "F4", "D4"], 4.9, 1.3, 0.4),
        (["C3", "F2", "G2", "C3", "G2", "A2", "D3", "G2"], 4.6, 2.2, 0.5),
    )
    for notes, vibrato, size, gain in parts:
        voice = lambda f, d, v=vibrato, z=size: bowed(f, d, sr, vibrato=v, size=z)  # noqa: E731
        _melody(track, notes, beat, sr, voice, gain, rng)
    return _finish(track)


def halftime(seconds: float = 30.0, sr: int = SR, seed: int = 10, bpm: float = 140.0) -> Signal:
    """A half-time groove (trap): hats in eighths at ``bpm``, the snare only on beat 3.

    The notated tempo is ``bpm``; the backbeat moves at half of it, which is the feel a
    listener nods to. The tempo benchmark counts ``bpm`` as the truth and the half as an
    octave error.
    """
    rng = np.random.default_rng(seed)
    track = np.zeros(int(seconds * sr))
    _drums(track, bpm, sr, rng, kicks=(0, 2.5), snares=(2,), hats_per_beat=2, gain=1.1)
    beat = 60.0 / bpm
    bass = lambda f, d: np.sin(2 * np.pi * f * _t(d, sr)).astype(np.float32) * np.float32(0.9)  # noqa: E731
    _melody(track, ["C2", "C2", "D#2", "G1"], beat * 2, sr, bass, 0.7, rng)
    _melody(
        track, ["C5", "D#5", "G5", "D#5"], beat, sr, lambda f, d: piano_note(f, d, sr), 0.3, rng
    )
    return _finish(track)


#: Style name -> generator, for the demo library and the tests.
STYLES: dict[str, Callable[..., Signal]] = {
    "reel": reel,
    "techno": techno,
    "hiphop": hiphop,
    "rock": rock,
    "classical": classical,
    "jazz": jazz,
    "blues": blues,
    "piano": solo_piano,
    "quartet": string_quartet,
}
