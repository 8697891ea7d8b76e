"""``--tune``'s genre head, weights and confidence steps (``scoring/tune.py``) checked
against figures computed here by another route (mutation survivors, tests/MUTATION.md):
the weight step's "current" figure is the head step's "with the head" one when the head is
adopted (the same fold heads, the same held-out tracks) and its "without" one when not, the
confidence step's figures are those of maps fitted on the other albums' real blends, and
the head is tried from the twentieth labelled track with a genre-model vote."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from beetsplug.genrescore.scoring import evidence as codec
from beetsplug.genrescore.scoring import genre_head, tune
from beetsplug.genrescore.scoring.calibration import fit_map
from beetsplug.genrescore.scoring.ensemble import (
    Component,
    ConfidenceMap,
    EnsembleConfig,
    Evidence,
    Weights,
    blend,
)
from beetsplug.genrescore.scoring.evaluate import calibration_error, reliability

from .evidence_fixtures import tracks
from .test_genre_head import MODEL_LEADS, album_library, track
from .test_plugin import SHIPPED_RULES

CONFIG = EnsembleConfig(weights=MODEL_LEADS, rules=SHIPPED_RULES)


def _library(*, confused: bool) -> tuple[list[Evidence], list[frozenset[str]], list[str]]:
    data = album_library(confused=confused)
    accepted = [frozenset({t, "electronic"} if t == "disco" else {t}) for _, t, _ in data]
    return [e for _, _, e in data], accepted, [f"album {a}" for a, _, _ in data]


@pytest.mark.parametrize("confused", [True, False])
def test_the_weight_step_starts_from_what_the_head_step_chose(confused: bool) -> None:
    evidence, accepted, groups = _library(confused=confused)
    result = tune.tune(evidence, accepted, CONFIG, groups=groups, head=True)
    head = result.head
    assert head is not None
    assert head.helps == confused
    assert result.folds == 5
    if confused:  # adopted: the weights are searched on the evidence as each fold's head reads it
        assert result.held_out_before == head.held_out_after
        assert result.before == head.after
        assert head.held_out_after > head.held_out_before + 0.1
    else:  # not adopted: on the evidence as stored
        assert result.held_out_before == head.held_out_before == 1.0
        assert result.before == head.before
    # The head offered is the one fitted on every labelled track.
    votes = [tune.ml_vote(e) or {} for e in evidence]
    assert head.head == genre_head.fit(votes, list(accepted), groups)
    assert head.head.trained_on == len(evidence)

    # Its figures through the real blend: held out, each album read by a head fitted on
    # the other folds' albums; in-sample, by the head offered.
    def agree(rows: list[int], fitted: genre_head.GenreHead | None) -> list[bool]:
        config = dataclasses.replace(CONFIG, genre_head=fitted)
        return [blend(evidence[i], config).genre in accepted[i] for i in rows]

    held, without = [], []
    for fold in genre_head.group_folds(groups, 5, 0):
        rows = [i for i in range(len(evidence)) if i not in fold]
        fitted = genre_head.fit([votes[i] for i in rows], [accepted[i] for i in rows],
                                [groups[i] for i in rows])  # fmt: skip
        held += agree(fold.tolist(), fitted)
        without += agree(fold.tolist(), None)
    everything = list(range(len(evidence)))
    assert head.held_out_after == pytest.approx(np.mean(held), abs=1e-12)
    assert head.held_out_before == pytest.approx(np.mean(without), abs=1e-12)
    assert head.after == pytest.approx(np.mean(agree(everything, head.head)), abs=1e-12)
    assert head.before == pytest.approx(np.mean(agree(everything, None)), abs=1e-12)
    if confused:  # held out it agrees less than on the tracks it learned from
        assert head.before < head.held_out_after < head.after


def test_the_head_is_tried_from_twenty_tracks_with_a_genre_model_vote() -> None:
    evidence, accepted, groups = _library(confused=True)
    no_model = Evidence(tuple(v for v in evidence[0].votes if v.component is not Component.ML))
    assert no_model.votes  # the heuristics' vote: a vote, not the genre model's
    for with_model, tried in ((19, False), (20, True)):
        mixed = evidence[:with_model] + [no_model] * 10
        result = tune.tune(
            mixed, accepted[: with_model + 10], CONFIG, groups=groups[: with_model + 10], head=True
        )
        assert (result.head is not None) == tried
        if result.head is not None:  # fitted on the tracks with a vote only
            assert result.head.head.trained_on == with_model
    plain = tune.tune(evidence, accepted, CONFIG, groups=groups)  # neither asked for
    assert plain.head is None
    assert plain.calibration is None
    with pytest.raises(ValueError, match=r"^one group per track$"):
        tune.tune(evidence, accepted, CONFIG, groups=groups[:-1])


def _ece(confidence: list[float], right: list[bool]) -> float:
    return calibration_error(reliability(confidence, right)) or 0.0


def test_the_confidence_step_fits_each_map_without_the_tracks_it_scores() -> None:
    """The model is right on every album: the weights stay, so the held-out blends are the
    current settings' real blends; two tracks with no evidence have no genre to map."""
    evidence, accepted, groups = _library(confused=False)
    rng = np.random.default_rng(6)
    # Right about three tracks in four, however sure: the share over-states it.
    accepted = [a if rng.random() < 0.75 else frozenset({"reggae"}) for a in accepted]
    # Blues: the first of the genres, index 0 (a genre, not "no genre").
    blues = random.Random(9)
    for _ in range(8):
        evidence.append(codec.stored(track(blues, "blues", confused=False))[1])
        accepted.append(frozenset({"blues"}) if blues.random() < 0.75 else frozenset({"soul"}))
        groups.append("album blues")
    evidence += [Evidence(())] * 2
    accepted += [frozenset({"rock"})] * 2
    groups += ["album x", "album y"]
    result = tune.tune(evidence, accepted, CONFIG, groups=groups, calibrate=True)
    assert not result.weights_help
    calibration = result.calibration
    assert calibration is not None
    named = np.arange(len(evidence) - 2)
    assert calibration.tracks == named.size
    shares, runner_ups, right, tops = [], [], [], []
    for item, labels in zip(evidence[:-2], accepted[:-2], strict=True):
        ranking = blend(item, CONFIG).ranking
        tops.append(ranking[0][0])
        shares.append(ranking[0][1])
        runner_ups.append(ranking[1][1])
        right.append(ranking[0][0] in labels)
    assert 0.6 < np.mean(right) < 0.9
    assert sum(ranking_genre == "blues" for ranking_genre in tops) >= 6
    # Now: these weights and the model have no fitted map, so the confidence is the share.
    assert calibration.held_out_before == calibration.before
    assert calibration.before == pytest.approx(_ece(shares, right), abs=1e-12)
    # A map of the user's own, with a margin term: "now" is what it says of each track.
    mapped = dataclasses.replace(CONFIG, confidence=ConfidenceMap(2.0, -1.0, 0.5))
    theirs = tune.tune(evidence, accepted, mapped, groups=groups, calibrate=True).calibration
    assert theirs is not None
    now = [ConfidenceMap(2.0, -1.0, 0.5)(s, r) for s, r in zip(shares, runner_ups, strict=True)]
    assert theirs.before == pytest.approx(_ece(now, right), abs=1e-12)
    assert theirs.before != pytest.approx(_ece(shares, right), abs=1e-3)
    # The shipped weights: "now" is the dev set's map for the models that voted, looked up
    # from each track's evidence (none here for "a-model": the share).
    shipped = EnsembleConfig(rules=SHIPPED_RULES)
    default = tune.tune(evidence, accepted, shipped, groups=groups, calibrate=True).calibration
    assert default is not None
    assert default.tracks == len(evidence) - 2
    held = np.zeros(named.size)
    for fold in genre_head.group_folds(groups, result.folds, 0):
        train = [i for i in named if i not in fold]
        fitted = fit_map(
            [shares[i] for i in train], [right[i] for i in train], [runner_ups[i] for i in train]
        )
        for i in fold:
            if i in named:
                held[i] = fitted(shares[i], runner_ups[i])
    assert calibration.held_out_after == pytest.approx(_ece(held.tolist(), right), abs=1e-9)
    everything = fit_map(shares, right, runner_ups)
    fields = ("slope", "intercept", "margin")
    offered = [getattr(calibration.confidence, f) for f in fields]
    assert offered == pytest.approx([getattr(everything, f) for f in fields], abs=1e-9)
    in_sample = [everything(s, r) for s, r in zip(shares, runner_ups, strict=True)]
    assert calibration.after == pytest.approx(_ece(in_sample, right), abs=1e-9)
    assert calibration.held_out_after < calibration.held_out_before
    assert calibration.helps


