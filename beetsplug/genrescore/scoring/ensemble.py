"""The ensemble: blend genre votes, let detected instruments boost genres, rank.

How it decides (``docs/ensemble.md`` tells the same for users):

1. Every *genre vote* (the genre model, the heuristics, the instrument tagger's own genre
   classes) is a distribution over canonical genres with a configured weight. Weights are
   relative: a component that did not run is left out and the others are renormalised.
2. Every *detected* instrument (score at or above its threshold) fires its rule: the rule adds
   its boost to each genre it names. A rule can be *gated*: ``unless: {classical: 0.3}`` fades
   the rule out linearly as the votes' share of ``classical`` rises to 0.3, so a violin in an
   orchestra does not say "country". That share is the weighted mean over the votes that
   *can* name the genre: a genre model without a classical class does not dilute it.
3. The boosts form the instrument component, a distribution with the configured instrument
   weight. How much of that weight it uses depends on how much the instruments said:
   ``B / (B + instrument_prior)`` for a total boost ``B``. One weak cue (drums -> rock 0.4)
   moves little; a fiddle and a harmonica (boost 10.6) use most of it. The unused part goes
   back to the other components.
4. The final score of a genre is the weighted mean of all components; the best ``count`` are
   the top list and the best one's score is the confidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .taxonomy import normalize


@dataclass(frozen=True)
class GenreVote:
    """One component's opinion over canonical genres."""

    #: Component key, as in the ``weights`` config (``ml``, ``heuristic``, ``tagger_genres``).
    component: str
    #: What produced it, for explanations (``musicnn-msd``, ``heuristic``...).
    source: str
    #: Configured (relative) weight.
    weight: float
    #: Canonical genre -> share, summing to 1.
    distribution: Mapping[str, float]
    #: The genres this component can name at all (``None``: every genre). A model without a
    #: "classical" class says nothing for or against classical music.
    vocabulary: frozenset[str] | None = None

    def knows(self, genre: str) -> bool:
        return self.vocabulary is None or genre in self.vocabulary


@dataclass(frozen=True)
class InstrumentRule:
    """A detected instrument boosts genres, unless the base opinion says otherwise."""

    instrument: str
    #: Genre -> boost added when the instrument is detected.
    boost: Mapping[str, float]
    #: Genre -> share of the base opinion at which the rule is fully off (linear fade).
    unless: Mapping[str, float] = field(default_factory=dict)
    #: Overrides the tagger's own detection threshold for this instrument.
    threshold: float | None = None


@dataclass(frozen=True)
class InstrumentEvidence:
    """What the instrument tagger heard."""

    source: str
    #: Canonical instrument -> score on the tagger's scale.
    scores: Mapping[str, float]
    #: Canonical instrument -> detection threshold on the same scale.
    thresholds: Mapping[str, float]


@dataclass(frozen=True)
class EnsembleConfig:
    """The knobs of the ensemble (built from the plugin settings)."""

    instrument_weight: float = 0.6
    rules: tuple[InstrumentRule, ...] = ()
    #: Boost units the instruments must add up to before they use half their weight.
    instrument_prior: float = 2.0
    #: How many genres the top list holds.
    count: int = 3


@dataclass(frozen=True)
class Boost:
    """One rule firing: ``instrument`` added ``amount`` to ``genre`` (after its ``gate``)."""

    instrument: str
    genre: str
    amount: float
    #: 1.0 = rule fully on; below 1 it was faded by its ``unless`` condition.
    gate: float


@dataclass(frozen=True)
class EnsembleResult:
    """The decision, with everything needed to explain it."""

    #: Every genre with a non-zero score, best first.
    ranking: tuple[tuple[str, float], ...]
    #: The best ``count`` genres.
    top: tuple[str, ...]
    #: Detected instruments and their scores, most clearly heard first.
    instruments: tuple[tuple[str, float], ...]
    boosts: tuple[Boost, ...]
    #: Component -> weight it actually had in the final blend (summing to 1).
    effective_weights: Mapping[str, float]

    @property
    def genre(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]

    @property
    def distribution(self) -> dict[str, float]:
        return dict(self.ranking)


class NoEvidence(ValueError):
    """No component said anything about the genre."""


INSTRUMENTS = "instruments"


def detect_instruments(
    evidence: InstrumentEvidence, rules: Sequence[InstrumentRule] = ()
) -> tuple[tuple[str, float], ...]:
    """Instruments at or above their threshold, most clearly heard (score / threshold) first.

    A rule's ``threshold`` overrides the tagger's; an instrument with no threshold at all is
    never reported, since its score has no known scale.
    """
    overrides = {rule.instrument: rule.threshold for rule in rules if rule.threshold is not None}
    detected: list[tuple[float, str, float]] = []
    for name, score in evidence.scores.items():
        threshold = overrides.get(name, evidence.thresholds.get(name))
        if threshold is None or threshold <= 0.0 or score < threshold:
            continue
        detected.append((score / threshold, name, score))
    detected.sort(key=lambda item: (-item[0], item[1]))
    return tuple((name, score) for _, name, score in detected)


