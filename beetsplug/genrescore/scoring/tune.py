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

from .ensemble import (
    Component,
    EnsembleConfig,
    Evidence,
    InstrumentRule,
    Weights,
    detect_instruments,
    strengths,
)
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
class TuneResult:
    """What ``--tune`` found."""

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


def tune(
    evidence: Sequence[Evidence],
    accepted: Sequence[frozenset[str]],
    config: EnsembleConfig,
    *,
    folds: int = 5,
    seed: int = 0,
) -> TuneResult:
    """Cross-validate the search, then search on every labelled track.

    ``evidence[i]`` is a labelled track's stored evidence and ``accepted[i]`` the canonical
    genres its user's labels accept (``evaluate.accepted``).
    """
    if len(evidence) != len(accepted):
        raise ValueError("one set of accepted genres per track")
    matrix = EvidenceMatrix(evidence, config)
    agreement = Agreement(matrix, accepted)
    start = Knobs.of(config)
    everything = np.arange(matrix.size)
    k = max(2, min(folds, matrix.size))
    order = np.random.default_rng(seed).permutation(matrix.size)
    before_hits, after_hits = [], []
    for fold in range(k):
        held = order[fold::k]
        train = np.setdiff1d(everything, held)
        fitted = search(agreement, start, train)
        before_hits.append(agreement.hits(start, held))
        after_hits.append(agreement.hits(fitted, held))
    final = search(agreement, start, everything)
    return TuneResult(
        labelled=matrix.size,
        folds=k,
        held_out_before=float(np.concatenate(before_hits).mean()),
        held_out_after=float(np.concatenate(after_hits).mean()),
        before=agreement.rate(start, everything),
        after=agreement.rate(final, everything),
        knobs=final,
        start=start,
    )


def as_yaml(result: TuneResult, config: EnsembleConfig) -> list[str]:
    """The config lines that set the tuned knobs (only rules whose scale changed)."""
    knobs = result.knobs
    weights = ", ".join(f"{c.value}: {_number(knobs.weights.of(c))}" for c in Component)
    lines = [
        "genrescore:",
        f"  weights: {{{weights}}}",
        f"  instrument_prior: {_number(knobs.prior)}",
    ]
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
