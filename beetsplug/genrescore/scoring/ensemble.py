"""The ensemble: blend genre votes, let detected instruments boost genres, rank.

How it decides (``docs/ensemble.md`` tells the same for users):

1. Every *genre vote* (the genre model, the heuristics, the instrument tagger's own genre
   classes) is a distribution over canonical genres with a configured weight. Weights are
   relative: a component that did not run is left out and the others are renormalised.
2. Every instrument the tagger heard fires its rule in proportion to how clearly it was heard:
   its *strength* (:meth:`InstrumentScale.strength`) is 0 at or below the instrument's floor,
   1 from its ``full`` score on, and grows with the logarithm of the score in between, since
   tagger scores span decades. The rule adds ``boost x strength`` to each genre it names. A
   tagger without a soft scale gives a step (strength 1 from its threshold), the old yes/no.
   A rule can be *gated*: ``unless: {classical: 0.3}`` fades the rule out linearly as the
   votes' share of ``classical`` rises to 0.3, so a violin in an orchestra does not say
   "country". That share is the weighted mean over the votes that *can* name the genre: a
   genre model without a classical class does not dilute it. ``unless_heard: {cello: 0.5}``
   fades it as another instrument's score rises to half of this one's. What is *shown* to the user
   (:func:`detect_instruments`) is separate and stricter: a display threshold per instrument,
   optionally relative to the strongest instrument of the track, and related classes that
   co-fire (mandolin under a banjo) shown once.
3. The boosts form the instrument component, a distribution with the configured instrument
   weight. How much of that weight it uses depends on how much the instruments said:
   ``B / (B + instrument_prior)`` for a total boost ``B``. One weak cue (drums -> rock 0.4)
   moves little; a fiddle and a harmonica (boost 10.6) use most of it. The unused part goes
   back to the other components.
4. The final score of a genre is the weighted mean of all components; the best ``count`` are
   the top list. The best one's score (its *share*) is read as the probability that it is
   right through a calibration map fitted on the dev set (:class:`ConfidenceMap`), or the
   user's (``confidence``, fitted by ``--tune``): the confidence.

Before all this, a user's genre head (``genre_head``, ``scoring/genre_head.py``, learned by
``--tune`` from the user's own genres) may re-read the genre model's vote (:func:`reheaded`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .genre_head import GenreHead
from .taxonomy import COFIRING, normalize


class Component(enum.StrEnum):
    """The ensemble's components: the keys of the ``weights`` config, of the evidence stored
    per track and of every explanation."""

    #: The genre model.
    ML = "ml"
    #: The boosts of the instruments the tagger heard.
    INSTRUMENTS = "instruments"
    #: The rules on tempo, energy and timbre.
    HEURISTIC = "heuristic"
    #: The instrument tagger's own genre classes (AudioSet has "Country", "Jazz"...).
    TAGGER_GENRES = "tagger_genres"


@dataclass(frozen=True)
class Weights:
    """The components' relative weights (the ``weights`` config)."""

    ml: float = 0.2
    instruments: float = 0.6
    heuristic: float = 0.2
    tagger_genres: float = 0.1

    def of(self, component: Component) -> float:
        return float(getattr(self, component.value))


@dataclass(frozen=True)
class GenreVote:
    """One component's opinion over canonical genres (its weight is the config's)."""

    #: Which component voted (``ml``, ``heuristic``, ``tagger_genres``).
    component: Component
    #: What produced it, for explanations (``musicnn-msd``, ``heuristic``...).
    source: str
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
    #: Instrument -> its score, as a share of this rule's instrument's score, at which the
    #: rule is fully off (linear fade; only when that instrument is shown, clearly heard):
    #: a violin heard with a cello as loud as half of it is not a country fiddle, while a
    #: trace of "Brass instrument" under a clear fiddle changes little.
    unless_heard: Mapping[str, float] = field(default_factory=dict)
    #: Overrides the tagger's own display threshold for this instrument (and, for a tagger
    #: with yes/no thresholds, the score from which the rule fires).
    threshold: float | None = None
    #: Overrides the tagger's floor: the score above which the rule starts to boost.
    floor: float | None = None


