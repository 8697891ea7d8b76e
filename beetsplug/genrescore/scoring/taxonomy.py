"""One canonical genre and instrument vocabulary, and the tables that map model labels onto it.

The genre names and their parents follow beets' ``lastgenre`` data (``genres.txt``,
``genres-tree.yaml``, ``aliases.yaml``) so that genres found from audio sit next to the rest
of a beets library: GTZAN's ``hiphop`` becomes ``hip hop``, ``bluegrass`` has the parent
``country``. ``tests/test_taxonomy.py`` checks every name and parent against the copy of
lastgenre installed with beets.

The vocabulary is deliberately broad (about twenty genres): each model folds its finer labels
(``classic rock``, ``electro``, ``House``) into the genre it evidences, so that components that
speak at different granularity can be blended. ``bluegrass`` is kept because instruments
(fiddle, banjo) evidence it directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Final

#: Canonical genre -> parent genre (``None`` for a root), as in lastgenre's tree.
GENRE_PARENTS: Final[Mapping[str, str | None]] = {
    "blues": None,
    "classical": None,
    "country": None,
    "bluegrass": "country",
    "folk": None,
    "jazz": None,
    "rock": None,
    "heavy metal": "rock",
    "punk rock": "rock",
    "pop": None,
    "hip hop": None,
    "r&b": None,
    "soul": "r&b",
    "funk": "r&b",
    "electronic": None,
    "disco": "electronic",
    "ambient": "electronic",
    "reggae": None,
    "easy listening": None,
    "world music": None,
}

#: Every canonical genre, in a stable order.
GENRES: Final[tuple[str, ...]] = tuple(GENRE_PARENTS)

#: Canonical instrument names, as stored in ``genrescore_instruments``.
INSTRUMENTS: Final[tuple[str, ...]] = (
    "violin",
    "cello",
    "strings",
    "harp",
    "banjo",
    "mandolin",
    "guitar",
    "acoustic guitar",
    "electric guitar",
    "steel guitar",
    "bass guitar",
    "ukulele",
    "sitar",
    "harmonica",
    "accordion",
    "bagpipes",
    "piano",
    "harpsichord",
    "organ",
    "synthesizer",
    "drums",
    "drum machine",
    "tabla",
    "saxophone",
    "trumpet",
    "trombone",
    "brass",
    "flute",
    "clarinet",
    "orchestra",
    "double bass",
    "vibraphone",
    "marimba",
    "steelpan",
    "turntables",
    "zither",
    "didgeridoo",
)

# Model label -> canonical genre. Keys are normalised with :func:`normalize_label`; labels
# that normalise to a canonical genre name need no entry. Labels not listed (moods, decades,
# vocals) are ignored on purpose.
_GENRE_ALIASES: Final[Mapping[str, str]] = {
    # GTZAN (danilotpnta/HuBERT-Genre-Clf and other GTZAN fine-tunes)
    "hiphop": "hip hop",
    "metal": "heavy metal",
    # AudioSet genre classes (MIT/ast-finetuned-audioset-10-10-0.4593, indices 216-265)
    "grunge": "rock",
    "progressive rock": "rock",
    "rock and roll": "rock",
    "psychedelic rock": "rock",
    "rhythm and blues": "r&b",
    "swing": "jazz",
    "middle eastern": "world music",
    "opera": "classical",
    "house": "electronic",
    "techno": "electronic",
    "dubstep": "electronic",
    "drum and bass": "electronic",
    "electronica": "electronic",
    "electronic dance": "electronic",
    "trance": "electronic",
    "music of latin america": "world music",
    "salsa": "world music",
    "flamenco": "world music",
    "new age": "ambient",
    "music of africa": "world music",
    "afrobeat": "world music",
    "gospel": "soul",
    "music of asia": "world music",
    "carnatic": "world music",
    "music of bollywood": "world music",
    "ska": "reggae",
    "beatboxing": "hip hop",
    "traditional": "folk",
    "independent": "rock",
    "dance": "electronic",
    "background": "easy listening",
    # Users' own genres (--evaluate, --tune): lastgenre's tree has no "rap" node
    "rap": "hip hop",
    # MSD / Last.fm tags (musicnn MSD_musicnn)
    "alternative": "rock",
    "indie": "rock",
    "alternative rock": "rock",
    "classic rock": "rock",
    "indie rock": "rock",
    "hard rock": "rock",
    "punk": "punk rock",
    "chillout": "ambient",
    "electro": "electronic",
    "rnb": "r&b",
    "indie pop": "pop",
    # MagnaTagATune tags (musicnn MTT_musicnn)
    "classic": "classical",
    "indian": "world music",
}

# Model label -> canonical instrument. Keys normalised as above. The AudioSet part serves
# every AudioSet tagger (AST's 527 classes, YAMNet's 521) since both use the ontology's display
# names; it is keyed by name, never by index. Related classes fold into one instrument (the
# strongest of them counts): the parts of a drum kit are "drums", a French horn is "brass".
# AudioSet classes left out on purpose: the generic ones ("Musical instrument", "Plucked
# string instrument", "Keyboard (musical)", "Percussion", "Wind instrument, woodwind
# instrument"), which name no instrument, and bells, chimes, gongs and small percussion
# (tambourine, maraca, wood block), which say nothing about a genre.
_INSTRUMENT_ALIASES: Final[Mapping[str, str]] = {
    # AudioSet: strings
    "violin, fiddle": "violin",
    "fiddle": "violin",
    "bowed string instrument": "strings",
    "string section": "strings",
    "pizzicato": "strings",
    # AudioSet: guitars and other plucked strings
    "steel guitar, slide guitar": "steel guitar",
    "tapping (guitar technique)": "electric guitar",
    "strum": "guitar",
    # AudioSet: keyboards
    "electric piano": "piano",
    "electronic organ": "organ",
    "hammond organ": "organ",
    # AudioSet: drums (a kit and its parts)
    "drum kit": "drums",
    "drum": "drums",
    "snare drum": "drums",
    "bass drum": "drums",
    "hi-hat": "drums",
    "cymbal": "drums",
    "rimshot": "drums",
    "drum roll": "drums",
    # AudioSet: brass
    "brass instrument": "brass",
    "french horn": "brass",
    # AudioSet: mallets, turntables
    "marimba, xylophone": "marimba",
    "scratching (performance technique)": "turntables",
    # MagnaTagATune tags
    "synth": "synthesizer",
}

#: Instruments whose classes co-fire in AudioSet taggers (a banjo lights up "Mandolin" too, a
#: trumpet "Brass instrument", a solo violin "Bowed string instrument"), with the share of the
#: group's clearest instrument (score over threshold) that another member needs to be shown
#: as well. The rules still hear all of them (their boosts are alike); only the list shown to
#: the user keeps the clearest.
COFIRING: Final[tuple[tuple[tuple[str, ...], float], ...]] = (
    (("banjo", "mandolin", "ukulele", "sitar", "zither"), 0.5),
    (("trumpet", "trombone", "brass"), 0.5),
    (("violin", "strings", "cello"), 0.25),
    (("guitar", "acoustic guitar", "electric guitar", "steel guitar"), 0.5),
    (("piano", "harpsichord", "organ"), 0.5),
    (("saxophone", "clarinet"), 0.5),
    (("harmonica", "accordion"), 0.5),
    (("drums", "drum machine", "tabla"), 0.5),
)

_SPACES = re.compile(r"[\s_\-]+")
_MUSIC_SUFFIX = re.compile(r"\s+music$")


def normalize_label(label: str) -> str:
    """Lower-case a model label, unify separators and drop a trailing "music".

    ``"Hip hop music"``, ``"Hip-Hop"`` and ``"hip_hop"`` all become ``"hip hop"``.
    """
    text = _SPACES.sub(" ", label.strip().lower())
    return _MUSIC_SUFFIX.sub("", text)


# The two lookups below are cached: every track folds each model's whole label set through
# them (YAMNet's 521 labels and musicnn's 50, twice), 20 ms of a track's 0.28 s of CPU.
@functools.lru_cache(maxsize=4096)
def genre_for_label(label: str) -> str | None:
    """The canonical genre a model label evidences, or ``None`` when it names no genre."""
    key = normalize_label(label)
    if key in GENRE_PARENTS:
        return key
    return _GENRE_ALIASES.get(key)


@functools.lru_cache(maxsize=4096)
def instrument_for_label(label: str) -> str | None:
    """The canonical instrument a model label names, or ``None``."""
    key = label.strip().lower()
    if key in _INSTRUMENT_ALIASES:
        return _INSTRUMENT_ALIASES[key]
    key = normalize_label(label)
    if key in INSTRUMENTS:
        return key
    return _INSTRUMENT_ALIASES.get(key)


def genre_distribution(scores: Mapping[str, float], *, multi_label: bool) -> dict[str, float]:
    """Fold a model's label scores into a distribution over canonical genres.

    Parameters
    ----------
    scores
        Model label -> probability, in the model's own labels.
    multi_label
        ``True`` for independent (sigmoid) tags: labels that fold into the same genre are
        combined by their maximum, since ``rock`` and ``classic rock`` are two tags for one
        piece of evidence. ``False`` for a softmax: they are summed, since the probability
        mass of a class is split between them.

    Returns
    -------
    dict
        Canonical genre -> share, summing to 1; empty when no label names a genre.
    """
    folded: dict[str, float] = {}
    for label, score in scores.items():
        genre = genre_for_label(label)
        if genre is None or score <= 0.0:
            continue
        if multi_label:
            folded[genre] = max(folded.get(genre, 0.0), float(score))
        else:
            folded[genre] = folded.get(genre, 0.0) + float(score)
    return normalize(folded)


def genres_named(labels: Iterable[str]) -> frozenset[str]:
    """The canonical genres a model's label set can name at all."""
    return frozenset(g for g in map(genre_for_label, labels) if g is not None)