def test_no_confidence_step_with_fewer_than_two_tracks_named() -> None:
    evidence, accepted, _ = _library(confused=False)
    result = tune.tune(
        [evidence[0]] + [Evidence(())] * 3,
        [accepted[0]] * 4,
        CONFIG,
        groups=["a", "b", "c", "d"],
        calibrate=True,
    )
    assert result.calibration is None
    two = tune.tune(evidence[:2], accepted[:2], CONFIG, groups=["a", "b"], calibrate=True)
    assert two.calibration is not None
    assert two.calibration.tracks == 2


def test_the_printed_settings_name_a_head_only_where_it_helps() -> None:
    evidence, accepted, groups = _library(confused=False)
    result = tune.tune(evidence, accepted, CONFIG, groups=groups, head=True)
    assert result.head is not None
    assert not result.head.helps
    assert tune.as_yaml(result, CONFIG, head_path="/heads/h.json") == ["genrescore:"]
    helping = dataclasses.replace(result.head, held_out_after=1.5)
    offered = dataclasses.replace(result, head=helping)
    assert tune.as_yaml(offered, CONFIG, head_path="/heads/h.json") == [
        "genrescore:",
        "  genre_head: /heads/h.json",
    ]
    assert tune.as_yaml(offered, CONFIG) == ["genrescore:"]  # no file written, no line