@dataclass(frozen=True)
class InstrumentScale:
    """How one tagger's scores for one instrument read.

    ``display`` decides what the user is shown; ``floor`` and ``full`` how much the
    instrument's rule boosts. With neither set, the rule fires fully from ``display`` on (a
    step: the behaviour for taggers whose scores are only calibrated as yes/no).
    """

    #: Shown in ``genrescore_instruments`` at or above this score.
    display: float
    #: The rule boosts nothing at or below this score (default: ``display``).
    floor: float | None = None
    #: The rule boosts fully from this score on (default: ``floor``, a step).
    full: float | None = None

    def strength(self, score: float, floor: float | None = None) -> float:
        """How fully the instrument's rule fires at ``score``: 0 to 1.

        Between ``floor`` and ``full`` it grows with ``log(score / floor)``: a score ten
        times the floor says more than one just above it, and a tagger's scores for the same
        instrument span decades between a band and a solo.
        """
        low = (
            floor if floor is not None else (self.floor if self.floor is not None else self.display)
        )
        high = max(low, self.full if self.full is not None else low)
        if low <= 0.0 or score < low:
            return 0.0
        if score >= high or high <= low:
            return 1.0
        return math.log(score / low) / math.log(high / low)

    @classmethod
    def step(cls, threshold: float) -> InstrumentScale:
        """A yes/no scale: shown and fully boosting from ``threshold`` on."""
        return cls(display=threshold)


@dataclass(frozen=True)
class InstrumentEvidence:
    """What the instrument tagger heard."""

    source: str
    #: Canonical instrument -> score on the tagger's scale.
    scores: Mapping[str, float]
    #: Canonical instrument -> how to read its score. An instrument without a scale is never
    #: shown and boosts nothing, since its score has no known meaning.
    scales: Mapping[str, InstrumentScale]
    #: An instrument is shown only when its score over its display threshold is at least this
    #: share of the strongest instrument's (0: every instrument over its threshold is shown).
    relative: float = 0.0

    @classmethod
    def from_thresholds(
        cls, source: str, scores: Mapping[str, float], thresholds: Mapping[str, float]
    ) -> InstrumentEvidence:
        """Evidence from a tagger calibrated only as yes/no thresholds."""
        scales = {name: InstrumentScale.step(value) for name, value in thresholds.items()}
        return cls(source, scores, scales)


@dataclass(frozen=True)
class Evidence:
    """What the components said about one track: everything :func:`blend` needs.

    Stored per track (``scoring/evidence.py`` encodes it), so a track is blended again with
    other weights or rules without its audio or any model.
    """

    votes: tuple[GenreVote, ...]
    instruments: InstrumentEvidence | None = None


@dataclass(frozen=True)
class ConfidenceMap:
    """How the top genre's share of the blend reads as the probability that it is right:
    Platt scaling, ``sigmoid(slope * logit(share) + margin * log(share / runner_up) +
    intercept)``, where ``runner_up`` is the second genre's share (the log-ratio capped:
    :func:`margin_feature`).

    The share itself is no probability: it sits between 0.15 and 0.6 on nearly every track
    whatever the blend's certainty. The runner-up's share adds to it: fitted on the dev set,
    at a given top share a larger runner-up means a likelier right answer (``margin`` < 0:
    what the top genre leaves is on one rival, not spread over many, so the blend has
    narrowed the question down), and the held-out calibration error of the default falls
    from 0.082 to 0.064 with it. The maps are fitted on
    the dev set with folds split by artist (``benchmarks/accuracy.py``'s calibration section,
    docs/accuracy.md: reliability diagram and expected calibration error, held out and
    in-sample), one per pair of models (:data:`FITTED_CONFIDENCE`); the identity (slope 1,
    intercept 0, margin 0) gives the share back.
    """

    slope: float = 1.0
    intercept: float = 0.0
    #: Weight of the log-ratio of the top share to the runner-up's (0: plain Platt scaling).
    margin: float = 0.0

    def __call__(self, share: float, runner_up: float = 0.0) -> float:
        if self.slope == 1.0 and self.intercept == 0.0 and self.margin == 0.0:
            return share  # exactly, not through logit and back
        p = min(max(share, 1e-6), 1.0 - 1e-6)
        z = self.slope * math.log(p / (1.0 - p)) + self.intercept
        if self.margin:
            z += self.margin * margin_feature(p, runner_up)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


#: The most :func:`margin_feature` reads: ``log(10)``, a top share ten times the runner-up's
#: (the dev set's tracks span 1-9 times); also what a blend that names one genre reads, so
#: that a map never extrapolates beyond what it was fitted on.
MARGIN_CAP = math.log(10.0)


def margin_feature(share: float, runner_up: float) -> float:
    """``log(share / runner_up)``, between 0 and :data:`MARGIN_CAP` (no runner-up: the cap)."""
    if runner_up <= 0.0:
        return MARGIN_CAP
    return min(max(math.log(share / runner_up), 0.0), MARGIN_CAP)


