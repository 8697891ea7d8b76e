"""--tune's search and the lines it prints, counted by hand on made-up evidence (mutation
survivors of scoring/tune.py; see tests/MUTATION.md)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from beetsplug.genrescore.scoring import tune
from beetsplug.genrescore.scoring.ensemble import (
    Component,
    EnsembleConfig,
    Evidence,
    GenreVote,
    InstrumentEvidence,
    InstrumentRule,
    InstrumentScale,
    Weights,
)

from .evidence_fixtures import clip, tracks

# The model is right on the first two tracks (jazz 0.9 against the heuristic's reggae 0.8),
# the heuristic on the other four (blues 0.8 against the model's reggae 0.9).
EVIDENCE = [clip({"jazz": 0.9, "folk": 0.1}, {"reggae": 0.8, "pop": 0.2})] * 2 + [
    clip({"reggae": 0.9, "pop": 0.1}, {"blues": 0.8, "folk": 0.2})
] * 4
ACCEPTED = [frozenset({"jazz"})] * 2 + [frozenset({"blues"})] * 4
# Shipped knobs that trust the heuristic (1.0) over the model (0.1).
START = EnsembleConfig(weights=Weights(ml=0.1, instruments=0.0, heuristic=1.0, tagger_genres=0.0))
MODEL_ROWS = np.array([0, 1])
HEURISTIC_ROWS = np.array([2, 3, 4, 5])


#: The model's vote and the instrument boosts weighted alike, nothing else.
MODEL_AND_INSTRUMENTS = Weights(ml=1.0, instruments=1.0, heuristic=0.0, tagger_genres=0.0)
#: Two rules the search can scale apart.
VIOLIN_AND_BANJO_SAY_COUNTRY = (
    InstrumentRule("violin", {"country": 1.0}),
    InstrumentRule("banjo", {"country": 1.0}),
)


def agreement() -> tune.Agreement:
    return tune.Agreement(tune.EvidenceMatrix(EVIDENCE, START), ACCEPTED)


def test_agreement_counts_the_rows_asked_for() -> None:
    found = agreement()
    start = tune.Knobs.of(START)
    assert found.hits(start).tolist() == [0, 0, 1, 1, 1, 1]
    assert found.hits(start, MODEL_ROWS).tolist() == [0, 0]
    assert found.rate(start) == 4 / 6
    assert found.rate(start, HEURISTIC_ROWS) == 1.0
    assert found.rate(start, MODEL_ROWS) == 0.0
    # No track at all: no agreement, and no warning about an empty mean.
    assert found.rate(start, np.array([], dtype=np.intp)) == 0.0


def test_the_search_sees_only_its_rows_and_takes_only_steps_that_gain() -> None:
    found = agreement()
    start = tune.Knobs.of(START)
    # On the model's two tracks: the model's weight climbs its grid (0.0, 0.05, 0.1 the
    # current one, 0.2 ... 1.0) until 1.0 * 0.9 beats 1.0 * 0.8. Every other knob then
    # gains nothing (the heuristic at 0 would do as well, not better) and is left alone.
    fitted = tune.search(found, start, MODEL_ROWS)
    assert fitted.weights == Weights(ml=1.0, instruments=0.0, heuristic=1.0, tagger_genres=0.0)
    assert (fitted.prior, fitted.scales) == (start.prior, start.scales)
    assert found.rate(fitted, MODEL_ROWS) == 1.0
    # On all six tracks the shipped knobs are already the best (4 of 6): nothing moves.
    assert tune.search(found, start, np.arange(6)) == start
    # On the heuristic's four, likewise.
    assert tune.search(found, start, HEURISTIC_ROWS) == start


def test_the_printed_yaml_word_for_word() -> None:
    config = EnsembleConfig(
        rules=(
            InstrumentRule("violin", {"country": 1.5, "bluegrass": 1.0}),
            InstrumentRule("banjo", {"bluegrass": 2.0}),
        )
    )
    knobs = tune.Knobs(
        Weights(ml=0.45, instruments=0.3, heuristic=0.05, tagger_genres=0.0),
        3.0,
        (("violin", 0.5), ("banjo", 1.0)),
    )
    result = tune.TuneResult(10, 2, 0.5, 0.6, 0.5, 0.6, knobs, tune.Knobs.of(config))
    lines = tune.as_yaml(result, config)
    assert lines == [
        "genrescore:",
        "  weights: {ml: 0.45, instruments: 0.3, heuristic: 0.05, tagger_genres: 0}",
        "  instrument_prior: 3",
        "  instrument_rules:",
        "    violin: {boost: {country: 0.75, bluegrass: 0.5}}  # x0.5",
    ]
    # What a user pastes into config.yaml reads back as those values.
    assert yaml.safe_load("\n".join(lines)) == {
        "genrescore": {
            "weights": {"ml": 0.45, "instruments": 0.3, "heuristic": 0.05, "tagger_genres": 0},
            "instrument_prior": 3,
            "instrument_rules": {"violin": {"boost": {"country": 0.75, "bluegrass": 0.5}}},
        }
    }
    # No rule scaled: no instrument_rules section.
    prior_only = dataclasses.replace(tune.Knobs.of(config), prior=3.0)
    unscaled = tune.TuneResult(10, 2, 0.5, 0.6, 0.5, 0.6, prior_only, tune.Knobs.of(config))
    assert tune.as_yaml(unscaled, config)[-1] == "  instrument_prior: 3"
    # The adoption gate: knobs no better held out, or the current ones, print nothing.
    for gated in (
        dataclasses.replace(result, held_out_after=0.5),
        dataclasses.replace(result, knobs=result.start),
    ):
        assert tune.as_yaml(gated, config) == ["genrescore:"]


def heard(ml: dict[str, float], instrument: str) -> Evidence:
    tagger = InstrumentEvidence.from_thresholds("tagger", {instrument: 0.9}, {instrument: 0.5})
    return Evidence(votes=(GenreVote(Component.ML, "model", ml),), instruments=tagger)


def test_the_search_scales_a_rule_that_costs_agreement_down_to_zero() -> None:
    # Model and instruments weighted 1, prior 2: one rule firing fully with boost s adds
    # used = s / (s + 2) to its genre (and to the total), so country wins over the model's
    # rock 0.6 / country 0.4 once used > 0.2 (s > 0.5), and over rock 0.55 / country 0.45
    # once used > 0.1 (s > 0.22).
    config = EnsembleConfig(
        weights=MODEL_AND_INSTRUMENTS,
        rules=VIOLIN_AND_BANJO_SAY_COUNTRY,
    )
    evidence = [
        heard({"rock": 0.6, "country": 0.4}, "violin"),  # country: needs the violin's boost
        heard({"rock": 0.55, "country": 0.45}, "banjo"),  # rock: the banjo's boost hurts
        heard({"rock": 0.6, "country": 0.4}, "banjo"),  # country: needs the banjo's boost
    ]
    accepted = [frozenset({"country"}), frozenset({"rock"}), frozenset({"country"})]
    found = tune.Agreement(tune.EvidenceMatrix(evidence, config), accepted)
    start = tune.Knobs.of(config)
    assert found.hits(start).tolist() == [1, 0, 1]
    # On the first two tracks no weight and no prior in the grids gains (the instruments'
    # weight or the prior fixes one track only by breaking the other); the banjo's scale
    # does: at 0 the second track is rock, at 0.25 (used 0.11) still country.
    fitted = tune.search(found, start, np.array([0, 1]))
    assert fitted == tune.Knobs(start.weights, start.prior, (("violin", 1.0), ("banjo", 0.0)))
    assert found.hits(fitted).tolist() == [1, 1, 0]
    # With the third track too, the banjo's boost is worth as much as it costs: kept.
    assert tune.search(found, start, np.arange(3)) == start


JAZZ = clip({"jazz": 0.9, "folk": 0.1}, {"reggae": 0.8, "pop": 0.2})  # the model is right
BLUES = clip({"reggae": 0.9, "pop": 0.1}, {"blues": 0.8, "folk": 0.2})  # the heuristic is


def test_held_out_agreement_is_counted_on_tracks_the_search_did_not_see() -> None:
    # Three tracks each way, leave one out (6 folds of one track: the order cannot matter).
    # Holding out a jazz track leaves 2 jazz and 3 blues: the shipped knobs (3 of 5) stay,
    # and the held jazz track is wrong. Holding out a blues track leaves 3 jazz and 2 blues:
    # the model's weight goes to 1.0 (3 of 5), and the held blues track is wrong too. So
    # held out the tuned knobs agree on none of the six, the shipped ones on three; on all
    # six at once the search finds no gain (3 of 6 either way).
    evidence = [JAZZ] * 3 + [BLUES] * 3
    accepted = [frozenset({"jazz"})] * 3 + [frozenset({"blues"})] * 3
    result = tune.tune(evidence, accepted, START, folds=6)
    assert (result.labelled, result.folds) == (6, 6)
    assert (result.held_out_before, result.held_out_after) == (0.5, 0.0)
    assert (result.before, result.after) == (0.5, 0.5)
    assert result.knobs == result.start == tune.Knobs.of(START)


def test_the_folds_asked_for_within_the_tracks_there_are() -> None:
    evidence = [JAZZ] * 3 + [BLUES] * 7
    accepted = [frozenset({"jazz"})] * 3 + [frozenset({"blues"})] * 7
    assert tune.tune(evidence, accepted, START).folds == 5  # the default
    assert tune.tune(evidence[:2], accepted[:2], START, folds=5).folds == 2
    assert tune.tune(evidence[:1], accepted[:1], START, folds=5).folds == 2
    with pytest.raises(ValueError, match=r"^one set of accepted genres per track$"):
        tune.tune(evidence, accepted[:3], START)


def test_the_same_tracks_give_the_same_figures_every_run() -> None:
    data = tracks(60, seed=7, ml_right=0.6, heuristic_right=0.3)
    evidence = [t.evidence for t in data]
    accepted = [frozenset({t.truth}) for t in data]
    config = EnsembleConfig(weights=Weights(ml=0.1, instruments=0.3, heuristic=1.0))
    first = tune.tune(evidence, accepted, config, folds=3)
    assert all(tune.tune(evidence, accepted, config, folds=3) == first for _ in range(3))


def test_only_the_prior_can_tell_a_faint_instrument_from_a_clear_one() -> None:
    # One rule (violin: country +8), heard faintly on a rock track (strength 1/8 between its
    # floor 0.1 and full 0.8: score 0.1 x 8^(1/8)) and clearly on a country track. Boost B
    # adds used = B / (B + prior) (weights 1): prior 2 gives the rock track 1/3 (country
    # (0.4 + 1/3) / (4/3) = 0.55 beats rock, wrong) and the country track 0.8 (right).
    # The rock track needs used < 0.2 (prior > 4), the country one used > 0.5 (8 / (8 + p):
    # prior < 8): prior 5 does both. A weight or the rule's scale moves both tracks alike and
    # fixes one only by breaking the other.
    scale = {"violin": InstrumentScale(display=0.05, floor=0.1, full=0.8)}

    def violin(ml: dict[str, float], score: float) -> Evidence:
        tagger = InstrumentEvidence("tagger", {"violin": score}, scale)
        return Evidence(votes=(GenreVote(Component.ML, "model", ml),), instruments=tagger)

    config = EnsembleConfig(
        weights=MODEL_AND_INSTRUMENTS,
        rules=(InstrumentRule("violin", {"country": 8.0}),),
    )
    evidence = [
        violin({"rock": 0.6, "country": 0.4}, 0.1 * 8**0.125),
        violin({"rock": 0.75, "country": 0.25}, 0.9),
    ]
    found = tune.Agreement(
        tune.EvidenceMatrix(evidence, config), [frozenset({"rock"}), frozenset({"country"})]
    )
    start = tune.Knobs.of(config)
    assert found.hits(start).tolist() == [0, 1]
    fitted = tune.search(found, start, np.arange(2))
    assert fitted == dataclasses.replace(start, prior=5.0)
    assert found.hits(fitted).tolist() == [1, 1]


def test_a_track_with_no_evidence_agrees_with_no_genre() -> None:
    # Labelled with the first genre alphabetically, the second, and the last: a track no
    # model said anything about has no top genre, so none of them is a hit.
    silent = Evidence(votes=())
    config = EnsembleConfig()
    matrix = tune.EvidenceMatrix([silent] * 3 + [BLUES], config)
    # The last track: the model's reggae (0.9 x 0.2) over the heuristic's blues (0.8 x 0.2).
    labels = ["ambient", "bluegrass", "world music", "reggae"]
    assert (matrix.genres[0], matrix.genres[1], matrix.genres[-1]) == tuple(labels[:3])
    found = tune.Agreement(matrix, [frozenset({label}) for label in labels])
    assert found.hits(tune.Knobs.of(config)).tolist() == [0, 0, 0, 1]


def test_an_empty_vote_or_a_track_without_a_tagger_hides_nothing_after_it() -> None:
    config = EnsembleConfig(
        weights=Weights(ml=1.0, instruments=1.0, heuristic=1.0, tagger_genres=0.0),
        rules=(InstrumentRule("violin", {"country": 1.0}),),
    )
    evidence = [
        # The model said nothing; the heuristic's jazz is the answer.
        Evidence(
            votes=(
                GenreVote(Component.ML, "model", {}),
                GenreVote(Component.HEURISTIC, "features", {"jazz": 1.0}),
            )
        ),
        Evidence(votes=(GenreVote(Component.ML, "model", {"rock": 1.0}),)),  # no tagger
        # The violin's boost (used 1/3) lifts country 0.4 over rock 0.6: 0.55 to 0.45.
        heard({"rock": 0.6, "country": 0.4}, "violin"),
    ]
    matrix = tune.EvidenceMatrix(evidence, config)
    top = [matrix.genres[g] for g in matrix.top(tune.Knobs.of(config))]
    assert top == ["jazz", "rock", "country"]
    scores = matrix.scores(tune.Knobs.of(config))[2]
    country, rock = matrix.genres.index("country"), matrix.genres.index("rock")
    assert (scores[country], scores[rock]) == pytest.approx((0.55, 0.45))


def test_unless_counts_only_the_votes_that_can_name_the_genre() -> None:
    # The violin rule is off once classical reaches 0.3 of the votes that know classical.
    # The model's vocabulary has no classical; the heuristic says classical 0.3: the share
    # is 0.3 / 1 (not 0.3 / 2 with the model counted), so the gate is shut and the votes'
    # rock stays first. Were the model counted, the gate would be half open (boost 5, used
    # 5 / 7), and country would win.
    config = EnsembleConfig(
        weights=Weights(ml=0.1, instruments=1.0, heuristic=0.1, tagger_genres=0.0),
        rules=(InstrumentRule("violin", {"country": 10.0}, unless={"classical": 0.3}),),
    )
    tagger = InstrumentEvidence.from_thresholds("tagger", {"violin": 0.9}, {"violin": 0.5})
    evidence = Evidence(
        votes=(
            GenreVote(Component.ML, "model", {"rock": 1.0}, frozenset({"rock", "country"})),
            GenreVote(Component.HEURISTIC, "features", {"classical": 0.3, "rock": 0.7}),
        ),
        instruments=tagger,
    )
    matrix = tune.EvidenceMatrix([evidence], config)
    assert matrix.genres[matrix.top(tune.Knobs.of(config))[0]] == "rock"


def test_small_and_zero_priors_by_hand() -> None:
    # Boost B = 1 (violin, fully heard) adds used = B / (B + prior) to country and the total.
    config = EnsembleConfig(
        weights=MODEL_AND_INSTRUMENTS,
        rules=(InstrumentRule("violin", {"country": 1.0}),),
    )
    evidence = [
        heard({"rock": 0.6, "country": 0.4}, "violin"),
        Evidence(votes=(GenreVote(Component.ML, "model", {"rock": 1.0}),)),  # no boost
    ]
    matrix = tune.EvidenceMatrix(evidence, config)
    country, rock = matrix.genres.index("country"), matrix.genres.index("rock")
    for prior, used in ((0.5, 2 / 3), (0.0, 1.0)):
        scores = matrix.scores(dataclasses.replace(tune.Knobs.of(config), prior=prior))
        assert scores[0, country] == pytest.approx((0.4 + used) / (1 + used))
        assert scores[0, rock] == pytest.approx(0.6 / (1 + used))
        # No boost at all: the model's vote alone, whatever the prior.
        assert scores[1, rock] == 1.0
        assert np.isfinite(scores).all()


def test_unless_is_open_when_no_vote_can_name_the_genre() -> None:
    # Nobody knows classical: its share is taken as 0, and the rule boosts in full
    # (B = 10, used 10 / 12: country 0.833 / 0.933 beats the model's rock 0.1 / 0.933).
    config = EnsembleConfig(
        weights=Weights(ml=0.1, instruments=1.0, heuristic=0.1, tagger_genres=0.0),
        rules=(InstrumentRule("violin", {"country": 10.0}, unless={"classical": 0.3}),),
    )
    tagger = InstrumentEvidence.from_thresholds("tagger", {"violin": 0.9}, {"violin": 0.5})
    vote = GenreVote(Component.ML, "model", {"rock": 1.0}, frozenset({"rock", "country"}))
    matrix = tune.EvidenceMatrix([Evidence(votes=(vote,), instruments=tagger)] * 3, config)
    scores = matrix.scores(tune.Knobs.of(config))
    country = matrix.genres.index("country")
    assert scores[:, country] == pytest.approx([(10 / 12) / (0.1 + 10 / 12)] * 3)


def test_unless_heard_multiplies_its_gates_and_a_limit_of_zero_gates_nothing() -> None:
    # Violin 0.8, cello 0.2, trumpet 0.1, each over its threshold and shown. The model says
    # rock alone; a fully open violin rule (B = 1, weights 1, prior 2) gives country
    # B / (2B + 2) = 0.25.
    tagger = InstrumentEvidence.from_thresholds(
        "tagger",
        {"violin": 0.8, "cello": 0.2, "trumpet": 0.1},
        {"violin": 0.5, "cello": 0.1, "trumpet": 0.05},
    )
    evidence = Evidence(
        votes=(GenreVote(Component.ML, "model", {"rock": 1.0}),), instruments=tagger
    )
    weights = MODEL_AND_INSTRUMENTS

    def country(rule: InstrumentRule) -> float:
        config = EnsembleConfig(weights=weights, rules=(rule,))
        matrix = tune.EvidenceMatrix([evidence], config)
        return float(matrix.scores(tune.Knobs.of(config))[0, matrix.genres.index("country")])

    # Cello at 0.2 / 0.8 of the violin against a limit of 0.5: gate 0.5; trumpet 0.125 / 0.5:
    # 0.75; both: 0.375, so B = 0.375 and country 0.375 / 2.75.
    both = InstrumentRule("violin", {"country": 1.0}, unless_heard={"cello": 0.5, "trumpet": 0.5})
    assert country(both) == pytest.approx(0.375 / 2.75)
    # A limit of 0 switches a condition off (settings accept it): the rule boosts in full.
    off = InstrumentRule("violin", {"country": 1.0}, unless_heard={"cello": 0.0})
    assert country(off) == pytest.approx(0.25)
    genre_off = InstrumentRule("violin", {"country": 1.0}, unless={"rock": 0.0})
    assert country(genre_off) == pytest.approx(0.25)


def test_the_search_tries_scales_above_the_current_one() -> None:
    # Weights 1, prior 2: a rule firing fully with scale s adds used = s / (s + 2).
    # Country needs used > 0.4 on the violin track (model: rock 0.7, country 0.3): s > 4/3,
    # so 1.5, past the current 1.0. Rock needs used < 0.38 on the banjo track (rock 0.69,
    # country 0.31): 1/3 now. The model's weight at 0.8 or the prior at 1 would fix the first
    # by breaking the second; only the violin's own scale fixes it alone.
    config = EnsembleConfig(
        weights=MODEL_AND_INSTRUMENTS,
        rules=VIOLIN_AND_BANJO_SAY_COUNTRY,
    )
    evidence = [
        heard({"rock": 0.7, "country": 0.3}, "violin"),
        heard({"rock": 0.69, "country": 0.31}, "banjo"),
    ]
    found = tune.Agreement(
        tune.EvidenceMatrix(evidence, config), [frozenset({"country"}), frozenset({"rock"})]
    )
    start = tune.Knobs.of(config)
    assert found.hits(start).tolist() == [0, 1]
    fitted = tune.search(found, start, np.arange(2))
    assert fitted == start.scaled("violin", 1.5)
    assert found.hits(fitted).tolist() == [1, 1]


def test_a_rules_own_threshold_decides_what_unless_heard_hears() -> None:
    # The tagger shows a cello from 0.5; the cello rule's own threshold (0.2) shows it at 0.3.
    # So the violin rule's unless_heard sees it: gate 1 - (0.3 / 0.8) / 0.5 = 0.25, B = 0.25,
    # country B / (2B + 2) = 0.1 (weights 1, prior 2; the model says rock alone).
    tagger = InstrumentEvidence.from_thresholds(
        "tagger", {"violin": 0.8, "cello": 0.3}, {"violin": 0.5, "cello": 0.5}
    )
    config = EnsembleConfig(
        weights=MODEL_AND_INSTRUMENTS,
        rules=(
            InstrumentRule("violin", {"country": 1.0}, unless_heard={"cello": 0.5}),
            InstrumentRule("cello", {}, threshold=0.2),
        ),
    )
    evidence = Evidence(
        votes=(GenreVote(Component.ML, "model", {"rock": 1.0}),), instruments=tagger
    )
    matrix = tune.EvidenceMatrix([evidence], config)
    scores = matrix.scores(tune.Knobs.of(config))
    assert scores[0, matrix.genres.index("country")] == pytest.approx(0.1)
