"""Synthetic stored evidence shaped like the embedded models' (for re-blend and tuning tests
and the benchmark): a genre model that knows some genres, heuristics, the tagger's genre
classes and YAMNet-scaled instrument scores, with a known "true" genre per track."""

from __future__ import annotations

import random
from dataclasses import dataclass

from beetsplug.genrescore.backends.yamnet import BOOST_FLOOR, BOOST_FULL, RELATIVE_DISPLAY
from beetsplug.genrescore.scoring.ensemble import (
    Component,
    Evidence,
    GenreVote,
    InstrumentEvidence,
    InstrumentScale,
)
from beetsplug.genrescore.scoring.taxonomy import GENRES, INSTRUMENTS


def clip(ml: dict[str, float], heuristic: dict[str, float]) -> Evidence:
    """A track's evidence from a genre model's and the heuristics' votes alone."""
    return Evidence(
        votes=(
            GenreVote(Component.ML, "model", ml),
            GenreVote(Component.HEURISTIC, "features", heuristic),
        )
    )


#: What the genre model can name (musicnn-msd speaks about this many of the genres).
ML_VOCABULARY = frozenset(
    {"rock", "pop", "electronic", "jazz", "blues", "country", "folk", "hip hop", "classical"}
    | {"soul", "funk", "r&b", "heavy metal", "punk rock", "ambient", "easy listening"}
)
#: The heuristics name all but a couple of genres (as the real rules do).
HEURISTIC_VOCABULARY = frozenset(GENRES) - {"world music", "soul"}
#: Instruments each true genre tends to have.
TYPICAL = {
    "country": ("violin", "acoustic guitar", "steel guitar", "banjo"),
    "bluegrass": ("banjo", "violin", "mandolin"),
    "jazz": ("trumpet", "saxophone", "piano", "double bass"),
    "classical": ("piano", "violin", "cello", "strings"),
    "rock": ("electric guitar", "drums", "bass guitar"),
    "electronic": ("synthesizer", "drum machine"),
    "hip hop": ("drum machine", "turntables"),
    "blues": ("harmonica", "guitar", "piano"),
    "folk": ("acoustic guitar", "violin", "accordion"),
    "pop": ("synthesizer", "drums", "piano"),
}


def _distribution(rng: random.Random, names: frozenset[str], peak: str | None) -> dict[str, float]:
    raw = {name: rng.random() ** 3 for name in sorted(names)}
    if peak in raw:
        raw[peak] += rng.uniform(0.5, 2.0)
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


@dataclass(frozen=True)
class Track:
    truth: str
    evidence: Evidence


def tracks(
    count: int, seed: int = 0, *, ml_right: float = 0.7, heuristic_right: float = 0.2
) -> list[Track]:
    """``count`` tracks: the genre model peaks on the truth ``ml_right`` of the time, the
    heuristics ``heuristic_right``; the instruments are the truth's typical ones, noisily."""
    rng = random.Random(seed)
    genres = sorted(TYPICAL)
    scale = {
        name: InstrumentScale(display=0.05, floor=BOOST_FLOOR, full=BOOST_FULL)
        for name in INSTRUMENTS
    }
    out = []
    for _ in range(count):
        truth = rng.choice(genres)
        ml_peak = truth if rng.random() < ml_right else rng.choice(genres)
        h_peak = truth if rng.random() < heuristic_right else rng.choice(genres)
        # About 15 instruments at 0.001-0.03, as YAMNet leaves above the stored floor.
        scores = {name: 10 ** rng.uniform(-3, -1.5) for name in rng.sample(INSTRUMENTS, 12)}
        for name in TYPICAL[truth]:
            if rng.random() < 0.6:
                scores[name] = rng.uniform(0.02, 0.6)
        votes = (
            GenreVote(
                Component.HEURISTIC,
                "heuristic",
                _distribution(rng, HEURISTIC_VOCABULARY, h_peak),
                HEURISTIC_VOCABULARY,
            ),
            GenreVote(
                Component.ML,
                "musicnn-msd",
                _distribution(rng, ML_VOCABULARY, ml_peak),
                ML_VOCABULARY,
            ),
            GenreVote(
                Component.TAGGER_GENRES, "yamnet", _distribution(rng, frozenset(GENRES), None), None
            ),
        )
        tagger = InstrumentEvidence("yamnet", scores, scale, RELATIVE_DISPLAY)
        out.append(Track(truth, Evidence(votes, tagger)))
    return out