#: The identity: the share itself, for evidence no map was fitted for.
IDENTITY_CONFIDENCE = ConfidenceMap()
#: The maps fitted on the dev set (benchmarks/accuracy.py, docs/accuracy.md "Confidence as a
#: probability": 216 clips with a genre, full band, the default weights and rules), by the
#: models whose evidence is blended (genre model, instrument tagger). Expected calibration
#: error of the raw share -> mapped in-sample -> mapped held out (fitted on four fifths of the
#: artists, measured on the rest):
#:
#: * efficientat-genre + yamnet (the embedded default since issue 22), with the runner-up:
#:   0.269 -> 0.036 -> 0.064 (the share alone: 0.074 and 0.082);
#: * musicnn-msd + yamnet (the default before), the share alone: 0.242 -> 0.053 -> 0.066 (the
#:   runner-up did not help it held out: 0.066).
#:
#: Evidence of other models (a downloaded HuBERT or AST), or blended with other weights, keeps
#: the share: a map is only valid for what it was fitted on.
FITTED_CONFIDENCE: Mapping[tuple[str, str], ConfidenceMap] = {
    ("efficientat-genre", "yamnet"): ConfidenceMap(slope=3.530, intercept=4.307, margin=-1.427),
    ("musicnn-msd", "yamnet"): ConfidenceMap(slope=3.151, intercept=3.210),
}
#: Bumped whenever :data:`FITTED_CONFIDENCE` changes: part of the blend fingerprint
#: (``Settings.blend_fingerprint``), so stored confidences are re-blended from the evidence.
CONFIDENCE_VERSION = "2"
#: The embedded default's map (kept by name for the docs and tests).
EMBEDDED_DEFAULT_CONFIDENCE = FITTED_CONFIDENCE[("efficientat-genre", "yamnet")]


@dataclass(frozen=True)
class EnsembleConfig:
    """The knobs of the ensemble (built from the plugin settings): the one route by which
    weights, rules and the top list's length reach the blend."""

    weights: Weights = field(default_factory=Weights)
    rules: tuple[InstrumentRule, ...] = ()
    #: Boost units the instruments must add up to before they use half their weight.
    instrument_prior: float = 2.0
    #: How many genres the top list holds.
    count: int = 3
    #: The top genre's share -> the probability that it is right (``confidence``); ``None``:
    #: the map fitted for the evidence's models (:data:`FITTED_CONFIDENCE`) when the weights
    #: are the defaults it was fitted with, else the share itself.
    confidence: ConfidenceMap | None = None
    #: The user's genre head (``genre_head``, ``scoring/genre_head.py``): the genre model's
    #: vote goes through it before the blend (:func:`reheaded`); ``None``: as stored.
    genre_head: GenreHead | None = None


@dataclass(frozen=True)
class Boost:
    """One rule firing: ``instrument`` added ``amount`` to ``genre`` (after its ``gate``)."""

    instrument: str
    genre: str
    amount: float
    #: 1.0 = rule fully on; below 1 it was faded by its ``unless`` condition.
    gate: float
    #: How clearly the instrument was heard, 0-1 (:meth:`InstrumentScale.strength`).
    strength: float = 1.0


class Ranked:
    """A decision's ranking read as its genre, confidence and distribution."""

    ranking: tuple[tuple[str, float], ...]

    @property
    def genre(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]

    @property
    def distribution(self) -> dict[str, float]:
        return dict(self.ranking)


@dataclass(frozen=True)
class EnsembleResult(Ranked):
    """The decision, with everything needed to explain it."""

    #: Every genre with a non-zero score, best first.
    ranking: tuple[tuple[str, float], ...]
    #: The best ``count`` genres.
    top: tuple[str, ...]
    #: Detected instruments and their scores, most clearly heard first.
    instruments: tuple[tuple[str, float], ...]
    boosts: tuple[Boost, ...]
    #: Component -> weight it actually had in the final blend (summing to 1).
    effective_weights: Mapping[Component, float]
    #: The probability that ``genre`` is right (the config's :class:`ConfidenceMap` of
    #: :attr:`share`); ``None``: the share itself.
    probability: float | None = None
    #: The genre model's vote as the user's genre head re-read it, and the head's digest
    #: (``None``: no head, the vote as stored).
    headed: Mapping[str, float] | None = None
    head: str = ""

    @property
    def share(self) -> float:
        """The top genre's share of the blend (the raw confidence)."""
        return self.ranking[0][1]

    @property
    def confidence(self) -> float:
        """The probability that ``genre`` is right (:class:`ConfidenceMap`)."""
        return self.share if self.probability is None else self.probability