def _mix(parts: Sequence[tuple[float, Mapping[str, float]]]) -> dict[str, float]:
    total = sum(weight for weight, _ in parts)
    mixed: dict[str, float] = {}
    if total <= 0.0:
        return mixed
    for weight, distribution in parts:
        for genre, share in distribution.items():
            mixed[genre] = mixed.get(genre, 0.0) + weight / total * share
    return mixed


def evidence_for(genre: str, votes: Sequence[GenreVote]) -> float:
    """The votes' weighted share of ``genre``, among the votes that can name it."""
    knowing = [(vote.weight, vote.distribution) for vote in votes if vote.knows(genre)]
    return _mix(knowing).get(genre, 0.0)


def _gate(rule: InstrumentRule, votes: Sequence[GenreVote]) -> float:
    gate = 1.0
    for genre, limit in rule.unless.items():
        if limit > 0.0:
            gate *= min(1.0, max(0.0, 1.0 - evidence_for(genre, votes) / limit))
    return gate


def instrument_boosts(
    detected: Sequence[tuple[str, float]],
    rules: Sequence[InstrumentRule],
    votes: Sequence[GenreVote],
) -> tuple[Boost, ...]:
    """The boosts that the detected instruments' rules add, gated by the genre votes."""
    names = {name for name, _ in detected}
    boosts: list[Boost] = []
    for rule in rules:
        if rule.instrument not in names:
            continue
        gate = _gate(rule, votes)
        for genre, amount in rule.boost.items():
            boosts.append(Boost(rule.instrument, genre, amount * gate, gate))
    return tuple(boosts)


def blend(
    votes: Sequence[GenreVote],
    instruments: InstrumentEvidence | None,
    config: EnsembleConfig,
) -> EnsembleResult:
    """Blend the components into a ranked decision (see the module docstring).

    Raises
    ------
    NoEvidence
        Nothing voted and no instrument rule fired.
    """
    active = [vote for vote in votes if vote.weight > 0.0 and vote.distribution]
    detected = detect_instruments(instruments, config.rules) if instruments else ()
    boosts = instrument_boosts(detected, config.rules, active)
    boosted: dict[str, float] = {}
    for boost in boosts:
        boosted[boost.genre] = boosted.get(boost.genre, 0.0) + boost.amount
    total_boost = sum(boosted.values())

    parts: list[tuple[str, float, Mapping[str, float]]] = [
        (vote.component, vote.weight, vote.distribution) for vote in active
    ]
    if total_boost > 0.0 and config.instrument_weight > 0.0:
        used = total_boost / (total_boost + max(0.0, config.instrument_prior))
        parts.append((INSTRUMENTS, config.instrument_weight * used, normalize(boosted)))
    if not parts:
        raise NoEvidence("no component gave any genre evidence")

    final = _mix([(weight, distribution) for _, weight, distribution in parts])
    ranking = tuple(sorted(final.items(), key=lambda item: (-item[1], item[0])))
    weight_sum = sum(weight for _, weight, _ in parts)
    effective: dict[str, float] = {}
    for component, weight, _ in parts:
        effective[component] = effective.get(component, 0.0) + weight / weight_sum
    return EnsembleResult(
        ranking=ranking,
        top=tuple(genre for genre, _ in ranking[: max(1, config.count)]),
        instruments=detected,
        boosts=boosts,
        effective_weights=effective,
    )


@dataclass(frozen=True)
class Aggregate:
    """An album's decision, from its tracks' decisions."""

    ranking: tuple[tuple[str, float], ...]
    top: tuple[str, ...]
    instruments: tuple[str, ...]
    tracks: int

    @property
    def genre(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]


#: An instrument is an album's when at least this share of its analysed tracks has it.
ALBUM_INSTRUMENT_SHARE = 1.0 / 3.0


def aggregate(tracks: Sequence[tuple[Mapping[str, float], Sequence[str]]], count: int) -> Aggregate:
    """Album-level decision: the mean of the tracks' genre distributions.

    Parameters
    ----------
    tracks
        For each analysed track: its final genre distribution and its detected instruments.
    count
        Length of the top list.
    """
    if not tracks:
        raise NoEvidence("no analysed tracks")
    mean = _mix([(1.0, distribution) for distribution, _ in tracks])
    ranking = tuple(sorted(mean.items(), key=lambda item: (-item[1], item[0])))
    counts: dict[str, int] = {}
    for _, names in tracks:
        for name in set(names):
            counts[name] = counts.get(name, 0) + 1
    needed = len(tracks) * ALBUM_INSTRUMENT_SHARE
    instruments = tuple(
        name
        for name, seen in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if seen >= needed
    )
    return Aggregate(
        ranking=ranking,
        top=tuple(genre for genre, _ in ranking[: max(1, count)]),
        instruments=instruments,
        tracks=len(tracks),
    )