def test_the_confidence_step_reads_the_tuned_blends_when_the_weights_help() -> None:
    """Weights that trust wrong heuristics over a right model: the search repairs them, and
    the map is fitted on what the repaired weights blend, held out (each fold's own search),
    not on what the shipped ones did."""
    data = tracks(120, seed=4, ml_right=0.8, heuristic_right=0.1)
    evidence = [codec.stored(t.evidence)[1] for t in data]
    accepted = [frozenset({t.truth}) for t in data]
    bad = EnsembleConfig(
        weights=Weights(ml=0.05, instruments=0.1, heuristic=1.0), rules=SHIPPED_RULES
    )
    result = tune.tune(evidence, accepted, bad, folds=3, calibrate=True)
    assert result.weights_help
    calibration = result.calibration
    assert calibration is not None
    start = tune.Knobs.of(bad)
    matrix = tune.Agreement(tune.EvidenceMatrix(evidence, bad), accepted)
    everything = np.arange(len(evidence))
    shares, right, shipped = [0.0] * len(evidence), [False] * len(evidence), []
    for fold in genre_head.group_folds([str(i) for i in everything], 3, 0):
        fitted = tune.search(matrix, start, np.setdiff1d(everything, fold)).config(bad)
        for i in fold:
            ranking = blend(evidence[i], fitted).ranking
            shares[i], right[i] = ranking[0][1], ranking[0][0] in accepted[i]
    for i in everything:
        shipped.append(blend(evidence[i], bad).ranking[0][1])
    # These weights have no fitted map: "now" is the share the tuned blend gives.
    assert calibration.before == pytest.approx(_ece(shares, right), abs=1e-9)
    assert calibration.before != pytest.approx(_ece(shipped, right), abs=1e-3)