def instrument_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """Fold a tagger's label scores into canonical instrument -> score (maximum per name)."""
    folded: dict[str, float] = {}
    for label, score in scores.items():
        name = instrument_for_label(label)
        if name is not None:
            folded[name] = max(folded.get(name, 0.0), float(score))
    return folded


def normalize(scores: Mapping[str, float]) -> dict[str, float]:
    """Scale non-negative scores to sum to 1 (an all-zero or empty input gives ``{}``)."""
    total = sum(max(0.0, value) for value in scores.values())
    if total <= 0.0:
        return {}
    return {key: max(0.0, value) / total for key, value in scores.items() if value > 0.0}


def ancestors(genre: str) -> list[str]:
    """The parents of a canonical genre, nearest first (``bluegrass`` -> ``["country"]``)."""
    chain: list[str] = []
    parent = GENRE_PARENTS.get(genre)
    while parent is not None:
        chain.append(parent)
        parent = GENRE_PARENTS.get(parent)
    return chain


def display_name(genre: str) -> str:
    """How a canonical genre is written to tags: ``str.title``, as lastgenre's ``title_case``."""
    return genre.title()


def unknown_names(names: Iterable[str], vocabulary: Iterable[str]) -> list[str]:
    """The entries of ``names`` that are not in ``vocabulary`` (for config validation)."""
    known = set(vocabulary)
    return [name for name in names if name not in known]