class NoEvidence(ValueError):
    """No component said anything about the genre."""


def _scale_for(
    name: str, evidence: InstrumentEvidence, rule: InstrumentRule | None
) -> InstrumentScale | None:
    """How to read ``name``'s score: the tagger's scale, with a rule's ``threshold`` as its
    display threshold (and, on a yes/no scale, as the score the rule fires from)."""
    scale = evidence.scales.get(name)
    if rule is None or rule.threshold is None:
        return scale
    if scale is None or scale.floor is None:
        return InstrumentScale(display=rule.threshold, full=None if scale is None else scale.full)
    return InstrumentScale(display=rule.threshold, floor=scale.floor, full=scale.full)


def detect_instruments(
    evidence: InstrumentEvidence, rules: Sequence[InstrumentRule] = ()
) -> tuple[tuple[str, float], ...]:
    """The instruments to show, most clearly heard (score / threshold) first.

    An instrument is shown when its score reaches its display threshold (a rule's
    ``threshold`` overrides the tagger's), when it is not far behind the strongest instrument
    (``evidence.relative``), and when no related class that co-fires with it
    (``taxonomy.COFIRING``) was heard much more clearly. An instrument with no threshold is
    never shown, since its score has no known scale.
    """
    by_instrument = {rule.instrument: rule for rule in rules}
    ratios: dict[str, float] = {}
    for name, score in evidence.scores.items():
        scale = _scale_for(name, evidence, by_instrument.get(name))
        if scale is None or scale.display <= 0.0 or score < scale.display:
            continue
        ratios[name] = score / scale.display
    if not ratios:
        return ()
    best = max(ratios.values())
    shown = {name for name, ratio in ratios.items() if ratio >= evidence.relative * best}
    for group, keep in COFIRING:
        heard = [name for name in group if name in shown]
        if len(heard) > 1:
            top = max(ratios[name] for name in heard)
            shown -= {name for name in heard if ratios[name] < keep * top}
    detected = sorted(
        ((ratios[name], name) for name in shown), key=lambda item: (-item[0], item[1])
    )
    return tuple((name, float(evidence.scores[name])) for _, name in detected)


def strengths(
    evidence: InstrumentEvidence, rules: Sequence[InstrumentRule] = ()
) -> dict[str, float]:
    """Instrument -> how fully its rule fires (0-1), for every instrument that has a rule."""
    result: dict[str, float] = {}
    for rule in rules:
        score = evidence.scores.get(rule.instrument)
        # A rule's threshold alone gives no scale: the tagger must know the instrument.
        known = rule.instrument in evidence.scales
        scale = _scale_for(rule.instrument, evidence, rule) if known else None
        if score is None or scale is None:
            continue
        value = scale.strength(score, rule.floor)
        if value > 0.0:
            result[rule.instrument] = value
    return result


def _mix(parts: Sequence[tuple[float, Mapping[str, float]]]) -> dict[str, float]:
    total = sum(weight for weight, _ in parts)
    mixed: dict[str, float] = {}
    if total <= 0.0:
        return mixed
    for weight, distribution in parts:
        for genre, share in distribution.items():
            mixed[genre] = mixed.get(genre, 0.0) + weight / total * share
    return mixed


#: A vote with the weight it has in a blend.
Weighted = tuple[float, GenreVote]


def evidence_for(genre: str, votes: Sequence[Weighted]) -> float:
    """The weighted votes' share of ``genre``, among the votes that can name it."""
    knowing = [(weight, vote.distribution) for weight, vote in votes if vote.knows(genre)]
    return _mix(knowing).get(genre, 0.0)


def _fade(value: float, limit: float) -> float:
    return min(1.0, max(0.0, 1.0 - value / limit)) if limit > 0.0 else 1.0


def _gate(
    rule: InstrumentRule,
    votes: Sequence[Weighted],
    shown: Mapping[str, float],
    scores: Mapping[str, float],
) -> float:
    gate = 1.0
    for genre, limit in rule.unless.items():
        gate *= _fade(evidence_for(genre, votes), limit)
    own = scores.get(rule.instrument, 0.0)
    for instrument, limit in rule.unless_heard.items():
        if instrument in shown and own > 0.0:
            gate *= _fade(scores.get(instrument, 0.0) / own, limit)
    return gate


