"""One track's :class:`~.ensemble.Evidence` <-> compact JSON, stored with the track.

What each component said is kept so that a change of weights or rules re-blends the library
from the database in seconds (``beet genrescore --reblend``, ``--tune``), with no audio and
no model. The text is small (1.6-2.5 KB for the default models on the dev set): genre shares
and instrument scores are kept to four significant digits, instrument scores below
:data:`MIN_SCORE` are left out, and the tagger's scales are written once per distinct scale.

The analyzer blends the *decoded* evidence, so a track blended again with the same settings
gets exactly the stored result.

Format (version 1)::

    {"v": 1,
     "votes": [[component, source, {genre: share}, [genre, ...] | null], ...],
     "instruments": null | [source, {instrument: score}, relative,
                            [[display, floor | null, full | null, [instrument, ...]], ...]]}
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any

from .ensemble import Component, Evidence, GenreVote, InstrumentEvidence, InstrumentScale

VERSION = 1
#: Significant digits kept of every share and score.
DIGITS = 4
#: Instrument scores below this are not kept: far under any tagger's floor (YAMNet's is 0.02,
#: AST's thresholds start at 0.003), so they can neither be shown nor boost.
MIN_SCORE = 1e-3
#: Genre shares below this are not kept (they cannot change a ranking's top).
MIN_SHARE = 1e-5


class EvidenceFormatError(ValueError):
    """Stored evidence that cannot be read (another version, or damaged)."""


def _round(value: float) -> float:
    if value == 0.0 or not math.isfinite(value):
        return 0.0
    return float(f"{value:.{DIGITS}g}")


def _shares(values: Mapping[str, float], minimum: float) -> dict[str, float]:
    return {key: _round(v) for key, v in sorted(values.items()) if v >= minimum}


def _scale_groups(scales: Mapping[str, InstrumentScale], names: set[str]) -> list[list[Any]]:
    groups: dict[tuple[float, float | None, float | None], list[str]] = {}
    for name in sorted(names):
        scale = scales.get(name)
        if scale is not None:
            groups.setdefault((scale.display, scale.floor, scale.full), []).append(name)
    return [[display, floor, full, members] for (display, floor, full), members in groups.items()]


def to_data(evidence: Evidence) -> dict[str, Any]:
    """The JSON-ready form of ``evidence`` (rounded and trimmed as the module says)."""
    votes = [
        [
            vote.component.value,
            vote.source,
            _shares(vote.distribution, MIN_SHARE),
            None if vote.vocabulary is None else sorted(vote.vocabulary),
        ]
        for vote in evidence.votes
    ]
    tagger = evidence.instruments
    instruments = None
    if tagger is not None:
        scores = _shares(tagger.scores, MIN_SCORE)
        instruments = [
            tagger.source,
            scores,
            tagger.relative,
            _scale_groups(tagger.scales, set(scores)),
        ]
    return {"v": VERSION, "votes": votes, "instruments": instruments}


def encode(evidence: Evidence) -> str:
    """Compact JSON text of ``evidence``."""
    return json.dumps(to_data(evidence), separators=(",", ":"), ensure_ascii=False)


def from_data(data: Any) -> Evidence:
    """Evidence from its JSON-ready form.

    Raises
    ------
    EvidenceFormatError
        Another version, or not the shape :func:`to_data` writes.
    """
    try:
        if data.get("v") != VERSION:
            raise EvidenceFormatError(f"evidence version {data.get('v')!r}, expected {VERSION}")
        votes = tuple(
            GenreVote(
                Component(component),
                source,
                distribution,
                None if vocabulary is None else _vocabulary(tuple(vocabulary)),
            )
            for component, source, distribution, vocabulary in data["votes"]
        )
        instruments = None
        if data.get("instruments") is not None:
            source, scores, relative, groups = data["instruments"]
            scales: dict[str, InstrumentScale] = {}
            for display, floor, full, members in groups:
                scales.update(dict.fromkeys(members, _scale(display, floor, full)))
            instruments = InstrumentEvidence(source, scores, scales, float(relative))
        _check(votes, instruments)
    except EvidenceFormatError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise EvidenceFormatError(f"unreadable evidence: {exc}") from exc
    return Evidence(votes, instruments)


# A library's tracks share a handful of vocabularies and scales: one object each.
@functools.lru_cache(maxsize=64)
def _vocabulary(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _scale(display: float, floor: float | None, full: float | None) -> InstrumentScale:
    return InstrumentScale(
        float(display),
        None if floor is None else float(floor),
        None if full is None else float(full),
    )


def _check(votes: tuple[GenreVote, ...], instruments: InstrumentEvidence | None) -> None:
    """JSON gave the right shapes: names are text and numbers are numbers."""
    mappings = [vote.distribution for vote in votes]
    if instruments is not None:
        mappings.append(instruments.scores)
        if not isinstance(instruments.source, str):
            raise TypeError("the tagger's name is not text")
    for vote in votes:
        if not isinstance(vote.source, str):
            raise TypeError("a vote's source is not text")
    for mapping in mappings:
        if not isinstance(mapping, dict):
            raise TypeError("scores are not a mapping")
        float(sum(mapping.values()))  # TypeError unless every score is a number


def decode(text: str) -> Evidence:
    """Evidence from :func:`encode`'s text.

    Raises
    ------
    EvidenceFormatError
        Not JSON, another version, or not the shape :func:`encode` writes.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EvidenceFormatError(f"unreadable evidence: {exc}") from exc
    return from_data(data)


def stored(evidence: Evidence) -> tuple[str, Evidence]:
    """The text to store, and the evidence exactly as it will read back from it."""
    text = encode(evidence)
    return text, decode(text)
