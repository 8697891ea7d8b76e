"""Evidence for the MTT instrument thresholds in ``backends/musicnn.py``.

Prints, for each test signal, the track-level probability (mean over all patches) of every
MTT instrument tag, as the ``musicnn-mtt`` backend returns it, and which tags the shipped
thresholds detect. Signals: the five reference clips in ``tests/data/musicnn`` and a few
synthetic ones made here (seeded). Each track is cut like the analyzer does: three windows
centred at 25, 50 and 75 % of the track, cropped to the backend's window length.

Usage::

    python benchmarks/musicnn_thresholds.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from beetsplug.genrescore.backends.base import BackendOptions, Role
from beetsplug.genrescore.backends.musicnn import MTT_INSTRUMENT_THRESHOLDS, build
from beetsplug.genrescore.scoring.taxonomy import instrument_scores

Waveform = npt.NDArray[np.float32]

SR: Final = 16000
SECONDS: Final = 30.0
CLIPS: Final = Path(__file__).resolve().parent.parent / "tests" / "data" / "musicnn"
#: What plays in each signal (canonical instrument names), for the "expected" column.
EXPECTED: Final = {
    "violin": {"violin"},
    "rock": {"guitar", "drums"},
    "piano": {"piano"},
    "techno": {"synthesizer", "drums"},
    "tone": set(),
    "noise floor": set(),
    "white noise": set(),
    "pink noise": set(),
    "sine 440": set(),
    "saw arpeggio": {"synthesizer"},
    "drum loop": {"drums"},
    "plucked strings": {"guitar"},
    "saw + drums": {"synthesizer", "drums"},
}


def _time() -> npt.NDArray[np.float64]:
    return np.arange(int(SECONDS * SR)) / SR


def _pink(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    pink: npt.NDArray[np.float64] = np.fft.irfft(spectrum, n)
    peak: float = np.abs(pink).max()
    return pink / peak


def _saw_arpeggio() -> npt.NDArray[np.float64]:
    t = _time()
    notes = 220.0 * 2 ** (np.array([0, 3, 7, 12, 7, 3]) / 12)
    step = 0.125  # s, sixteenth notes at 120 bpm
    index = (t // step).astype(int) % len(notes)
    phase = np.cumsum(notes[index]) / SR
    saw = 2 * (phase % 1.0) - 1
    envelope = np.exp(-(t % step) * 12)
    return 0.5 * saw * envelope


def _drum_loop(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    t = _time()
    out = np.zeros_like(t)
    beat = 0.5  # s, 120 bpm
    for start in np.arange(0, SECONDS, beat / 2):
        i = int(start * SR)
        n = min(int(0.3 * SR), len(t) - i)
        local = np.arange(n) / SR
        if round(start / beat * 2) % 2 == 0:  # kick on every beat
            freq = 50 + 100 * np.exp(-local * 30)
            out[i : i + n] += np.sin(2 * np.pi * np.cumsum(freq) / SR) * np.exp(-local * 8)
        if round(start / beat * 2) % 4 == 2:  # snare on 2 and 4
            out[i : i + n] += 0.5 * rng.standard_normal(n) * np.exp(-local * 20)
        # closed hi-hat on every eighth: short high noise
        hat = np.diff(rng.standard_normal(n + 1)) * np.exp(-local * 80)
        out[i : i + n] += 0.15 * hat
    peak: float = np.abs(out).max()
    return 0.9 * out / peak


def _plucked(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Karplus-Strong plucks of an E-minor chord pattern, one pluck every 0.25 s."""
    out = np.zeros(int(SECONDS * SR))
    freqs = [82.4, 123.5, 164.8, 196.0, 246.9, 329.6]
    for k, start in enumerate(np.arange(0, SECONDS, 0.25)):
        period = int(SR / freqs[k % len(freqs)])
        n = min(int(1.5 * SR), len(out) - int(start * SR))
        buffer = rng.uniform(-1, 1, period)
        note = np.empty(n)
        for i in range(n):
            note[i] = buffer[i % period]
            buffer[i % period] = 0.996 * 0.5 * (buffer[i % period] + buffer[(i + 1) % period])
        out[int(start * SR) : int(start * SR) + n] += note
    peak: float = np.abs(out).max()
    return 0.9 * out / peak


def signals() -> dict[str, Waveform]:
    """Name -> 30 s of mono audio at 16 kHz."""
    rng = np.random.default_rng(20190712)
    made: dict[str, Callable[[], npt.NDArray[np.float64]]] = {
        "noise floor": lambda: 1e-3 * rng.standard_normal(int(SECONDS * SR)),
        "white noise": lambda: 0.3 * rng.standard_normal(int(SECONDS * SR)),
        "pink noise": lambda: 0.5 * _pink(rng, int(SECONDS * SR)),
        "sine 440": lambda: 0.5 * np.sin(2 * np.pi * 440 * _time()),
        "saw arpeggio": _saw_arpeggio,
        "drum loop": lambda: _drum_loop(rng),
        "plucked strings": lambda: _plucked(rng),
        "saw + drums": lambda: 0.5 * _saw_arpeggio() + 0.5 * _drum_loop(rng),
    }
    out: dict[str, Waveform] = {}
    for name in ("violin", "rock", "piano", "techno", "tone"):
        audio, rate = sf.read(CLIPS / f"{name}.flac", dtype="float32")
        assert rate == SR
        out[name] = audio
    for name, make in made.items():
        out[name] = make().astype(np.float32)
    return out


def windows(audio: Waveform, seconds: float) -> list[Waveform]:
    """Three windows centred at 25, 50 and 75 % of the track, as the analyzer cuts them."""
    length = int(seconds * SR)
    centres = [len(audio) * k // 4 for k in (1, 2, 3)]
    return [audio[max(0, c - length // 2) : c - length // 2 + length] for c in centres]


def main() -> None:
    backend = build("musicnn-mtt", Role.INSTRUMENTS, BackendOptions(device="cpu"))
    named = signals()
    tracks = [windows(audio, backend.window_seconds) for audio in named.values()]
    results = backend.predict(tracks)
    names = list(MTT_INSTRUMENT_THRESHOLDS)
    print(f"{'signal':16s}" + "".join(f"{n[:7]:>8s}" for n in names) + "  detected / expected")
    for (signal, _), scores in zip(named.items(), results, strict=True):
        folded = instrument_scores(scores)
        row = "".join(f"{folded.get(n, 0.0):8.3f}" for n in names)
        detected = sorted(n for n in names if folded.get(n, 0.0) >= MTT_INSTRUMENT_THRESHOLDS[n])
        print(f"{signal:16s}{row}  {detected} / {sorted(EXPECTED[signal])}")
    print(f"{'threshold':16s}" + "".join(f"{MTT_INSTRUMENT_THRESHOLDS[n]:8.3f}" for n in names))


if __name__ == "__main__":
    main()