def instrument_boosts(
    heard: Mapping[str, float],
    rules: Sequence[InstrumentRule],
    votes: Sequence[Weighted],
    shown: Mapping[str, float] | None = None,
    scores: Mapping[str, float] | None = None,
) -> tuple[Boost, ...]:
    """The boosts the heard instruments' rules add (instrument -> strength), gated by the
    votes and by the clearly heard (``shown``) instruments' ``scores``."""
    boosts: list[Boost] = []
    for rule in rules:
        strength = heard.get(rule.instrument, 0.0)
        if strength <= 0.0:
            continue
        gate = _gate(rule, votes, shown or {}, scores or {})
        for genre, amount in rule.boost.items():
            boosts.append(Boost(rule.instrument, genre, amount * gate * strength, gate, strength))
    return tuple(boosts)


def reheaded(evidence: Evidence, head: GenreHead | None) -> Evidence:
    """``evidence`` with the genre model's vote through ``head`` (``None``: as it is). The
    new vote can name what the model could and what the head was taught."""
    if head is None:
        return evidence
    votes = tuple(
        GenreVote(
            vote.component,
            vote.source,
            head.apply(vote.distribution),
            None if vote.vocabulary is None else vote.vocabulary | head.taught,
        )
        if vote.component is Component.ML and vote.distribution
        else vote
        for vote in evidence.votes
    )
    return Evidence(votes, evidence.instruments)


def blend(evidence: Evidence, config: EnsembleConfig) -> EnsembleResult:
    """Blend the components into a ranked decision (see the module docstring); the genre
    model's vote goes through the user's genre head first when the config has one.

    Raises
    ------
    NoEvidence
        Nothing voted and no instrument rule fired.
    """
    stored = evidence
    evidence = reheaded(evidence, config.genre_head)
    instruments = evidence.instruments
    active = [
        (weight, vote)
        for vote in evidence.votes
        if (weight := config.weights.of(vote.component)) > 0.0 and vote.distribution
    ]
    detected = detect_instruments(instruments, config.rules) if instruments else ()
    heard = strengths(instruments, config.rules) if instruments else {}
    boosts = instrument_boosts(
        heard, config.rules, active, dict(detected), instruments.scores if instruments else None
    )
    boosted: dict[str, float] = {}
    for boost in boosts:
        boosted[boost.genre] = boosted.get(boost.genre, 0.0) + boost.amount
    total_boost = sum(boosted.values())

    parts: list[tuple[Component, float, Mapping[str, float]]] = [
        (vote.component, weight, vote.distribution) for weight, vote in active
    ]
    instrument_weight = config.weights.instruments
    if total_boost > 0.0 and instrument_weight > 0.0:
        used = total_boost / (total_boost + max(0.0, config.instrument_prior))
        parts.append((Component.INSTRUMENTS, instrument_weight * used, normalize(boosted)))
    if not parts:
        raise NoEvidence("no component gave any genre evidence")

    final = _mix([(weight, distribution) for _, weight, distribution in parts])
    ranking = tuple(sorted(final.items(), key=lambda item: (-item[1], item[0])))
    weight_sum = sum(weight for _, weight, _ in parts)
    effective: dict[Component, float] = {}
    for component, weight, _ in parts:
        effective[component] = effective.get(component, 0.0) + weight / weight_sum
    return EnsembleResult(
        ranking=ranking,
        top=tuple(genre for genre, _ in ranking[: max(1, config.count)]),
        instruments=detected,
        boosts=boosts,
        effective_weights=effective,
        probability=confidence_map(stored, config)(
            ranking[0][1], ranking[1][1] if len(ranking) > 1 else 0.0
        ),
        headed=next((v.distribution for v in evidence.votes if v.component is Component.ML), None)
        if config.genre_head is not None
        else None,
        head="" if config.genre_head is None else config.genre_head.digest,
    )


def confidence_map(evidence: Evidence, config: EnsembleConfig) -> ConfidenceMap:
    """How this blend's top share reads as a probability (:attr:`EnsembleConfig.confidence`):
    the user's map, else the dev set's for these models, valid only for the default weights
    and the genre model's own vote (no genre head)."""
    if config.confidence is not None:
        return config.confidence
    if config.weights != Weights() or config.genre_head is not None:
        return IDENTITY_CONFIDENCE
    genre_model = next((v.source for v in evidence.votes if v.component is Component.ML), "")
    tagger = evidence.instruments.source if evidence.instruments is not None else ""
    return FITTED_CONFIDENCE.get((genre_model, tagger), IDENTITY_CONFIDENCE)


@dataclass(frozen=True)
class Aggregate(Ranked):
    """An album's decision, from its tracks' decisions."""

    ranking: tuple[tuple[str, float], ...]
    top: tuple[str, ...]
    instruments: tuple[str, ...]
    tracks: int


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
