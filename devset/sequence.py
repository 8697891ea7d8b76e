"""Short phrases and small ensembles sequenced from recorded single notes (``arrange`` clips).

Every sound in these clips is a recording of a real instrument from a freely licensed sample
library (one note, one drum hit); this module only decides which note plays when. The
arrangements follow the idiom of a genre (a Scruggs-style forward roll, a boom-chuck rhythm
guitar, a walking bass, a shuffle), so the genre label of such a clip says "arranged as",
not "recorded as": the manifest marks them ``sequenced`` and ``benchmarks/devset.py`` gives
them ``origin="sequenced"`` so that results can be reported apart from the recordings.

A recipe is chosen by clip id (:data:`RECIPES`). Its notes are looked up by pitch in the files
that the manifest row lists: the nearest recorded note is taken and resampled by at most a
couple of semitones. Everything is deterministic (fixed seeds), so a rebuild gives the same
samples; ``plan`` lists the files a recipe needs, which is how the manifest rows were made.

    files = {path: decoded_mono_float32_at_rate, ...}   # the row's files, keyed by path
    y = render("seq-bluegrass-a", files, rate)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Default sample rate; ``render`` takes the rate of the decoded files (the dev set is
#: built full band: 44.1 kHz FLAC, 48 kHz for the committed Opus clips).
RATE = 44100
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def midi_of(name: str, octave: int) -> int:
    """``("A#", 3)``, ``("Bb", 3)``, ``("As", 3)`` -> MIDI number (C4 = 60)."""
    name = name.lower()
    pc = NOTE_NAMES[name[0]]
    for accidental in name[1:]:
        pc += {"#": 1, "s": 1, "b": -1}[accidental]
    return 12 * (octave + 1) + pc


# --- sample libraries: which file holds which note ------------------------------------------


@dataclass(frozen=True)
class Library:
    """One instrument in one source: a regex over paths that yields (note, octave)."""

    source: str
    pattern: str
    #: Added to the parsed MIDI number where a library's file names are an octave off the
    #: sounding pitch (checked with a pitch tracker on two files each; ganjo's own sfz maps
    #: "D#3" to key 39, i.e. D#2).
    transpose: int = 0

    def notes(self, paths: Iterable[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        rx = re.compile(self.pattern)
        for path in sorted(paths):
            m = rx.fullmatch(path)
            if m:
                midi = midi_of(m.group("n"), int(m.group("o"))) + self.transpose
                out.setdefault(midi, []).append(path)
        return out


PHIL = "github:skratchdot/philharmonia-samples@717b7de2bcae05e44aa8a3dde143c8d093b8f6c8"
GANJO = "github:sfzinstruments/ganjo@ccff5cd5cd3b513873a48994c07724d9d3c39e1c"
MEATBASS = "github:sfzinstruments/karoryfer.meatbass@ac9e859564bda286ab5ec672d00ff1aa2fef2895"
EMILY = "github:sfzinstruments/karoryfer.emilyguitar@b4920dc662fd9cad6dcaccdeecffdd91c8725d8c"
COWSYNTH = "github:sfzinstruments/karoryfer.cowsynth@5a5b5afc2dabbe54cf9d75ab64711ce01862b42c"
WERESAX = "github:sfzinstruments/karoryfer.weresax@595d1fc1044edf6260d44b8215b723a3fbdd1802"
HYDROGEN = "debian:hydrogen-drumkits@2017.09.19~dfsg-1"
#: A copy of the tonejs-instruments samples (N. Brosowsky, CC BY 3.0; violin and trumpet
#: from VSCO 2, Versilian Studios), named by sounding pitch (checked with a pitch tracker).
JAM = "github:Reveille33/jamtrack-samples@bfe45d4eb7652b244d1e38ee1275311fc9915b0b"

_N = r"(?P<n>[A-Ga-g][sb#]?)(?P<o>\d)"


def phil(instrument: str, file_prefix: str, tail: str) -> Library:
    """Philharmonia Orchestra samples: ``audio/INSTR/PREFIX_NOTE_LENGTH_DYNAMIC_STYLE.mp3``."""
    return Library(PHIL, rf"audio/{instrument}/{file_prefix}_{_N}_{tail}\.mp3")


LIBRARIES: dict[str, Library] = {
    "banjo": phil("banjo", "banjo", "very-long_forte_normal"),
    "banjo-soft": phil("banjo", "banjo", "very-long_piano_normal"),
    "mandolin": phil("mandolin", "mandolin", "very-long_piano_normal"),
    "mandolin-tremolo": phil("mandolin", "mandolin", "very-long_piano_tremolo"),
    "guitar": phil("guitar", "guitar", "very-long_forte_normal"),
    "guitar-soft": phil("guitar", "guitar", "very-long_piano_normal"),
    "clarinet": phil("clarinet", "clarinet", "05_forte_normal"),
    "clarinet-long": phil("clarinet", "clarinet", "1_piano_normal"),
    "trombone-long": phil("trombone", "trombone", "1_mezzo-forte_normal"),
    "saxophone": phil("saxophone", "saxophone", "05_forte_normal"),
    "double-bass-arco": phil("double bass", "double-bass", "05_forte_arco-normal"),
    "cello": phil("cello", "cello", "1_forte_arco-normal"),
    "violin": Library(JAM, rf"violin/{_N}\.mp3"),
    "trumpet": Library(JAM, rf"trumpet/{_N}\.mp3"),
    "ganjo": Library(GANJO, rf"Common/Banjo_Common - {_N}\.wav", transpose=-12),
    "meatbass": Library(MEATBASS, rf"Samples/pizz/{_N}_vl3_rr[12]\.wav"),
    "emily": Library(EMILY, rf"notes/{_N}_f_rr[12]\.wav"),
    "bagpipes": Library(COWSYNTH, rf"natural/{_N}\.wav", transpose=12),
    "weresax": Library(WERESAX, rf"Samples/alto/{_N}_f_rr1_cnd\.wav", transpose=12),
}

_KIT = "usr/share/hydrogen/data/drumkits/ColomboAcousticDrumkit/"
DRUMS: dict[str, str] = {
    "kick": _KIT + "bassdrum-4mics-br-stereo-normal3.flac",
    "kick-soft": _KIT + "bassdrum-4mics-br-stereo-soft2.flac",
    "snare": _KIT + "snare-opaque-normal-mic-normal_shot2.flac",
    "rim": _KIT + "stick-rim-9.flac",
    "hat": _KIT + "hihat-closed-1.flac",
    "hat2": _KIT + "hihat-closed-4.flac",
    "ride": _KIT + "crash16i__ride2.flac",
    "ride-cup": _KIT + "crash20i__ride-cup1.flac",
}


# --- rendering ------------------------------------------------------------------------------


def _onset_trim(y: np.ndarray, rate: int) -> np.ndarray:
    """Drop the silence before the attack (mp3 padding, pre-roll)."""
    if not len(y):
        return y
    peak = float(np.max(np.abs(y)))
    if peak <= 0:
        return y
    above = np.flatnonzero(np.abs(y) > 0.05 * peak)
    start = max(0, int(above[0]) - int(0.004 * rate)) if len(above) else 0
    return y[start:]


def _normalise(y: np.ndarray, rate: int) -> np.ndarray:
    head = y[: int(0.4 * rate)]
    rms = float(np.sqrt(np.mean(head**2))) if len(head) else 0.0
    return y * (0.1 / rms) if rms > 1e-6 else y


def _shift(y: np.ndarray, semitones: float) -> np.ndarray:
    if abs(semitones) < 1e-6:
        return y
    ratio = 2.0 ** (semitones / 12.0)
    idx = np.arange(0.0, len(y) - 1, ratio)
    shifted: np.ndarray = np.interp(idx, np.arange(len(y)), y).astype(np.float32)
    return shifted


@dataclass
class Track:
    """An output buffer plus the record of which source files were asked for."""

    seconds: float
    files: Mapping[str, np.ndarray] | None = None
    #: Paths per source that the recipe used (filled in while rendering or planning).
    used: dict[str, set[str]] = field(default_factory=dict)
    available: Mapping[str, Iterable[str]] | None = None
    rate: int = RATE

    def __post_init__(self) -> None:
        self.y = np.zeros(int((self.seconds + 4) * self.rate), dtype=np.float32)
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    def _paths(self, source: str) -> Iterable[str]:
        if self.available is not None:
            return self.available.get(source, ())
        assert self.files is not None
        return self.files.keys()

    def _audio(self, source: str, path: str) -> np.ndarray:
        self.used.setdefault(source, set()).add(path)
        if self.files is None:
            return np.zeros(int(0.5 * self.rate), dtype=np.float32)
        return self.files[path]

    def note(
        self,
        lib_name: str,
        midi: int,
        at: float,
        dur: float,
        gain: float = 1.0,
        variant: int = 0,
    ) -> None:
        """Play ``midi`` on library ``lib_name`` at ``at`` seconds for ``dur`` seconds."""
        lib = LIBRARIES[lib_name]
        key = (lib_name, midi * 8 + variant % 8)
        if key not in self._cache:
            table = lib.notes(self._paths(lib.source))
            if not table:
                raise KeyError(f"no {lib_name} samples among the files given")
            nearest = min(table, key=lambda m: (abs(m - midi), m))
            if abs(nearest - midi) > 2:
                raise KeyError(f"{lib_name}: nearest recording to {midi} is {nearest}")
            paths = table[nearest]
            raw = self._audio(lib.source, paths[variant % len(paths)])
            self._cache[key] = _shift(
                _normalise(_onset_trim(raw, self.rate), self.rate), midi - nearest
            )
        self._place(self._cache[key], at, dur, gain)

    def hit(self, drum: str, at: float, gain: float = 1.0) -> None:
        key = ("drum:" + drum, 0)
        if key not in self._cache:
            raw = self._audio(HYDROGEN, DRUMS[drum])
            self._cache[key] = _normalise(_onset_trim(raw, self.rate), self.rate)
        self._place(self._cache[key], at, 1.5, gain)

    def _place(self, sample: np.ndarray, at: float, dur: float, gain: float) -> None:
        n = min(len(sample), int(dur * self.rate))
        if n <= 0:
            return
        seg = sample[:n].copy()
        release = min(n // 2, int(0.06 * self.rate))
        if release:
            seg[-release:] *= np.linspace(1.0, 0.0, release, dtype=np.float32)
        start = int(at * self.rate)
        end = min(len(self.y), start + n)
        if end > start:
            self.y[start:end] += gain * seg[: end - start]

    def audio(self) -> np.ndarray:
        return self.y[: int(self.seconds * self.rate)]


# --- musical helpers ------------------------------------------------------------------------

#: Chord tones (MIDI) for the keys used here; the roots sit in the guitar's low octave.
CHORDS: dict[str, tuple[int, ...]] = {
    "G": (43, 47, 50, 55, 59, 62),
    "C": (48, 52, 55, 60, 64, 67),
    "D": (50, 54, 57, 62, 66, 69),
    "A": (45, 49, 52, 57, 61, 64),
    "E": (40, 44, 47, 52, 56, 59),
    "F": (41, 45, 48, 53, 57, 60),
    "Bb": (46, 50, 53, 58, 62, 65),
    "Gm7": (43, 46, 50, 53, 55, 58),
    "C7": (48, 52, 55, 58, 60, 64),
    "Fmaj7": (41, 45, 48, 52, 53, 57),
    "D7": (50, 54, 57, 60, 62, 66),
    "A7": (45, 49, 52, 55, 57, 61),
    "E7": (40, 44, 47, 50, 52, 56),
    "Dm7": (50, 53, 57, 60, 62, 65),
    "G7": (43, 47, 50, 53, 55, 59),
    "Cmaj7": (48, 52, 55, 59, 60, 64),
}


def bars(progression: str, repeat: int = 4) -> list[str]:
    """``"G C G D"`` -> chord per bar, repeated to ``repeat`` times its length."""
    chords = progression.split()
    return (chords * repeat)[: len(chords) * repeat]


def swing(beat: float, eighth: int, ratio: float = 2 / 3) -> float:
    """Offset in beats of the ``eighth``-th eighth note (0/1) within a beat, swung."""
    return beat + (ratio if eighth else 0.0)


def strum(
    t: Track,
    lib: str,
    chord: tuple[int, ...],
    at: float,
    dur: float,
    gain: float,
    down: bool = True,
    spread: float = 0.014,
) -> None:
    notes = chord if down else tuple(reversed(chord))
    for i, m in enumerate(notes):
        t.note(lib, m, at + i * spread, dur, gain * 0.55, variant=i)


# --- parts ----------------------------------------------------------------------------------


def banjo_rolls(
    t: Track,
    lib: str,
    prog: list[str],
    bpm: float,
    gain: float = 1.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Scruggs-style forward rolls: eighth notes over two chord tones and the high drone."""
    spb = 60.0 / bpm
    drone = 67  # open fifth string, g'
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        low, mid, high = ch[3], ch[4], ch[5] if ch[5] <= 69 else ch[4]
        patterns = (
            [low, mid, drone, high, low, drone, high, mid],
            [mid, low, drone, mid, high, drone, low, high],
        )
        pat = patterns[b % 2]
        for i, m in enumerate(pat):
            jitter = float(rng.normal(0, 0.006)) if rng is not None else 0.0
            at = (b * 4 + i * 0.5) * spb + jitter
            accent = 1.0 if i in (0, 3, 6) else 0.75
            t.note(lib, m, max(0.0, at), spb * 0.9, gain * accent, variant=i)


