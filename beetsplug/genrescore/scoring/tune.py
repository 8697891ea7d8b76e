"""Search the blend's knobs for the settings that agree best with a user's own genres.

``beet genrescore --tune`` re-blends stored evidence (``scoring/evidence.py``) thousands of
times, so the blend is computed here for all tracks at once with numpy
(:class:`EvidenceMatrix`). It is the same arithmetic as :func:`.ensemble.blend` (a test
checks the rankings agree on real evidence); everything that does not depend on the tuned
knobs (which instruments are heard and how clearly, the ``unless_heard`` gates) is computed
once, with the pure functions of :mod:`.ensemble`.

What is tuned: the four component weights, ``instrument_prior`` and one scale per instrument
rule (its boosts multiplied). What is maximised: top-1 agreement, the share of labelled
tracks whose top genre the user's labels accept (``scoring/evaluate.accepted``). How:
coordinate ascent over a small grid per knob, from the current settings, taking a step only
when it raises agreement; a knob no labelled track exercises is left alone. The reported
gain is out-of-sample: k-fold cross-validation tunes on k-1 folds and scores the held-out
one, so a user sees what the new settings would do on tracks they were not fitted to.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from . import genre_head
from .calibration import fit_map
from .ensemble import (
    Component,
    ConfidenceMap,
    EnsembleConfig,
    Evidence,
    InstrumentRule,
    Weights,
    confidence_map,
    detect_instruments,
    reheaded,
    strengths,
)
from .evaluate import calibration_error, reliability
from .genre_head import GenreHead
from .taxonomy import GENRES

FloatArray = npt.NDArray[np.float64]

#: The genre components' order in the matrices.
VOTERS = (Component.ML, Component.HEURISTIC, Component.TAGGER_GENRES)
#: Values tried for each weight (weights are relative, so a grid of absolute values is enough).
WEIGHT_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0)
PRIOR_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 8.0)
#: Multipliers tried for each rule's boosts.
SCALE_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
#: Rounds of coordinate ascent over every knob (it stops earlier when a round changes nothing).
ROUNDS = 3


@dataclass(frozen=True)
class Knobs:
    """The tuned settings: component weights, prior, and a scale per rule (by instrument)."""

    weights: Weights
    prior: float
    scales: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, config: EnsembleConfig) -> Knobs:
        return cls(
            config.weights,
            config.instrument_prior,
            tuple((r.instrument, 1.0) for r in config.rules),
        )

    def scaled(self, instrument: str, value: float) -> Knobs:
        """These knobs with one rule's scale set to ``value``."""
        scales = tuple((name, value if name == instrument else old) for name, old in self.scales)
        return dataclasses.replace(self, scales=scales)

    def config(self, base: EnsembleConfig) -> EnsembleConfig:
        """``base`` with these knobs: weights, prior, and each rule's boosts scaled."""
        scale = dict(self.scales)
        rules = tuple(
            dataclasses.replace(
                rule,
                boost={g: a * scale.get(rule.instrument, 1.0) for g, a in rule.boost.items()},
            )
            for rule in base.rules
        )
        return dataclasses.replace(
            base, weights=self.weights, instrument_prior=self.prior, rules=rules
        )


