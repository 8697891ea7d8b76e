"""Confidence as a probability: the Platt map of the top share (issue 22 item 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from beetsplug.genrescore.scoring.calibration import fit_platt
from beetsplug.genrescore.scoring.ensemble import (
    EMBEDDED_DEFAULT_CONFIDENCE,
    FITTED_CONFIDENCE,
    Component,
    ConfidenceMap,
    EnsembleConfig,
    Evidence,
    GenreVote,
    InstrumentEvidence,
    Weights,
    blend,
    margin_feature,
)
from benchmarks.accuracy import group_folds, reliability


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.8, 0.99])
def test_identity_gives_the_share(share: float) -> None:
    assert ConfidenceMap()(share) == pytest.approx(share)


@pytest.mark.parametrize(
    ("slope", "intercept", "share", "expected"),
    [
        (2.0, 0.0, 0.5, 0.5),  # logit 0 stays 0
        (2.0, 0.0, 0.75, 0.9),  # odds 3 -> 9
        (1.0, math.log(3), 0.5, 0.75),  # odds 1 -> 3
        (2.518, 2.588, 0.3, 0.6117),  # the embedded default's map: 2.518 ln(3/7) + 2.588
    ],
)
def test_known_values(slope: float, intercept: float, share: float, expected: float) -> None:
    assert ConfidenceMap(slope, intercept)(share) == pytest.approx(expected, abs=1e-4)


def test_the_fitted_map_rises_and_stays_a_probability() -> None:
    values = [EMBEDDED_DEFAULT_CONFIDENCE(s) for s in np.linspace(0.01, 0.99, 99)]
    assert all(0.0 < v < 1.0 for v in values)
    assert values == sorted(values)


def test_blend_keeps_the_share_and_maps_the_confidence() -> None:
    votes = (GenreVote(Component.ML, "m", {"rock": 0.6, "pop": 0.4}),)
    plain = blend(Evidence(votes), EnsembleConfig())
    mapped = blend(Evidence(votes), EnsembleConfig(confidence=ConfidenceMap(2.0, 0.0)))
    assert plain.confidence == plain.share == pytest.approx(0.6)
    assert mapped.share == pytest.approx(0.6)
    assert mapped.ranking == plain.ranking  # only the reading of the share changes
    assert mapped.confidence == pytest.approx(0.36 / (0.36 + 0.16))  # odds 1.5 -> 2.25


def _evidence(genre_model: str, tagger: str) -> Evidence:
    votes = (
        GenreVote(Component.ML, genre_model, {"rock": 0.5, "pop": 0.3, "jazz": 0.2}),
        GenreVote(Component.HEURISTIC, "heuristic", {"rock": 0.4, "electronic": 0.6}),
    )
    return Evidence(votes, InstrumentEvidence(tagger, {}, {}))


@pytest.mark.parametrize(
    ("genre_model", "tagger", "fitted"),
    [
        ("musicnn-msd", "yamnet", True),
        ("efficientat-genre", "yamnet", True),
        ("danilotpnta/HuBERT-Genre-Clf", "MIT/ast-finetuned-audioset-10-10-0.4593", False),
        ("musicnn-msd", "efficientat", False),
    ],
)
def test_the_map_fitted_for_the_models_that_voted(
    genre_model: str, tagger: str, fitted: bool
) -> None:
    result = blend(_evidence(genre_model, tagger), EnsembleConfig())
    if fitted:
        want = FITTED_CONFIDENCE[(genre_model, tagger)](result.share, result.ranking[1][1])
        assert result.confidence == pytest.approx(want)
        assert result.confidence > result.share  # the share understates these blends
    else:
        assert result.confidence == result.share
    # Other weights than the map was fitted with: the share, whatever the models.
    other = blend(_evidence(genre_model, tagger), EnsembleConfig(Weights(ml=0.5)))
    assert other.confidence == other.share


def test_the_runner_up_term() -> None:
    # sigmoid(2 logit(0.4) - 1 x log(0.4 / 0.2) + 1), written out.
    z = 2.0 * math.log(0.4 / 0.6) - math.log(2.0) + 1.0
    assert ConfidenceMap(2.0, 1.0, -1.0)(0.4, 0.2) == pytest.approx(1 / (1 + math.exp(-z)))
    # The log-ratio is capped at log(10), also without a runner-up: no extrapolation.
    assert margin_feature(0.5, 0.0) == margin_feature(0.5, 0.01) == pytest.approx(math.log(10))
    assert margin_feature(0.3, 0.3) == 0.0
    # A blend hands the runner-up's share to the map.
    votes = (GenreVote(Component.ML, "m", {"rock": 0.5, "pop": 0.3, "jazz": 0.2}),)
    mapped = blend(Evidence(votes), EnsembleConfig(confidence=ConfidenceMap(2.0, 1.0, -1.0)))
    assert mapped.confidence == pytest.approx(ConfidenceMap(2.0, 1.0, -1.0)(0.5, 0.3))
    assert mapped.confidence != pytest.approx(ConfidenceMap(2.0, 1.0, -1.0)(0.5))


def test_fit_recovers_a_known_map_with_the_runner_up() -> None:
    rng = np.random.default_rng(11)
    shares = rng.uniform(0.15, 0.7, size=6000)
    runner_ups = shares * rng.uniform(0.15, 1.0, size=shares.size)
    truth = ConfidenceMap(3.0, 2.0, -1.5)
    odds = [truth(s, r) for s, r in zip(shares, runner_ups, strict=True)]
    right = rng.uniform(size=shares.size) < np.array(odds)
    slope, intercept, margin = fit_platt(shares.tolist(), right.tolist(), runner_ups.tolist())
    assert slope == pytest.approx(3.0, abs=0.4)
    assert intercept == pytest.approx(2.0, abs=0.5)
    assert margin == pytest.approx(-1.5, abs=0.4)


def test_fit_recovers_a_known_map() -> None:
    rng = np.random.default_rng(7)
    shares = rng.uniform(0.1, 0.9, size=4000)
    truth = ConfidenceMap(2.5, 1.0)
    right = rng.uniform(size=shares.size) < np.array([truth(s) for s in shares])
    slope, intercept = fit_platt(shares.tolist(), right.tolist())
    assert slope == pytest.approx(2.5, abs=0.25)
    assert intercept == pytest.approx(1.0, abs=0.15)


def test_reliability_of_a_calibrated_and_an_overconfident_reader() -> None:
    rng = np.random.default_rng(3)
    confidence = rng.uniform(size=20000)
    right = rng.uniform(size=confidence.size) < confidence
    ece, rows = reliability(confidence.tolist(), right.tolist())
    assert ece < 0.02
    assert len(rows) == 10
    overconfident, _ = reliability([0.9] * 100, [True] * 50 + [False] * 50)
    assert overconfident == pytest.approx(0.4)


def test_folds_keep_each_group_on_one_side() -> None:
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"]
    folds = group_folds(groups, 3)
    assert sorted(i for fold in folds for i in fold) == list(range(len(groups)))
    for fold in folds:
        inside = {groups[i] for i in fold}
        outside = {groups[i] for f in folds if f is not fold for i in f}
        assert not inside & outside