def boom_chuck(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    """Country rhythm guitar: bass note on 1 and 3 (root, then fifth), strum on 2 and 4."""
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        t.note(lib, ch[0], (b * 4) * spb, spb * 0.9, gain)
        strum(t, lib, ch[1:], (b * 4 + 1) * spb, spb * 0.5, gain)
        t.note(lib, ch[2] - 12 if ch[2] - 12 >= 40 else ch[2], (b * 4 + 2) * spb, spb * 0.9, gain)
        strum(t, lib, ch[1:], (b * 4 + 3) * spb, spb * 0.5, gain, down=False)


def waltz_guitar(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        t.note(lib, ch[0], b * 3 * spb, spb * 0.95, gain)
        strum(t, lib, ch[2:], (b * 3 + 1) * spb, spb * 0.6, gain * 0.8)
        strum(t, lib, ch[2:], (b * 3 + 2) * spb, spb * 0.6, gain * 0.8)


def fingerpick(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    """Travis picking: alternating thumb bass on the beats, treble notes between."""
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        thumb = [ch[0], ch[2], ch[0], ch[2]]
        treble = [ch[5], ch[4], ch[5], ch[3]]
        for beat in range(4):
            t.note(lib, thumb[beat], (b * 4 + beat) * spb, spb * 1.5, gain * 0.9, variant=beat)
            t.note(lib, treble[beat], (b * 4 + beat + 0.5) * spb, spb * 1.2, gain * 0.7)


def mandolin_chop(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    """The bluegrass mandolin's off-beat chop: short closed chords on 2 and 4."""
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        upper = tuple(m + 12 for m in ch[3:])
        for beat in (1, 3):
            strum(t, lib, upper, (b * 4 + beat) * spb, 0.11, gain * 1.2, spread=0.006)


def two_beat_bass(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        root = CHORDS[name][0] - 12 if CHORDS[name][0] >= 45 else CHORDS[name][0]
        t.note(lib, root, (b * 4) * spb, spb * 1.6, gain)
        t.note(lib, root + 7, (b * 4 + 2) * spb, spb * 1.6, gain)


def walking_bass(
    t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0, beats_per_chord: int = 4
) -> None:
    """Quarter-note walk: root, third, fifth, then a chromatic approach to the next root."""
    spb = 60.0 / bpm
    roots = [(CHORDS[c][0] - 12 if CHORDS[c][0] >= 45 else CHORDS[c][0]) for c in prog]
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        root = roots[b]
        nxt = roots[(b + 1) % len(roots)]
        third = root + (ch[1] - ch[0])
        line = [root, third, root + 7, nxt + (1 if (b % 2) else -1)]
        if beats_per_chord == 2:
            line = [root, nxt + (1 if (b % 2) else -1)]
        for i, m in enumerate(line):
            t.note(lib, m, (b * beats_per_chord + i) * spb, spb * 0.95, gain, variant=i)


def shuffle_riff(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    """Boogie shuffle: root + fifth, root + sixth in swung eighths (two-note power shape)."""
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        root = CHORDS[name][0]
        for beat in range(4):
            upper = root + (7 if beat % 2 == 0 else 9)
            for e in (0, 1):
                at = swing(b * 4 + beat, e) * spb
                dur = spb * (0.6 if e == 0 else 0.3)
                t.note(lib, root, at, dur, gain * 0.7, variant=e)
                t.note(lib, upper, at + 0.008, dur, gain * 0.6, variant=e)


def boogie_bass(t: Track, lib: str, prog: list[str], bpm: float, gain: float = 1.0) -> None:
    spb = 60.0 / bpm
    for b, name in enumerate(prog):
        ch = CHORDS[name]
        root = ch[0] - 12 if ch[0] >= 45 else ch[0]
        line = [root, root + 4, root + 7, root + 9]
        for i, m in enumerate(line):
            t.note(lib, m, (b * 4 + i) * spb, spb * 0.9, gain, variant=i)


def drums_backbeat(
    t: Track, prog_len: int, bpm: float, shuffle: bool, gain: float = 1.0, soft: bool = False
) -> None:
    spb = 60.0 / bpm
    for b in range(prog_len):
        for beat in range(4):
            at = (b * 4 + beat) * spb
            if beat in (0, 2):
                t.hit("kick-soft" if soft else "kick", at, gain * 0.9)
            if beat in (1, 3):
                t.hit("rim" if soft else "snare", at, gain * (0.5 if soft else 0.7))
            t.hit("hat", at, gain * 0.35)
            t.hit("hat2", swing(b * 4 + beat, 1, 2 / 3 if shuffle else 0.5) * spb, gain * 0.25)


def drums_swing(t: Track, prog_len: int, bpm: float, gain: float = 1.0) -> None:
    """Jazz time: ride on every beat plus the skip note, hi-hat foot on 2 and 4, feathered kick."""
    spb = 60.0 / bpm
    for b in range(prog_len):
        for beat in range(4):
            at = (b * 4 + beat) * spb
            t.hit("ride", at, gain * 0.45)
            if beat in (1, 3):
                t.hit("ride", swing(b * 4 + beat, 1) * spb, gain * 0.3)
                t.hit("hat2", at, gain * 0.3)
            t.hit("kick-soft", at, gain * 0.2)


def melody(
    t: Track,
    lib: str,
    notes: list[tuple[int | None, float]],
    bpm: float,
    start_beat: float = 0.0,
    gain: float = 1.0,
    swung: bool = False,
    legato: float = 0.95,
) -> float:
    """Play (midi or None for a rest, length in beats) in order; returns the end beat."""
    spb = 60.0 / bpm
    beat = start_beat
    for m, length in notes:
        at = beat
        if swung and (beat * 2) % 2 == 1:  # an off-beat eighth lands late
            at = int(beat) + 2 / 3
        if m is not None:
            t.note(lib, m, at * spb, length * spb * legato + 0.05, gain)
        beat += length
    return beat


def loop_melody(
    t: Track,
    lib: str,
    phrase: list[tuple[int | None, float]],
    bpm: float,
    total_beats: float,
    **kwargs: float | bool,
) -> None:
    beat = 0.0
    while beat < total_beats:
        beat = melody(t, lib, phrase, bpm, start_beat=beat, **kwargs)  # type: ignore[arg-type]


# --- melodies (MIDI, beats) -----------------------------------------------------------------

E8 = 0.5
#: A melody: (MIDI note or None for a rest, length in beats).
Phrase = list[tuple[int | None, float]]

REEL_G: Phrase = [
    (67, E8),
    (71, E8),
    (74, E8),
    (71, E8),
    (72, E8),
    (71, E8),
    (69, E8),
    (67, E8),
    (69, E8),
    (71, E8),
    (72, E8),
    (74, E8),
    (76, E8),
    (74, E8),
    (71, E8),
    (69, E8),
    (67, E8),
    (66, E8),
    (67, E8),
    (69, E8),
    (71, E8),
    (69, E8),
    (67, E8),
    (64, E8),
    (62, E8),
    (66, E8),
    (69, E8),
    (72, E8),
    (71, E8),
    (69, E8),
    (67, 1.0),
]
WALTZ_D: Phrase = [
    (62, 1),
    (66, 1),
    (69, 1),
    (74, 2),
    (73, 1),
    (71, 2),
    (69, 1),
    (66, 3),
    (67, 1),
    (69, 1),
    (71, 1),
    (69, 2),
    (66, 1),
    (64, 3),
    (62, 3),
]
SWING_F: Phrase = [
    (65, E8),
    (68, E8),
    (69, E8),
    (72, E8),
    (74, 1),
    (72, E8),
    (69, E8),
    (67, E8),
    (65, E8),
    (63, E8),
    (62, E8),
    (60, 1.5),
    (None, E8),
    (62, E8),
    (65, E8),
    (69, E8),
    (72, E8),
    (70, 1),
    (69, E8),
    (67, E8),
    (65, 2),
]
BLUES_RIFF_BB: Phrase = [
    (58, E8),
    (61, E8),
    (63, E8),
    (64, E8),
    (65, 1),
    (None, 1),
    (68, E8),
    (65, E8),
    (63, E8),
    (61, E8),
    (58, 1.5),
    (None, 0.5),
]
DIXIE_F: Phrase = [
    (72, 1),
    (69, E8),
    (72, E8),
    (74, 1),
    (72, 1),
    (69, 1.5),
    (65, E8),
    (67, 1),
    (65, 1),
    (None, 1),
]
PIPE_A: Phrase = [
    (57, 1),
    (60, E8),
    (62, E8),
    (64, 1),
    (62, 1),
    (60, 1.5),
    (57, E8),
    (55, 1),
    (57, 1),
    (57, 2),
    (64, 1),
    (62, 1),
    (60, 1.5),
    (62, E8),
    (64, 1),
    (60, 1),
    (57, 2),
]
PIPE_G: Phrase = [
    (55, 1),
    (59, 1),
    (62, 1.5),
    (60, E8),
    (59, 1),
    (57, 1),
    (55, 2),
    (62, 1),
    (64, 1),
    (62, 1),
    (59, 1),
    (57, 1),
    (59, E8),
    (57, E8),
    (55, 2),
]


REEL_D: Phrase = [
    (62, E8),
    (66, E8),
    (69, E8),
    (66, E8),
    (74, E8),
    (69, E8),
    (66, E8),
    (69, E8),
    (71, E8),
    (69, E8),
    (71, E8),
    (73, E8),
    (74, E8),
    (73, E8),
    (71, E8),
    (69, E8),
    (67, E8),
    (71, E8),
    (74, E8),
    (71, E8),
    (69, E8),
    (66, E8),
    (64, E8),
    (66, E8),
    (67, E8),
    (66, E8),
    (64, E8),
    (61, E8),
    (62, 1.0),
    (None, 1.0),
]
#: Four-part chorale in D (soprano, alto, tenor, bass), one chord per half note.
CHORALE_D: list[tuple[int, int, int, int]] = [
    (74, 66, 57, 50),
    (74, 71, 59, 43),
    (73, 69, 64, 45),
    (74, 66, 57, 50),
    (71, 66, 62, 47),
    (71, 67, 62, 43),
    (71, 67, 59, 40),
    (73, 67, 64, 45),
    (74, 66, 62, 50),
    (74, 66, 57, 38),
]
#: Jazz guide tones (sevenths and thirds) per bar of ``Gm7 C7 Fmaj7 Fmaj7``, two per bar.
GUIDE_TONES = [(65, 70), (64, 70), (64, 69), (65, 69)]


def _transpose(phrase: list[tuple[int | None, float]], k: int) -> list[tuple[int | None, float]]:
    return [(None if m is None else m + k, d) for m, d in phrase]


# --- recipes --------------------------------------------------------------------------------

Recipe = Callable[[Track, np.random.Generator], None]


def _bluegrass(banjo: str, bpm: float, prog: str, with_mandolin: bool) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars(prog, 6)
        banjo_rolls(t, banjo, p, bpm, 0.9, rng)
        boom_chuck(t, "guitar", p, bpm, 0.7)
        two_beat_bass(t, "meatbass", p, bpm, 1.0)
        if with_mandolin:
            mandolin_chop(t, "mandolin", p, bpm, 0.8)

    return run


def _old_time(bpm: float) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars("G G C G D D G G", 2)
        banjo_rolls(t, "banjo-soft", p, bpm, 0.8, rng)
        loop_melody(t, "mandolin", REEL_G, bpm, len(p) * 4, gain=1.0)
        boom_chuck(t, "guitar", p, bpm, 0.6)
        two_beat_bass(t, "meatbass", p, bpm, 0.9)

    return run


def _country(bpm: float, prog: str, lead: str | None) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars(prog, 4)
        boom_chuck(t, "guitar", p, bpm, 0.8)
        two_beat_bass(t, "meatbass", p, bpm, 1.0)
        drums_backbeat(t, len(p), bpm, shuffle=False, gain=0.8, soft=True)
        if lead:
            loop_melody(t, lead, REEL_G, bpm / 2, len(p) * 2, gain=0.9)

    return run


def _blues(bpm: float, key: str) -> Recipe:
    prog = {"A": "A A A A D D A A E D A E", "E": "E E E E A A E E"}[key]

    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars(prog, 2)
        shuffle_riff(t, "emily", p, bpm, 0.9)
        boogie_bass(t, "meatbass", p, bpm, 1.0)
        drums_backbeat(t, len(p), bpm, shuffle=True, gain=0.9)

    return run


#: Transposition of the swing phrase per front-line instrument (its recorded range).
FRONT_SHIFT = {"weresax": 0, "saxophone": 0, "trombone-long": -9}


def _jazz(bpm: float, front: list[str]) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars("Gm7 C7 Fmaj7 Fmaj7", 4)
        walking_bass(t, "meatbass", p, bpm, 1.0)
        drums_swing(t, len(p), bpm, 0.9)
        for lib in front:
            phrase = DIXIE_F if lib == "clarinet" else _transpose(SWING_F, FRONT_SHIFT[lib])
            loop_melody(t, lib, phrase, bpm, len(p) * 4, gain=0.8, swung=True)

    return run


def fiddle_tune(
    t: Track, phrase: Phrase, bpm: float, total_beats: float, drone: int, gain: float = 1.0
) -> None:
    """A fiddle reel: the tune in detached eighths plus an open-string double stop on 1 and 3."""
    loop_melody(t, "violin", phrase, bpm, total_beats, gain=gain, legato=0.85)
    spb = 60.0 / bpm
    beat = 0.0
    while beat < total_beats:
        t.note("violin", drone, beat * spb, spb * 0.9, gain * 0.35)
        beat += 2.0


#: The fiddle tunes and the open string each is double-stopped against.
FIDDLE_TUNES: dict[str, tuple[Phrase, int]] = {"G": (REEL_G, 55), "D": (REEL_D, 62)}


def _solo_fiddle(key: str, bpm: float) -> Recipe:
    phrase, drone = FIDDLE_TUNES[key]
    return lambda t, rng: fiddle_tune(t, phrase, bpm, t.seconds * bpm / 60, drone)


def _string_band(
    banjo: str, bpm: float, key: str, prog: str, with_mandolin: bool = False
) -> Recipe:
    """Fiddle lead over banjo rolls, boom-chuck guitar and two-beat bass (bluegrass/old-time)."""
    phrase, drone = FIDDLE_TUNES[key]

    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars(prog, 4)
        fiddle_tune(t, phrase, bpm, len(p) * 4, drone, 1.1)
        banjo_rolls(t, banjo, p, bpm, 0.7, rng)
        boom_chuck(t, "guitar", p, bpm, 0.6)
        two_beat_bass(t, "meatbass", p, bpm, 1.0)
        if with_mandolin:
            mandolin_chop(t, "mandolin", p, bpm, 0.7)

    return run


def _jazz_brass(bpm: float, sax: str) -> Recipe:
    """Trumpet lead on the swing line, saxophone on half-note guide tones, walking bass, ride."""

    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars("Gm7 C7 Fmaj7 Fmaj7", 4)
        walking_bass(t, "meatbass", p, bpm, 1.0)
        drums_swing(t, len(p), bpm, 0.9)
        loop_melody(t, "trumpet", SWING_F, bpm, len(p) * 4, gain=0.9, swung=True)
        spb = 60.0 / bpm
        for b in range(len(p)):
            for half, m in enumerate(GUIDE_TONES[b % len(GUIDE_TONES)]):
                t.note(sax, m, (b * 4 + half * 2) * spb, spb * 1.9, 0.55)

    return run


def _string_quartet(bpm: float) -> Recipe:
    """Chorale: two violins and a violin tenor line over the cello, half notes."""

    def run(t: Track, rng: np.random.Generator) -> None:
        spb = 60.0 / bpm
        for i, (sop, alto, tenor, bass) in enumerate(CHORALE_D):
            at, dur = i * 2 * spb, 2 * spb + 0.05
            t.note("violin", sop, at, dur, 0.9)
            t.note("violin", alto, at, dur, 0.6, variant=1)
            t.note("violin", tenor, at, dur, 0.55, variant=2)
            t.note("cello", bass, at, dur, 0.9)

    return run


def _folk_waltz(lead: str, bpm: float) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        p = bars("D D A D G D A D", 2)
        waltz_guitar(t, "guitar-soft", p, bpm, 0.7)
        beat = 0.0
        while beat < len(p) * 3:
            beat = melody(t, lead, WALTZ_D, bpm, start_beat=beat, gain=0.9, legato=1.0)

    return run


def _bagpipes(phrase: list[tuple[int | None, float]], drone: int, bpm: float) -> Recipe:
    def run(t: Track, rng: np.random.Generator) -> None:
        # The drone: the long recorded drone-pitch note, restarted with overlap.
        step = 6.0
        at = 0.0
        while at < t.seconds:
            t.note("bagpipes", drone, at, step + 0.5, 0.5)
            at += step
        loop_melody(t, "bagpipes", phrase, bpm, t.seconds * bpm / 60, gain=0.8, legato=1.0)

    return run


def _solo_rolls(lib: str, bpm: float, prog: str) -> Recipe:
    return lambda t, rng: banjo_rolls(t, lib, bars(prog, 6), bpm, 1.0, rng)


def _solo_melody(
    lib: str,
    phrase: list[tuple[int | None, float]],
    bpm: float,
    swung: bool = False,
    legato: float = 0.95,
) -> Recipe:
    return lambda t, rng: loop_melody(
        t, lib, phrase, bpm, t.seconds * bpm / 60, gain=1.0, swung=swung, legato=legato
    )


@dataclass(frozen=True)
class Spec:
    recipe: Recipe
    seconds: float
    seed: int = 0


RECIPES: dict[str, Spec] = {
    # solo phrases
    "seq-banjo-rolls-a": Spec(_solo_rolls("banjo", 120, "G G C G D D G G"), 16),
    "seq-banjo-rolls-b": Spec(_solo_rolls("banjo-soft", 110, "C C G G D D G G"), 16, 1),
    "seq-ganjo-rolls": Spec(_solo_rolls("ganjo", 115, "G C G D"), 16, 2),
    "seq-mandolin-reel": Spec(_solo_melody("mandolin", REEL_G, 100), 16),
    "seq-mandolin-tremolo": Spec(_solo_melody("mandolin-tremolo", WALTZ_D, 96, legato=1.0), 16),
    "seq-guitar-boom-chuck": Spec(
        lambda t, rng: boom_chuck(t, "guitar", bars("G C G D", 3), 112), 16
    ),
    "seq-guitar-fingerpick": Spec(
        lambda t, rng: fingerpick(t, "guitar-soft", bars("C C G G", 3), 92), 16
    ),
    "seq-guitar-waltz": Spec(lambda t, rng: waltz_guitar(t, "guitar", bars("D A D G", 3), 120), 14),
    "seq-meatbass-walk": Spec(
        lambda t, rng: walking_bass(t, "meatbass", bars("Gm7 C7 Fmaj7 Fmaj7", 3), 132), 16
    ),
    "seq-meatbass-two-beat": Spec(
        lambda t, rng: two_beat_bass(t, "meatbass", bars("G C G D", 3), 116), 14
    ),
    "seq-double-bass-arco": Spec(
        _solo_melody("double-bass-arco", _transpose(WALTZ_D, -24), 72, legato=1.0), 16
    ),
    "seq-clarinet-swing": Spec(_solo_melody("clarinet", SWING_F, 132, swung=True), 14),
    "seq-clarinet-waltz": Spec(_solo_melody("clarinet-long", WALTZ_D, 100, legato=1.0), 16),
    "seq-trombone-swing": Spec(
        _solo_melody("trombone-long", _transpose(SWING_F, -9), 120, True), 14
    ),
    "seq-trombone-long": Spec(
        _solo_melody("trombone-long", _transpose(WALTZ_D, -12), 84, legato=1.0), 16
    ),
    "seq-saxophone-blues": Spec(_solo_melody("saxophone", BLUES_RIFF_BB, 112, swung=True), 14),
    "seq-bagpipes-a": Spec(_bagpipes(_transpose(PIPE_A, 12), 57, 84), 16),
    "seq-bagpipes-g": Spec(_bagpipes(_transpose(PIPE_G, 12), 55, 76), 16),
    "seq-emily-shuffle": Spec(
        lambda t, rng: shuffle_riff(t, "emily", bars("A A D A E A", 1), 96), 14
    ),
    # ensembles
    "seq-bluegrass-a": Spec(_bluegrass("banjo", 124, "G G C G D D G G", True), 16),
    "seq-bluegrass-b": Spec(_bluegrass("banjo", 116, "G C G D", True), 16, 1),
    "seq-bluegrass-c": Spec(_bluegrass("ganjo", 128, "C C G G D D G G", False), 15, 2),
    "seq-old-time": Spec(_old_time(110), 16, 3),
    "seq-country-a": Spec(_country(112, "G C G D", None), 16),
    "seq-country-b": Spec(_country(104, "G G C C D D G G", "guitar-soft"), 16, 1),
    "seq-blues-shuffle-a": Spec(_blues(96, "A"), 16),
    "seq-blues-shuffle-b": Spec(_blues(112, "E"), 16, 1),
    "seq-jazz-sax-trio": Spec(_jazz(132, ["weresax"]), 16),
    "seq-jazz-trombone-sax": Spec(_jazz(120, ["saxophone", "trombone-long"]), 16, 1),
    "seq-jazz-clarinet-front": Spec(_jazz(144, ["clarinet", "trombone-long"]), 16, 2),
    "seq-folk-mandolin-waltz": Spec(_folk_waltz("mandolin-tremolo", 108), 16),
    "seq-folk-clarinet-waltz": Spec(_folk_waltz("clarinet-long", 100), 16, 1),
    # fiddle, trumpet, strings (tonejs-instruments violin and trumpet)
    "seq-fiddle-reel-g": Spec(_solo_fiddle("G", 104), 16),
    "seq-fiddle-reel-d": Spec(_solo_fiddle("D", 116), 16),
    "seq-bluegrass-fiddle-a": Spec(_string_band("banjo", 120, "G", "G C G D"), 16),
    "seq-bluegrass-fiddle-b": Spec(_string_band("banjo", 112, "D", "D A G D", True), 16, 1),
    "seq-old-time-fiddle": Spec(_string_band("banjo-soft", 104, "G", "G C G D"), 16, 2),
    "seq-trumpet-swing": Spec(_solo_melody("trumpet", SWING_F, 132, swung=True), 14),
    "seq-trumpet-waltz": Spec(_solo_melody("trumpet", WALTZ_D, 96, legato=1.0), 16),
    "seq-jazz-trumpet-alto": Spec(_jazz_brass(138, "weresax"), 16),
    "seq-jazz-trumpet-sax": Spec(_jazz_brass(116, "saxophone"), 16, 1),
    "seq-string-quartet": Spec(_string_quartet(75), 16),
}


def render(clip_id: str, files: Mapping[str, np.ndarray], rate: int = RATE) -> np.ndarray:
    """The clip, mono float32 at ``rate``, from the files decoded at ``rate`` (keyed by
    manifest path)."""
    spec = RECIPES[clip_id]
    track = Track(spec.seconds, files=files, rate=rate)
    spec.recipe(track, np.random.default_rng(spec.seed))
    return track.audio()


def plan(clip_id: str, available: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Source -> sorted paths that the recipe plays, choosing among ``available`` paths."""
    spec = RECIPES[clip_id]
    listing = {src: sorted(paths) for src, paths in available.items()}
    track = Track(spec.seconds, available=listing)
    spec.recipe(track, np.random.default_rng(spec.seed))
    return {src: sorted(paths) for src, paths in track.used.items()}


__all__ = ["DRUMS", "LIBRARIES", "RATE", "RECIPES", "plan", "render"]