class EvidenceMatrix:
    """Many tracks' evidence as arrays, blended for any :class:`Knobs` in one pass."""

    def __init__(self, evidence: Sequence[Evidence], config: EnsembleConfig) -> None:
        # The genre model's votes as the blend reads them: through the user's genre head.
        evidence = [reheaded(e, config.genre_head) for e in evidence]
        self.size = len(evidence)
        names = {g for e in evidence for v in e.votes for g in v.distribution}
        names |= {g for r in config.rules for g in (*r.boost, *r.unless)}
        #: Genre order: alphabetical, so argmax breaks ties as the blend's ranking does.
        self.genres = tuple(sorted(set(GENRES) | names))
        index = {g: i for i, g in enumerate(self.genres)}
        n, g_count = self.size, len(self.genres)
        self.dist = np.zeros((len(VOTERS), n, g_count))
        self.knows = np.ones((len(VOTERS), n, g_count))
        self.present = np.zeros((len(VOTERS), n))
        for row, item in enumerate(evidence):
            for vote in item.votes:
                c = VOTERS.index(vote.component)
                if not vote.distribution:
                    continue
                self.present[c, row] = 1.0
                for genre, share in vote.distribution.items():
                    self.dist[c, row, index[genre]] = share
                if vote.vocabulary is not None:
                    self.knows[c, row] = 0.0
                    for genre in vote.vocabulary:
                        if genre in index:
                            self.knows[c, row, index[genre]] = 1.0
        self.rules = config.rules
        # Each rule's boosts as sparse cells (rule, track, flat track x genre index, amount:
        # boost x how clearly heard x the unless_heard gate, all knob-free), so that every
        # rule's boosts add up in one bincount; a rule fires on few tracks, for 2-3 genres.
        cells: list[tuple[int, int, int, float]] = []
        for row, item in enumerate(evidence):
            tagger = item.instruments
            if tagger is None:
                continue
            heard = strengths(tagger, self.rules)
            shown = dict(detect_instruments(tagger, self.rules))
            for r, rule in enumerate(self.rules):
                strength = heard.get(rule.instrument, 0.0)
                if strength <= 0.0:
                    continue
                gate = _heard_gate(rule, shown, tagger.scores)
                cells.extend(
                    (r, row, row * g_count + index[genre], amount * strength * gate)
                    for genre, amount in rule.boost.items()
                    if amount * strength * gate != 0.0
                )
        # Only the rules that add anything to some track matter (the others need no scale).
        keep = sorted({r for r, _, _, _ in cells})
        renumber = {r: k for k, r in enumerate(keep)}
        cells.sort(key=lambda cell: cell[0])  # each rule's cells one slice: self._slices
        self._cell_rule = np.array([renumber[c[0]] for c in cells], dtype=np.intp)
        self._cell_row = np.array([c[1] for c in cells], dtype=np.intp)
        self._cell_flat = np.array([c[2] for c in cells], dtype=np.intp)
        self._cell_amount: FloatArray = np.array([c[3] for c in cells], dtype=float)
        bounds = np.searchsorted(self._cell_rule, np.arange(len(keep) + 1))
        self._slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        self._parts_cache: tuple[Weights, tuple[FloatArray, FloatArray, FloatArray]] | None = None
        self.active_rules = tuple(self.rules[r].instrument for r in keep)
        #: Per kept rule: (genre index, limit) of its ``unless`` conditions.
        self.unless = [
            [(index[genre], limit) for genre, limit in self.rules[r].unless.items()] for r in keep
        ]
        self.known_dist = self.knows * self.dist

    def _parts(self, knobs: Knobs) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The weighted votes' sum (N, G), their weights' sum (N,), and each kept rule's
        ``unless`` gate (R, N): everything but the rules' scales and the instruments' part.
        They depend on the weights only, so the last ones are kept (a search moves one knob
        at a time)."""
        if self._parts_cache is not None and self._parts_cache[0] == knobs.weights:
            return self._parts_cache[1]
        parts = self._compute_parts(knobs)
        self._parts_cache = (knobs.weights, parts)
        return parts

    def _boosts(self, amounts: FloatArray, cells: slice = slice(None)) -> FloatArray:
        """Each track's boost per genre, ``amounts`` (R, N) scaling each rule's cells (only
        ``cells``: one rule's, :attr:`_slices`)."""
        rule, row = self._cell_rule[cells], self._cell_row[cells]
        weights = amounts[rule, row] * self._cell_amount[cells]
        size = self.size * len(self.genres)
        boosted = np.bincount(self._cell_flat[cells], weights, minlength=size).astype(float)
        return boosted.reshape(self.size, len(self.genres))

    def _compute_parts(self, knobs: Knobs) -> tuple[FloatArray, FloatArray, FloatArray]:
        w = np.array([knobs.weights.of(c) for c in VOTERS])
        active = w[:, None] * self.present  # (C, N): each vote's weight, 0 where absent
        parts = np.zeros((self.size, len(self.genres)))
        for c in range(len(VOTERS)):
            parts += active[c][:, None] * self.dist[c]
        total = active.sum(axis=0)
        gates = np.ones((len(self.active_rules), self.size))
        shares: dict[int, FloatArray] = {}
        for r, conditions in enumerate(self.unless):
            for g, limit in conditions:
                if g not in shares:  # the votes' share of g, among those that can name it
                    knowing = np.einsum("cn,cn->n", active, self.knows[:, :, g])
                    said = np.einsum("cn,cn->n", active, self.known_dist[:, :, g])
                    shares[g] = np.divide(said, knowing, out=np.zeros(self.size), where=knowing > 0)
                gates[r] *= _fade(shares[g], limit)
        return parts, total, gates

    def _factors(self, knobs: Knobs) -> FloatArray:
        scale = dict(knobs.scales)
        return np.array([scale.get(name, 1.0) for name in self.active_rules])

    def _final(
        self, parts: FloatArray, total: FloatArray, boosted: FloatArray, knobs: Knobs
    ) -> FloatArray:
        """The votes and the instruments' part mixed as :func:`.ensemble.blend` mixes them."""
        boost_total = boosted.sum(axis=1)
        instrument = knobs.weights.instruments
        if instrument > 0.0:
            prior = max(0.0, knobs.prior)
            used = np.divide(
                boost_total, boost_total + prior, out=np.zeros(self.size), where=boost_total > 0
            )
            share = instrument * used / np.where(boost_total > 0, boost_total, 1.0)
            parts = parts + share[:, None] * boosted
            total = total + instrument * used
        final: FloatArray = np.divide(
            parts, total[:, None], out=np.zeros_like(parts), where=total[:, None] > 0
        )
        return final

    def scores(self, knobs: Knobs) -> FloatArray:
        """Every track's final genre scores under ``knobs`` (rows: tracks; all 0: no genre)."""
        parts, total, gates = self._parts(knobs)
        boosted = self._boosts(self._factors(knobs)[:, None] * gates)
        return self._final(parts, total, boosted, knobs)

    def top(self, knobs: Knobs) -> npt.NDArray[np.int64]:
        """Each track's top genre's index in :attr:`genres` (-1: no genre at all)."""
        return _top(self.scores(knobs))

    def sweep(
        self, knobs: Knobs, instrument: str, values: Sequence[float]
    ) -> list[npt.NDArray[np.int64]]:
        """:meth:`top` for ``knobs`` with one rule's scale set to each of ``values``: the
        rest of the blend is computed once, so a sweep costs little more than one blend."""
        parts, total, gates = self._parts(knobs)
        factors = self._factors(knobs)
        r = self.active_rules.index(instrument)
        factors[r] = 0.0
        others = self._boosts(factors[:, None] * gates)
        own = self._boosts(gates, self._slices[r])
        return [_top(self._final(parts, total, others + value * own, knobs)) for value in values]


def _top(scores: FloatArray) -> npt.NDArray[np.int64]:
    best = scores.argmax(axis=1)
    return np.where(scores.max(axis=1) > 0.0, best, -1)


def _fade(value: FloatArray, limit: float) -> FloatArray:
    if limit <= 0.0:
        return np.ones_like(value)
    return np.clip(1.0 - value / limit, 0.0, 1.0)


def _heard_gate(
    rule: InstrumentRule, shown: Mapping[str, float], scores: Mapping[str, float]
) -> float:
    """The ``unless_heard`` part of a rule's gate (as :func:`.ensemble._gate` computes it)."""
    own = scores.get(rule.instrument, 0.0)
    gate = 1.0
    for instrument, limit in rule.unless_heard.items():
        if instrument in shown and own > 0.0 and limit > 0.0:
            gate *= min(1.0, max(0.0, 1.0 - scores.get(instrument, 0.0) / own / limit))
    return gate


class Agreement:
    """Top-1 agreement of a matrix's tracks with the genres their users accept."""

    def __init__(self, matrix: EvidenceMatrix, accepted: Sequence[frozenset[str]]) -> None:
        self.matrix = matrix
        self.ok = np.zeros((matrix.size, len(matrix.genres) + 1), dtype=bool)  # last: no genre
        for row, genres in enumerate(accepted):
            for g, name in enumerate(matrix.genres):
                self.ok[row, g] = name in genres

    def hits(self, knobs: Knobs, rows: npt.NDArray[np.int64] | None = None) -> FloatArray:
        """1 for each track (of ``rows``) whose top genre the user accepts, else 0."""
        return self.hits_of(self.matrix.top(knobs), rows)

    def hits_of(
        self, top: npt.NDArray[np.int64], rows: npt.NDArray[np.int64] | None = None
    ) -> FloatArray:
        hit = self.ok[np.arange(self.matrix.size), top].astype(float)
        return hit if rows is None else hit[rows]

    def rate(self, knobs: Knobs, rows: npt.NDArray[np.int64] | None = None) -> float:
        return self.rate_of(self.matrix.top(knobs), rows)

    def rate_of(
        self, top: npt.NDArray[np.int64], rows: npt.NDArray[np.int64] | None = None
    ) -> float:
        hit = self.hits_of(top, rows)
        return float(hit.mean()) if hit.size else 0.0


def search(agreement: Agreement, start: Knobs, rows: npt.NDArray[np.int64]) -> Knobs:
    """Coordinate ascent from ``start`` on the tracks ``rows`` (see the module docstring)."""
    matrix = agreement.matrix
    best = start
    best_rate = agreement.rate(best, rows)
    for _ in range(ROUNDS):
        changed = False
        for grid, move in _axes():
            for value in grid:
                candidate = move(best, value)
                if candidate == best:
                    continue
                rate = agreement.rate(candidate, rows)
                if rate > best_rate + 1e-12:
                    best, best_rate, changed = candidate, rate, True
        for instrument in matrix.active_rules:  # one sweep per rule: its grid at once
            current = dict(best.scales).get(instrument, 1.0)
            tops = matrix.sweep(best, instrument, SCALE_GRID)
            for value, top in zip(SCALE_GRID, tops, strict=True):
                if value == current:
                    continue
                rate = agreement.rate_of(top, rows)
                if rate > best_rate + 1e-12:
                    best, best_rate, changed = best.scaled(instrument, value), rate, True
                    current = value
        if not changed:
            break
    return best


Move = Callable[[Knobs, float], Knobs]


def _axes() -> list[tuple[tuple[float, ...], Move]]:
    """The grid of each weight and of the prior, and how to set it (the rules' scales are
    swept by :meth:`EvidenceMatrix.sweep`)."""

    def weight(component: Component) -> Move:
        def move(k: Knobs, value: float) -> Knobs:
            weights = dataclasses.replace(k.weights, **{component.value: value})
            if not any(weights.of(c) > 0 for c in Component):
                return k
            return dataclasses.replace(k, weights=weights)

        return move

    axes: list[tuple[tuple[float, ...], Move]] = [(WEIGHT_GRID, weight(c)) for c in Component]
    axes.append((PRIOR_GRID, lambda k, value: dataclasses.replace(k, prior=value)))
    return axes


@dataclass(frozen=True)
class HeadResult:
    """What a user genre head (``scoring/genre_head.py``) does to top-1 agreement, with the
    current weights: held out (fitted on the other folds) and on every labelled track
    (fitted on them all, optimistic)."""

    head: GenreHead
    held_out_before: float
    held_out_after: float
    before: float
    after: float

    @property
    def helps(self) -> bool:
        """The adoption gate: only a gain held out counts."""
        return self.held_out_after > self.held_out_before


@dataclass(frozen=True)
class CalibrationResult:
    """The confidence map refitted on the chosen settings' held-out blends: expected
    calibration error (``evaluate.calibration_error``) of the map the chosen settings would
    use now, and of the refitted one, held out (fitted on the other folds) and on every
    labelled track (fitted on them all)."""

    confidence: ConfidenceMap
    tracks: int
    held_out_before: float
    held_out_after: float
    before: float
    after: float

    @property
    def helps(self) -> bool:
        """The adoption gate: only a lower error held out counts."""
        return self.held_out_after < self.held_out_before


@dataclass(frozen=True)
class TuneResult:
    """What ``--tune`` found.

    The agreement figures are the weight search's, on the evidence as the chosen genre head
    reads it (:attr:`head` when it helps, else the current settings').
    """

    labelled: int
    folds: int
    #: Mean held-out top-1 agreement with the current settings, and with the tuned ones.
    held_out_before: float
    held_out_after: float
    #: On every labelled track: current settings, and the settings tuned on all of them.
    before: float
    after: float
    knobs: Knobs
    start: Knobs
    #: The genre head step (``None``: not tried, no genre-model vote to learn from).
    head: HeadResult | None = None
    #: The calibration step (``None``: not tried).
    calibration: CalibrationResult | None = None

    @property
    def weights_help(self) -> bool:
        """The weight search's adoption gate: held out better, and something changed."""
        return self.held_out_after > self.held_out_before and self.knobs != self.start


#: Fewest labelled tracks with a genre-model vote a head is fitted on (as ``--tune``'s own).
MIN_HEAD_TRACKS = 20


def ml_vote(evidence: Evidence) -> Mapping[str, float] | None:
    """The stored genre model's vote (``None``: no genre model ran)."""
    return next(
        (v.distribution for v in evidence.votes if v.component is Component.ML and v.distribution),
        None,
    )


def _fit_head(
    evidence: Sequence[Evidence],
    accepted: Sequence[frozenset[str]],
    groups: Sequence[str],
    rows: npt.NDArray[np.intp],
) -> GenreHead:
    """A head fitted on the tracks ``rows`` that have a genre-model vote."""
    use = [int(i) for i in rows if ml_vote(evidence[i]) is not None]
    votes = [ml_vote(evidence[i]) or {} for i in use]
    return genre_head.fit(votes, [accepted[i] for i in use], [groups[i] for i in use])


def _top_two(scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Each row's top score and runner-up's."""
    ordered = np.sort(scores, axis=1)
    return ordered[:, -1], ordered[:, -2]


def _ece(confidence: Sequence[float], right: Sequence[bool]) -> float:
    return calibration_error(reliability(confidence, right)) or 0.0


def tune(
    evidence: Sequence[Evidence],
    accepted: Sequence[frozenset[str]],
    config: EnsembleConfig,
    *,
    groups: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    head: bool = False,
    calibrate: bool = False,
) -> TuneResult:
    """Cross-validate each step, then fit it on every labelled track.

    ``evidence[i]`` is a labelled track's stored evidence, ``accepted[i]`` the canonical
    genres its user's labels accept (``evaluate.accepted``) and ``groups[i]`` what must stay
    on one side of a split (its album; default: every track its own). The folds deal whole
    groups (:func:`.genre_head.group_folds`, ties in an order drawn from ``seed``).

    1. ``head``: a genre head fitted inside each training fold; held-out agreement without
       and with it (the current weights). Adopted when held out it agrees more.
    2. The weight search (:func:`search`) in each training fold, on the evidence as the
       adopted head reads it (each fold's own head, so the held-out figure holds for a head
       and weights neither of which saw the track).
    3. ``calibrate``: the confidence map refitted on the held-out blends of the chosen
       settings (fold by fold, the settings fitted without the track); held-out expected
       calibration error of the map those settings use now against the refitted one.
    """
    if len(evidence) != len(accepted):
        raise ValueError("one set of accepted genres per track")
    size = len(evidence)
    names = list(groups) if groups is not None else [str(i) for i in range(size)]
    if len(names) != size:
        raise ValueError("one group per track")
    k = max(2, min(folds, len(set(names))))
    splits = genre_head.group_folds(names, k, seed)
    everything = np.arange(size)
    start = Knobs.of(config)
    current = Agreement(EvidenceMatrix(evidence, config), accepted)

    # 1. The genre head.
    fold_configs = [config] * k
    chosen = config
    head_result = None
    with_ml = sum(ml_vote(e) is not None for e in evidence)
    if head and with_ml >= MIN_HEAD_TRACKS:
        heads = [
            _fit_head(evidence, accepted, names, np.setdiff1d(everything, held)) for held in splits
        ]
        before_hits, after_hits = [], []
        for held, fold_head in zip(splits, heads, strict=True):
            headed = Agreement(
                EvidenceMatrix(evidence, dataclasses.replace(config, genre_head=fold_head)),
                accepted,
            )
            before_hits.append(current.hits(start, held))
            after_hits.append(headed.hits(start, held))
        final_head = _fit_head(evidence, accepted, names, everything)
        with_head = dataclasses.replace(config, genre_head=final_head)
        head_result = HeadResult(
            final_head,
            held_out_before=float(np.concatenate(before_hits).mean()),
            held_out_after=float(np.concatenate(after_hits).mean()),
            before=current.rate(start, everything),
            after=Agreement(EvidenceMatrix(evidence, with_head), accepted).rate(start, everything),
        )
        if head_result.helps:
            chosen = with_head
            fold_configs = [dataclasses.replace(config, genre_head=h) for h in heads]

    # 2. The weight search, on the chosen head's reading.
    agreement = (
        current if chosen is config else Agreement(EvidenceMatrix(evidence, chosen), accepted)
    )
    before_hits, after_hits = [], []
    genres = agreement.matrix.genres
    start_scores = np.zeros((size, len(genres)))
    tuned_scores = np.zeros((size, len(genres)))
    for held, fold_config in zip(splits, fold_configs, strict=True):
        fold = (
            agreement
            if fold_config is chosen
            else Agreement(EvidenceMatrix(evidence, fold_config), accepted)
        )
        fitted = search(fold, start, np.setdiff1d(everything, held))
        before_hits.append(fold.hits(start, held))
        after_hits.append(fold.hits(fitted, held))
        start_scores[held] = fold.matrix.scores(start)[held]
        tuned_scores[held] = fold.matrix.scores(fitted)[held]
    final = search(agreement, start, everything)
    result = TuneResult(
        labelled=size,
        folds=k,
        held_out_before=float(np.concatenate(before_hits).mean()),
        held_out_after=float(np.concatenate(after_hits).mean()),
        before=agreement.rate(start, everything),
        after=agreement.rate(final, everything),
        knobs=final,
        start=start,
        head=head_result,
    )
    if not calibrate:
        return result

    # 3. The confidence map, on the held-out blends of what is chosen.
    scores = tuned_scores if result.weights_help else start_scores
    settings = (final if result.weights_help else start).config(chosen)
    calibration = _calibrate(scores, evidence, agreement, settings, splits)
    return dataclasses.replace(result, calibration=calibration)


def _calibrate(
    scores: FloatArray,
    evidence: Sequence[Evidence],
    agreement: Agreement,
    settings: EnsembleConfig,
    splits: Sequence[npt.NDArray[np.intp]],
) -> CalibrationResult | None:
    """The calibration step of :func:`tune` over held-out ``scores`` (rows: tracks)."""
    top = _top(scores)
    named = top >= 0
    if named.sum() < 2:
        return None
    share, runner_up = _top_two(scores)
    right = agreement.hits_of(top).astype(bool)
    now = np.array(
        [
            confidence_map(e, settings)(float(s), float(r))
            for e, s, r in zip(evidence, share, runner_up, strict=True)
        ]
    )
    held = np.zeros(len(evidence))
    for rows in splits:
        train = np.setdiff1d(np.flatnonzero(named), rows)
        fitted = fit_map(share[train].tolist(), right[train].tolist(), runner_up[train].tolist())
        for i in rows:
            held[i] = fitted(float(share[i]), float(runner_up[i]))
    idx = np.flatnonzero(named)
    refitted = fit_map(share[idx].tolist(), right[idx].tolist(), runner_up[idx].tolist())
    in_sample = [refitted(float(share[i]), float(runner_up[i])) for i in idx]
    truth = right[idx].tolist()
    before = _ece(now[idx].tolist(), truth)
    return CalibrationResult(
        confidence=refitted,
        tracks=int(idx.size),
        held_out_before=before,
        held_out_after=_ece(held[idx].tolist(), truth),
        before=before,
        after=_ece(in_sample, truth),
    )


def as_yaml(
    result: TuneResult, config: EnsembleConfig, *, head_path: str | None = None
) -> list[str]:
    """The config lines that set what helps held out: the genre head (``head_path``, its
    file), the tuned knobs (only rules whose scale changed), the confidence map."""
    lines = ["genrescore:"]
    if head_path is not None and result.head is not None and result.head.helps:
        lines.append(f"  genre_head: {head_path}")
    if result.weights_help:
        lines += _knob_lines(result.knobs, config)
    calibration = result.calibration
    if calibration is not None and calibration.helps:
        c = calibration.confidence
        lines.append(
            f"  confidence: {{slope: {_number(c.slope)}, intercept: {_number(c.intercept)}, "
            f"margin: {_number(c.margin)}}}"
        )
    return lines


def _knob_lines(knobs: Knobs, config: EnsembleConfig) -> list[str]:
    weights = ", ".join(f"{c.value}: {_number(knobs.weights.of(c))}" for c in Component)
    lines = [f"  weights: {{{weights}}}", f"  instrument_prior: {_number(knobs.prior)}"]
    scale = dict(knobs.scales)
    changed = [rule for rule in config.rules if scale.get(rule.instrument, 1.0) != 1.0]
    if changed:
        lines.append("  instrument_rules:")
        for rule in changed:
            factor = scale[rule.instrument]
            boost = ", ".join(f"{genre}: {_number(a * factor)}" for genre, a in rule.boost.items())
            lines.append(f"    {rule.instrument}: {{boost: {{{boost}}}}}  # x{factor:g}")
    return lines


def _number(value: float) -> str:
    return f"{value:.4g}"
